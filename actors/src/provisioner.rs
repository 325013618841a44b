//! The local-path provisioner (`provisioner/local-path`), after k3s' local-path
//! provisioner: the volumes of the `local-path` StorageClass (provisioner
//! `rudder.io/local-path`) are directories on the node that runs the pod.
//!
//! It runs on every worker node, beside the kubelet, without a Lease: the directory
//! must be made on the disk of the node the claim's first pod was scheduled to, so each
//! node's instance acts only on its own claims and volumes (no node writes another's
//! disk, and no instance is a single point of failure for the others).
//!
//! In: claim changes and volume changes (all of them, from the node's shared
//! informers), StorageClass changes. A claim is this node's to provision when it is
//! unbound, not being deleted, its class's provisioner is `rudder.io/local-path` and
//! the scheduler annotated it with `volume.kubernetes.io/selected-node: <this node>`.
//! Out: the directory `<data-dir>/storage/pvc-<uid>_<namespace>_<name>` (mode 0777, so
//! any pod user may write, as k3s does), then the PersistentVolume `pvc-<claim uid>`:
//! a `local` volume of that directory with a required node affinity to this node
//! (`kubernetes.io/hostname`), the claim's size, access modes and volume mode, the
//! class's reclaim policy and mount options, pre-bound to the claim (`claimRef` with
//! its uid) and annotated `pv.kubernetes.io/provisioned-by`. The PV controller then
//! binds the two.
//!
//! A volume it provisioned for this node that is `Released` with reclaim policy
//! `Delete` (its claim is gone) has its directory removed, then is deleted. Only a
//! direct child of the storage directory is ever removed. `Retain` volumes keep their
//! directory and data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    LocalVolumeSource, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeMode, PersistentVolumePhase, PersistentVolumeReclaimPolicy, StorageClass,
    VolumeNodeAffinity, LOCAL_PATH_PROVISIONER, PROVISIONED_BY_ANNOTATION,
    SELECTED_NODE_ANNOTATION,
};
use serde_json::json;
use tracing::{info, warn};

use crate::controllers::support::{Controller, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The provisioner's name on the bus (one per worker node).
pub const NAME: &str = "provisioner/local-path";
/// The node label a provisioned volume's node affinity names.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The component the node's supervisor runs, making its volumes under `root`.
pub fn component(root: PathBuf) -> ComponentSpec {
    let root = Arc::new(root);
    Controller::<PersistentVolumeClaim>::new(NAME)
        .per_node()
        .component(
            move |w: &mut Wiring<PersistentVolumeClaim>| wire(w, root.clone()),
            |ctx: Arc<Ctx>, key: ObjectKey| async move { reconcile(&ctx, &key).await },
        )
}

struct Ctx {
    api: ApiHandle,
    node: String,
    root: Arc<PathBuf>,
    claims: Cache<PersistentVolumeClaim>,
    volumes: Cache<PersistentVolume>,
    classes: Cache<StorageClass>,
}

fn wire(w: &mut Wiring<PersistentVolumeClaim>, root: Arc<PathBuf>) -> Ctx {
    let claims = w.primary();
    let volumes = w.watches(
        Scope::all(),
        |c: &Change<PersistentVolume>, q: &WorkQueue<ObjectKey>| q.add(c.key()),
    );
    let class_claims = claims.clone();
    let classes = w.watches(
        Scope::all(),
        move |c: &Change<StorageClass>, q: &WorkQueue<ObjectKey>| {
            let name = &c.object().metadata.name;
            for claim in class_claims.filter(|p| p.class_name() == name) {
                q.add(ObjectKey::of(claim.as_ref()));
            }
        },
    );
    Ctx {
        api: w.api().clone(),
        node: w.api().node().to_string(),
        root,
        claims,
        volumes,
        classes,
    }
}

/// The name of the volume provisioned for `claim` (Kubernetes' `pvc-<uid>`).
pub fn volume_name(claim: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", claim.metadata.uid)
}

/// The directory of `claim`'s volume under `root` (k3s' `pvc-<uid>_<ns>_<name>`).
pub fn volume_dir(root: &Path, claim: &PersistentVolumeClaim) -> PathBuf {
    root.join(format!(
        "{}_{}_{}",
        volume_name(claim),
        claim.metadata.namespace,
        claim.metadata.name
    ))
}

/// Whether `claim` is this node's to provision, with its class.
pub fn wants_volume(
    claim: &PersistentVolumeClaim,
    class: Option<&StorageClass>,
    node: &str,
) -> bool {
    claim.metadata.deletion_timestamp.is_none()
        && claim.spec.volume_name.is_empty()
        && !claim.metadata.uid.is_empty()
        && class.is_some_and(|c| c.provisioner == LOCAL_PATH_PROVISIONER)
        && claim
            .metadata
            .annotations
            .get(SELECTED_NODE_ANNOTATION)
            .is_some_and(|n| n == node)
}

/// The volume for `claim` of `class` on `node`, backed by `dir`.
pub fn volume_for(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &str,
    dir: &Path,
) -> PersistentVolume {
    let mut pv = PersistentVolume::new(volume_name(claim));
    pv.metadata.annotations.insert(
        PROVISIONED_BY_ANNOTATION.into(),
        LOCAL_PATH_PROVISIONER.into(),
    );
    let spec = &mut pv.spec;
    if let Some(size) = claim.requested_storage() {
        spec.capacity.insert("storage".into(), size.clone());
    }
    spec.access_modes = claim.spec.access_modes.clone();
    spec.persistent_volume_reclaim_policy = Some(
        class
            .reclaim_policy
            .unwrap_or(PersistentVolumeReclaimPolicy::Delete),
    );
    spec.storage_class_name = class.metadata.name.clone();
    spec.mount_options = class.mount_options.clone();
    spec.volume_mode = Some(
        claim
            .spec
            .volume_mode
            .unwrap_or(PersistentVolumeMode::Filesystem),
    );
    spec.claim_ref = Some(ObjectReference {
        kind: "PersistentVolumeClaim".into(),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        api_version: "v1".into(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: String::new(),
    });
    spec.local = Some(LocalVolumeSource {
        path: dir.to_string_lossy().into_owned(),
        fs_type: None,
    });
    spec.node_affinity = Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: vec![NodeSelectorRequirement {
                    key: HOSTNAME_LABEL.into(),
                    operator: NodeSelectorOperator::In,
                    values: vec![node.to_owned()],
                }],
                match_fields: vec![],
            }],
        }),
    });
    pv
}

/// The node a volume this provisioner made lives on.
pub fn volume_node(pv: &PersistentVolume) -> Option<&str> {
    pv.spec
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?
        .node_selector_terms
        .first()?
        .match_expressions
        .iter()
        .find(|r| r.key == HOSTNAME_LABEL)?
        .values
        .first()
        .map(String::as_str)
}

/// The directory to remove for `pv`, when it is a Released `Delete` volume this
/// provisioner made on `node` under `root` (a direct child of `root`, nothing else).
pub fn reclaimable_dir(pv: &PersistentVolume, node: &str, root: &Path) -> Option<PathBuf> {
    let ours = pv
        .metadata
        .annotations
        .get(PROVISIONED_BY_ANNOTATION)
        .is_some_and(|p| p == LOCAL_PATH_PROVISIONER);
    if !ours
        || volume_node(pv) != Some(node)
        || pv.status.phase != Some(PersistentVolumePhase::Released)
        || pv.reclaim_policy() != PersistentVolumeReclaimPolicy::Delete
        || pv.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    let dir = PathBuf::from(pv.spec.local.as_ref()?.path.as_str());
    (dir.parent() == Some(root) && dir.file_name().is_some()).then_some(dir)
}

async fn reconcile(ctx: &Ctx, key: &ObjectKey) -> Result<Option<Duration>, ApiError> {
    if key.namespace.is_none() {
        let Some(pv) = ctx.volumes.get(key) else {
            return Ok(None);
        };
        let Some(dir) = reclaimable_dir(&pv, &ctx.node, &ctx.root) else {
            return Ok(None);
        };
        let shown = dir.display().to_string();
        let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await;
        if let Err(e) = removed
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            warn!(volume = %pv.metadata.name, dir = %shown, error = %e, "removing a volume's directory failed");
            return Ok(Some(Duration::from_secs(10)));
        }
        let api = ctx.api.api::<PersistentVolume>(None);
        let options = json!({"preconditions": {"uid": pv.metadata.uid}});
        match api.delete_with(&pv.metadata.name, &options).await {
            Ok(_) => {
                info!(volume = %pv.metadata.name, dir = %shown, "deleted a released volume and its directory");
                Ok(None)
            }
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    } else {
        let Some(claim) = ctx.claims.get(key) else {
            return Ok(None);
        };
        let class = ctx.classes.get(&ObjectKey::cluster(claim.class_name()));
        if !wants_volume(&claim, class.as_deref(), &ctx.node) {
            return Ok(None);
        }
        let Some(class) = class else {
            return Ok(None);
        };
        let name = volume_name(&claim);
        if ctx.volumes.get(&ObjectKey::cluster(&name)).is_some() {
            return Ok(None);
        }
        let dir = volume_dir(&ctx.root, &claim);
        let make = dir.clone();
        let made = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(&make)?;
            std::fs::set_permissions(&make, std::fs::Permissions::from_mode(0o777))
        })
        .await;
        if let Err(e) = made
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            warn!(claim = %key, dir = %dir.display(), error = %e, "making a volume's directory failed");
            return Ok(Some(Duration::from_secs(10)));
        }
        let pv = volume_for(&claim, &class, &ctx.node, &dir);
        match ctx.api.api::<PersistentVolume>(None).create(&pv).await {
            Ok(_) => {
                info!(claim = %key, volume = %name, dir = %dir.display(), "provisioned a local-path volume");
                Ok(None)
            }
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{PersistentVolumeAccessMode, Quantity, Time};

    use super::*;

    fn claim(node: Option<&str>) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::new("data");
        c.metadata.namespace = "default".into();
        c.metadata.uid = "u1".into();
        c.spec.storage_class_name = Some("local-path".into());
        c.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
        c.spec
            .resources
            .requests
            .insert("storage".into(), Quantity::parse("1Gi").expect("q"));
        if let Some(n) = node {
            c.metadata
                .annotations
                .insert(SELECTED_NODE_ANNOTATION.into(), n.into());
        }
        c
    }

    fn class(provisioner: &str) -> StorageClass {
        let mut sc = StorageClass::new("local-path");
        sc.provisioner = provisioner.into();
        sc.reclaim_policy = Some(PersistentVolumeReclaimPolicy::Delete);
        sc
    }

    #[test]
    fn which_claims_this_node_provisions() {
        let ours = class(LOCAL_PATH_PROVISIONER);
        let theirs = class("example.com/nfs");
        let mut bound = claim(Some("n1"));
        bound.spec.volume_name = "pv".into();
        let mut deleting = claim(Some("n1"));
        deleting.metadata.deletion_timestamp = Some(Time(1));
        let table: Vec<(&str, PersistentVolumeClaim, Option<&StorageClass>, bool)> = vec![
            (
                "selected for this node",
                claim(Some("n1")),
                Some(&ours),
                true,
            ),
            (
                "selected for another node",
                claim(Some("n2")),
                Some(&ours),
                false,
            ),
            ("not selected yet", claim(None), Some(&ours), false),
            (
                "another provisioner's class",
                claim(Some("n1")),
                Some(&theirs),
                false,
            ),
            ("no class", claim(Some("n1")), None, false),
            ("already bound", bound, Some(&ours), false),
            ("being deleted", deleting, Some(&ours), false),
        ];
        for (name, c, class, want) in table {
            assert_eq!(wants_volume(&c, class, "n1"), want, "{name}");
        }
    }

    #[test]
    fn the_volume_is_pre_bound_local_and_pinned_to_the_node() {
        let root = Path::new("/data/storage");
        let c = claim(Some("n1"));
        let dir = volume_dir(root, &c);
        assert_eq!(dir, Path::new("/data/storage/pvc-u1_default_data"));
        let pv = volume_for(&c, &class(LOCAL_PATH_PROVISIONER), "n1", &dir);
        assert_eq!(pv.metadata.name, "pvc-u1");
        assert_eq!(
            pv.spec.capacity.get("storage").map(|q| q.to_string()),
            Some("1Gi".into())
        );
        assert_eq!(
            pv.spec.claim_ref.as_ref().map(|r| r.uid.as_str()),
            Some("u1")
        );
        assert_eq!(pv.reclaim_policy(), PersistentVolumeReclaimPolicy::Delete);
        assert_eq!(pv.node_path(), Some("/data/storage/pvc-u1_default_data"));
        assert_eq!(volume_node(&pv), Some("n1"));
        assert_eq!(pv.spec.storage_class_name, "local-path");

        // Reclaimed only once Released with Delete, on its node, under the root.
        assert_eq!(reclaimable_dir(&pv, "n1", root), None, "not released yet");
        let mut released = pv.clone();
        released.status.phase = Some(PersistentVolumePhase::Released);
        assert_eq!(reclaimable_dir(&released, "n1", root), Some(dir.clone()));
        assert_eq!(
            reclaimable_dir(&released, "n2", root),
            None,
            "another node's"
        );
        let mut retained = released.clone();
        retained.spec.persistent_volume_reclaim_policy =
            Some(PersistentVolumeReclaimPolicy::Retain);
        assert_eq!(
            reclaimable_dir(&retained, "n1", root),
            None,
            "Retain keeps it"
        );
        let mut outside = released.clone();
        if let Some(l) = outside.spec.local.as_mut() {
            l.path = "/etc".into();
        }
        assert_eq!(
            reclaimable_dir(&outside, "n1", root),
            None,
            "never outside the root"
        );
        let mut foreign = released;
        foreign.metadata.annotations.clear();
        assert_eq!(
            reclaimable_dir(&foreign, "n1", root),
            None,
            "not provisioned here"
        );
    }
}
