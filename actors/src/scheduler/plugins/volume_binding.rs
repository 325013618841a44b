//! Kubernetes' VolumeBinding plugin, for the pod's `persistentVolumeClaim` volumes.
//!
//! PreFilter (once per cycle, from the claims, volumes and classes the snapshot keeps in
//! [`VolumeState`]) rejects the pod outright, as Kubernetes does, when a claim does not
//! exist (`persistentvolumeclaim "data" not found`), is being deleted, or is unbound
//! with a class that binds at once or no class at all (`pod has unbound immediate
//! PersistentVolumeClaims`: the PV controller binds those, and the pod waits for it).
//! Otherwise it records the node affinity of every bound volume and the unbound
//! WaitForFirstConsumer claims.
//!
//! Filter: a node must match the required node affinity of every bound volume (`node(s)
//! had volume node affinity conflict`), a bound claim's volume must exist (`node(s)
//! unavailable due to one or more pvc(s) bound to non-existent pv(s)`), and each
//! WaitForFirstConsumer claim must be able to get a volume there (`node(s) didn't find
//! available persistent volumes to bind`): an Available volume that fits it (or one
//! pre-bound to it) and whose node affinity admits the node, or else a class that
//! provisions (not `kubernetes.io/no-provisioner`) and whose `allowedTopologies`, if
//! any, admit the node.
//!
//! Binding: before the pod is bound, [`claims_to_select`] names the WaitForFirstConsumer
//! claims the scheduler annotates with `volume.kubernetes.io/selected-node` (Kubernetes'
//! PreBind); the provisioner for that node then makes the volume and the PV controller
//! binds it. Rudder binds the pod without waiting for that (Kubernetes' PreBind waits):
//! the kubelet keeps the pod's containers waiting until the claim is bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rudder_protocol::resources::{
    NodeSelector, PersistentVolume, PersistentVolumeClaim, PersistentVolumePhase, Pod,
    StorageClass, TopologySelectorTerm, VolumeBindingMode,
};

use super::node_affinity::term_matches;
use crate::controllers::persistentvolume::plan::{fits, is_bound_to};
use crate::scheduler::framework::{FilterPlugin, PodInfo, PreFilterRejection, Unfit};
use crate::scheduler::snapshot::{NodeInfo, Snapshot};

/// The PreFilter message of a pod with an unbound claim that binds at once.
pub const REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// A node outside a bound volume's node affinity.
pub const REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// A claim bound to a volume that does not exist.
pub const REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
/// A node where a WaitForFirstConsumer claim cannot get a volume.
pub const REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";

/// The claims, volumes and classes the scheduler knows, kept in its snapshot.
#[derive(Debug, Clone, Default)]
pub struct VolumeState {
    claims: HashMap<String, Arc<PersistentVolumeClaim>>,
    volumes: HashMap<String, Arc<PersistentVolume>>,
    classes: HashMap<String, Arc<StorageClass>>,
}

fn claim_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl VolumeState {
    /// Adds or replaces a claim.
    pub fn upsert_claim(&mut self, claim: Arc<PersistentVolumeClaim>) {
        let key = claim_key(&claim.metadata.namespace, &claim.metadata.name);
        self.claims.insert(key, claim);
    }

    /// Forgets a claim.
    pub fn remove_claim(&mut self, claim: &PersistentVolumeClaim) {
        self.claims
            .remove(&claim_key(&claim.metadata.namespace, &claim.metadata.name));
    }

    /// Adds or replaces a volume.
    pub fn upsert_volume(&mut self, pv: Arc<PersistentVolume>) {
        self.volumes.insert(pv.metadata.name.clone(), pv);
    }

    /// Forgets a volume.
    pub fn remove_volume(&mut self, name: &str) {
        self.volumes.remove(name);
    }

    /// Adds or replaces a class.
    pub fn upsert_class(&mut self, class: Arc<StorageClass>) {
        self.classes.insert(class.metadata.name.clone(), class);
    }

    /// Forgets a class.
    pub fn remove_class(&mut self, name: &str) {
        self.classes.remove(name);
    }

    /// The claim `name` in `namespace`.
    pub fn claim(&self, namespace: &str, name: &str) -> Option<&Arc<PersistentVolumeClaim>> {
        self.claims.get(&claim_key(namespace, name))
    }
}

/// The names of the claims `pod` mounts, each once, in volume order.
pub fn pod_claims(pod: &Pod) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for v in &pod.spec.volumes {
        if let Some(c) = &v.persistent_volume_claim {
            if !out.contains(&c.claim_name.as_str()) {
                out.push(&c.claim_name);
            }
        }
    }
    out
}

/// The provisioner name of classes whose volumes are all made by hand.
pub const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// An unbound WaitForFirstConsumer claim: where it could get a volume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DelayedClaim {
    /// The existing volumes that could be bound to it, wherever they are.
    pub candidates: Vec<Arc<PersistentVolume>>,
    /// Whether its class provisions volumes.
    pub provisions: bool,
    /// Where the class may provision (empty: anywhere).
    pub allowed_topologies: Vec<TopologySelectorTerm>,
}

/// What PreFilter found for the pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodVolumes {
    /// The required node affinity of each bound volume.
    pub affinities: Vec<NodeSelector>,
    /// Whether a bound claim names a volume that does not exist.
    pub missing_volume: bool,
    /// The unbound WaitForFirstConsumer claims.
    pub delayed: Vec<DelayedClaim>,
}

/// Kubernetes' PreFilter decision for `pod`: what the filter checks per node, or why no
/// node can do.
pub fn pod_volumes(pod: &Pod, state: &VolumeState) -> Result<PodVolumes, String> {
    let ns = &pod.metadata.namespace;
    let mut out = PodVolumes::default();
    let mut unbound_immediate = false;
    for name in pod_claims(pod) {
        let Some(claim) = state.claim(ns, name) else {
            return Err(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        if claim.metadata.deletion_timestamp.is_some() {
            return Err(format!("persistentvolumeclaim \"{name}\" is being deleted"));
        }
        if !claim.spec.volume_name.is_empty() {
            match state.volumes.get(&claim.spec.volume_name) {
                None => out.missing_volume = true,
                Some(pv) => {
                    if let Some(required) = pv
                        .spec
                        .node_affinity
                        .as_ref()
                        .and_then(|a| a.required.clone())
                    {
                        out.affinities.push(required);
                    }
                }
            }
            continue;
        }
        let class = state.classes.get(claim.class_name());
        match class {
            Some(c) if c.binding_mode() == VolumeBindingMode::WaitForFirstConsumer => {
                let candidates = state
                    .volumes
                    .values()
                    .filter(|pv| pv.metadata.deletion_timestamp.is_none())
                    .filter(|pv| {
                        is_bound_to(pv, claim)
                            || (pv.spec.claim_ref.is_none()
                                && pv.status.phase == Some(PersistentVolumePhase::Available))
                    })
                    .filter(|pv| fits(pv, claim, None))
                    .cloned()
                    .collect();
                out.delayed.push(DelayedClaim {
                    candidates,
                    provisions: c.provisioner != NO_PROVISIONER,
                    allowed_topologies: c.allowed_topologies.clone(),
                });
            }
            _ => unbound_immediate = true,
        }
    }
    if unbound_immediate {
        return Err(REASON_UNBOUND_IMMEDIATE.to_owned());
    }
    Ok(out)
}

/// Whether a node with `labels` meets any of `terms` (no terms: every node).
fn topology_allows(terms: &[TopologySelectorTerm], labels: &BTreeMap<String, String>) -> bool {
    terms.is_empty()
        || terms.iter().any(|t| {
            t.match_label_expressions
                .iter()
                .all(|r| labels.get(&r.key).is_some_and(|v| r.values.contains(v)))
        })
}

/// The filter decision of [`pod_volumes`]' result on one node.
pub fn node_fits(
    volumes: &PodVolumes,
    node: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), &'static str> {
    if volumes.missing_volume {
        return Err(REASON_PV_NOT_EXIST);
    }
    let affinity_ok = volumes.affinities.iter().all(|required| {
        required
            .node_selector_terms
            .iter()
            .any(|t| term_matches(t, node, labels))
    });
    if !affinity_ok {
        return Err(REASON_NODE_CONFLICT);
    }
    let admits = |pv: &Arc<PersistentVolume>| {
        pv.spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .is_none_or(|r| {
                r.node_selector_terms
                    .iter()
                    .any(|t| term_matches(t, node, labels))
            })
    };
    let all_served = volumes.delayed.iter().all(|d| {
        d.candidates.iter().any(admits)
            || (d.provisions && topology_allows(&d.allowed_topologies, labels))
    });
    if !all_served {
        return Err(REASON_BIND_CONFLICT);
    }
    Ok(())
}

/// The unbound WaitForFirstConsumer claims of `pod` the scheduler annotates with the
/// node it chose, as `(namespace, name)`, leaving out those already annotated for it.
pub fn claims_to_select(pod: &Pod, state: &VolumeState, node: &str) -> Vec<(String, String)> {
    let ns = &pod.metadata.namespace;
    pod_claims(pod)
        .into_iter()
        .filter_map(|name| state.claim(ns, name))
        .filter(|c| c.spec.volume_name.is_empty())
        .filter(|c| {
            state.classes.get(c.class_name()).is_some_and(|class| {
                class.binding_mode() == VolumeBindingMode::WaitForFirstConsumer
            })
        })
        .filter(|c| {
            c.metadata
                .annotations
                .get(rudder_protocol::resources::SELECTED_NODE_ANNOTATION)
                .is_none_or(|n| n != node)
        })
        .map(|c| (c.metadata.namespace.clone(), c.metadata.name.clone()))
        .collect()
}

/// Kubernetes' VolumeBinding filter; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct VolumeBinding;

impl FilterPlugin for VolumeBinding {
    fn name(&self) -> &'static str {
        "VolumeBinding"
    }

    fn pre_filter(&self, pod: &mut PodInfo<'_>, snapshot: &Snapshot) {
        if pod_claims(pod.pod).is_empty() {
            return;
        }
        match pod_volumes(pod.pod, snapshot.volumes()) {
            Ok(volumes) => pod.data.write(volumes),
            Err(message) => pod.data.write(PreFilterRejection(message)),
        }
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(volumes) = pod.data.read::<PodVolumes>() else {
            return Ok(());
        };
        let empty = BTreeMap::new();
        let labels = node.labels().unwrap_or(&empty);
        node_fits(volumes, node.name(), labels).map_err(Unfit::unresolvable)
    }
}

#[cfg(test)]
mod tests {
    use rudder_protocol::resources::{
        NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
        PersistentVolumeAccessMode, PersistentVolumeClaimVolumeSource, Quantity,
        TopologySelectorLabelRequirement, Volume, VolumeNodeAffinity, IS_DEFAULT_CLASS_ANNOTATION,
        SELECTED_NODE_ANNOTATION,
    };

    use super::*;
    use crate::scheduler::cycle::schedule;
    use crate::scheduler::plugins::default_plugins;
    use crate::scheduler::snapshot::tests::{node, pod};

    fn class(name: &str, mode: VolumeBindingMode) -> Arc<StorageClass> {
        let mut sc = StorageClass::new(name);
        sc.provisioner = "p".into();
        sc.volume_binding_mode = Some(mode);
        sc.metadata
            .annotations
            .insert(IS_DEFAULT_CLASS_ANNOTATION.into(), "false".into());
        Arc::new(sc)
    }

    fn claim(name: &str, class: &str, volume: &str) -> Arc<PersistentVolumeClaim> {
        let mut c = PersistentVolumeClaim::new(name);
        c.metadata.namespace = "default".into();
        c.spec.storage_class_name = Some(class.into());
        c.spec.volume_name = volume.into();
        c.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
        let size = if name == "static-none" { "5Gi" } else { "1Gi" };
        c.spec
            .resources
            .requests
            .insert("storage".into(), Quantity::parse(size).expect("q"));
        Arc::new(c)
    }

    fn volume(name: &str, node: Option<&str>) -> Arc<PersistentVolume> {
        let mut pv = PersistentVolume::new(name);
        pv.spec.node_affinity = node.map(|n| VolumeNodeAffinity {
            required: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "kubernetes.io/hostname".into(),
                        operator: NodeSelectorOperator::In,
                        values: vec![n.into()],
                    }],
                    match_fields: vec![],
                }],
            }),
        });
        Arc::new(pv)
    }

    fn with_claims(claims: &[&str]) -> Pod {
        let mut p = pod("web", &[("100m", "10Mi")]);
        p.metadata.namespace = "default".into();
        for (i, c) in claims.iter().enumerate() {
            p.spec.volumes.push(Volume {
                name: format!("v{i}"),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: (*c).into(),
                    read_only: false,
                }),
                ..Default::default()
            });
        }
        p
    }

    fn state() -> VolumeState {
        let mut s = VolumeState::default();
        s.upsert_class(class("wait", VolumeBindingMode::WaitForFirstConsumer));
        s.upsert_class(class("now", VolumeBindingMode::Immediate));
        let mut zoned = (*class("zoned", VolumeBindingMode::WaitForFirstConsumer)).clone();
        zoned.allowed_topologies = vec![TopologySelectorTerm {
            match_label_expressions: vec![TopologySelectorLabelRequirement {
                key: "kubernetes.io/hostname".into(),
                values: vec!["n2".into()],
            }],
        }];
        s.upsert_class(Arc::new(zoned));
        let mut static_class = (*class("static", VolumeBindingMode::WaitForFirstConsumer)).clone();
        static_class.provisioner = NO_PROVISIONER.into();
        s.upsert_class(Arc::new(static_class));
        s.upsert_claim(claim("static-claim", "static", ""));
        s.upsert_claim(claim("static-none", "static", ""));
        let mut local = (*volume("local-n1", Some("n1"))).clone();
        local.spec.storage_class_name = "static".into();
        local.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
        local
            .spec
            .capacity
            .insert("storage".into(), Quantity::parse("1Gi").expect("q"));
        local.status.phase = Some(PersistentVolumePhase::Available);
        s.upsert_volume(Arc::new(local));
        s.upsert_claim(claim("bound-n2", "wait", "pv-n2"));
        s.upsert_claim(claim("bound-anywhere", "now", "pv-any"));
        s.upsert_claim(claim("bound-missing", "now", "pv-gone"));
        s.upsert_claim(claim("waiting", "wait", ""));
        s.upsert_claim(claim("zoned", "zoned", ""));
        s.upsert_claim(claim("immediate", "now", ""));
        s.upsert_claim(claim("no-class", "", ""));
        s.upsert_volume(volume("pv-n2", Some("n2")));
        s.upsert_volume(volume("pv-any", None));
        s
    }

    fn snapshot(volumes: VolumeState) -> Snapshot {
        let mut s = Snapshot::new();
        for name in ["n1", "n2"] {
            let mut n = node(name, "4", "8Gi", 110);
            n.metadata
                .labels
                .insert("kubernetes.io/hostname".into(), name.into());
            s.upsert_node(Arc::new(n));
        }
        *s.volumes_mut() = volumes;
        s
    }

    #[test]
    fn schedules_by_the_claims() {
        let table: &[(&str, &[&str], Result<&str, &str>)] = &[
            ("no claims", &[], Ok("any")),
            ("bound to a volume of n2", &["bound-n2"], Ok("n2")),
            ("bound to a volume without affinity", &["bound-anywhere"], Ok("any")),
            ("WaitForFirstConsumer: any node", &["waiting"], Ok("any")),
            ("WaitForFirstConsumer with allowed topologies", &["zoned"], Ok("n2")),
            (
                "missing claim",
                &["nope"],
                Err("0/2 nodes are available: persistentvolumeclaim \"nope\" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
            ),
            (
                "unbound immediate claim",
                &["immediate"],
                Err("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
            ),
            (
                "unbound claim without a class",
                &["waiting", "no-class"],
                Err("pod has unbound immediate PersistentVolumeClaims"),
            ),
            (
                "bound to a missing volume",
                &["bound-missing"],
                Err("0/2 nodes are available: 2 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)."),
            ),
            (
                "two volumes on different nodes",
                &["bound-n2", "zoned"],
                Ok("n2"),
            ),
            (
                "no provisioner: the node of the volume that fits",
                &["static-claim"],
                Ok("n1"),
            ),
            (
                "no provisioner and no volume that fits",
                &["static-none"],
                Err("0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind."),
            ),
        ];
        let plugins = default_plugins();
        for (name, claims, want) in table {
            let snap = snapshot(state());
            let p = with_claims(claims);
            let got = schedule(&p, &snap, &plugins);
            match (got, want) {
                (Ok(node), Ok("any")) => assert!(node == "n1" || node == "n2", "{name}"),
                (Ok(node), Ok(want)) => assert_eq!(node, *want, "{name}"),
                (Err(mut fit), Err(want)) => {
                    if let crate::scheduler::preemption::Outcome::Failed { message, .. } =
                        crate::scheduler::preemption::preempt(
                            &p,
                            &snap,
                            &plugins,
                            Default::default(),
                            &fit,
                        )
                    {
                        fit.post_filter_message = message;
                    }
                    let message = fit.to_string();
                    assert!(message.contains(want), "{name}: {message}");
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_volume_node_conflict_is_a_filter_reason() {
        let mut s = state();
        s.upsert_volume(volume("pv-n2", Some("n3")));
        let snap = snapshot(s);
        let fit = schedule(&with_claims(&["bound-n2"]), &snap, &default_plugins())
            .expect_err("no node matches");
        assert_eq!(
            fit.to_string(),
            "0/2 nodes are available: 2 node(s) had volume node affinity conflict."
        );
    }

    #[test]
    fn selects_the_node_on_unbound_delayed_claims_once() {
        let mut s = state();
        let p = with_claims(&["waiting", "bound-n2", "immediate", "zoned"]);
        assert_eq!(
            claims_to_select(&p, &s, "n2"),
            vec![
                ("default".to_owned(), "waiting".to_owned()),
                ("default".to_owned(), "zoned".to_owned()),
            ]
        );
        let mut annotated = (**s.claim("default", "waiting").expect("claim")).clone();
        annotated
            .metadata
            .annotations
            .insert(SELECTED_NODE_ANNOTATION.into(), "n2".into());
        s.upsert_claim(Arc::new(annotated));
        assert_eq!(
            claims_to_select(&p, &s, "n2"),
            vec![("default".to_owned(), "zoned".to_owned())]
        );
    }
}
