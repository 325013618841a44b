//! The binder's decisions, table-driven, as Kubernetes' `binder_test.go` checks them.

use rudder_protocol::resources::{
    LabelSelector, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
    PersistentVolumeAccessMode, PersistentVolumeClaimVolumeSource, Quantity, Volume,
    VolumeNodeAffinity,
};

use super::*;

const NOW: Time = Time(1_000);

fn q(s: &str) -> Quantity {
    Quantity::parse(s).expect("quantity")
}

fn pv(name: &str, size: &str, class: &str) -> PersistentVolume {
    let mut v = PersistentVolume::new(name);
    v.spec.capacity.insert("storage".into(), q(size));
    v.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
    v.spec.storage_class_name = class.into();
    v.spec.persistent_volume_reclaim_policy = Some(PersistentVolumeReclaimPolicy::Retain);
    v.status.phase = Some(PersistentVolumePhase::Available);
    v
}

fn claim(name: &str, size: &str, class: &str) -> PersistentVolumeClaim {
    let mut c = PersistentVolumeClaim::new(name);
    c.metadata.namespace = "default".into();
    c.metadata.uid = format!("uid-{name}");
    c.spec.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
    c.spec.resources.requests.insert("storage".into(), q(size));
    c.spec.storage_class_name = Some(class.into());
    c.status.phase = Some(PersistentVolumeClaimPhase::Pending);
    c
}

fn bound_ref(c: &PersistentVolumeClaim) -> Option<ObjectReference> {
    Some(claim_ref(c))
}

fn class(name: &str, mode: VolumeBindingMode, provisioner: &str) -> StorageClass {
    let mut sc = StorageClass::new(name);
    sc.provisioner = provisioner.into();
    sc.volume_binding_mode = Some(mode);
    sc
}

fn world<'a>(
    volumes: &'a [Arc<PersistentVolume>],
    class: Option<&'a StorageClass>,
) -> ClaimWorld<'a> {
    ClaimWorld {
        volumes,
        class,
        in_use: false,
        now: NOW,
    }
}

/// The actions as short strings: `volume pv-1 claimRef=default/data`,
/// `volume-status pv-1 Bound`, `claim data volumeName=pv-1 [bind-completed,
/// bound-by-controller]`, `claim-status data Bound 1Gi`, `event Normal Reason`.
fn summary(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::UpdateVolume(v) => format!(
                "volume {} claimRef={}{}{}",
                v.metadata.name,
                v.spec
                    .claim_ref
                    .as_ref()
                    .map(|r| format!("{}/{}", r.namespace, r.name))
                    .unwrap_or_default(),
                if v.metadata
                    .annotations
                    .contains_key(BOUND_BY_CONTROLLER_ANNOTATION)
                {
                    " bound-by-controller"
                } else {
                    ""
                },
                if v.metadata.finalizers.is_empty() {
                    ""
                } else {
                    " finalizers"
                },
            ),
            Action::UpdateVolumeStatus(v) => format!(
                "volume-status {} {}",
                v.metadata.name,
                v.status.phase.map(|p| p.as_str()).unwrap_or_default()
            ),
            Action::UpdateClaim(c) => {
                let mut notes: Vec<&str> = Vec::new();
                for (key, note) in [
                    (BIND_COMPLETED_ANNOTATION, "bind-completed"),
                    (BOUND_BY_CONTROLLER_ANNOTATION, "bound-by-controller"),
                    (STORAGE_PROVISIONER_ANNOTATION, "provisioner"),
                ] {
                    if c.metadata.annotations.contains_key(key) {
                        notes.push(note);
                    }
                }
                if !c.metadata.finalizers.is_empty() {
                    notes.push("finalizers");
                }
                format!(
                    "claim {} volumeName={} [{}]",
                    c.metadata.name,
                    c.spec.volume_name,
                    notes.join(",")
                )
            }
            Action::UpdateClaimStatus(c) => format!(
                "claim-status {} {} {}",
                c.metadata.name,
                c.status.phase.map(|p| p.as_str()).unwrap_or_default(),
                c.status
                    .capacity
                    .get("storage")
                    .map(|q| q.to_string())
                    .unwrap_or_default()
            ),
            Action::ClaimEvent(t, r, _) => format!("event {t} {r}"),
        })
        .collect()
}

#[test]
fn claim_sync_table() {
    let immediate = class("manual", VolumeBindingMode::Immediate, "");
    let dynamic = class("fast", VolumeBindingMode::Immediate, "example.com/fast");
    let wait = class(
        "local-path",
        VolumeBindingMode::WaitForFirstConsumer,
        "rudder.io/local-path",
    );
    let data = claim("data", "1Gi", "manual");

    let mut prebound = pv("pre", "5Gi", "manual");
    prebound.spec.claim_ref = Some(ObjectReference {
        namespace: "default".into(),
        name: "data".into(),
        ..Default::default()
    });
    let mut taken = pv("taken", "1Gi", "manual");
    taken.spec.claim_ref = Some(ObjectReference {
        namespace: "default".into(),
        name: "other".into(),
        uid: "uid-other".into(),
        ..Default::default()
    });
    let mut labelled = pv("labelled", "1Gi", "manual");
    labelled
        .metadata
        .labels
        .insert("tier".into(), "gold".into());
    let mut selective = data.clone();
    selective.spec.selector = Some(LabelSelector {
        match_labels: [("tier".to_owned(), "gold".to_owned())].into(),
        ..Default::default()
    });
    let mut named = data.clone();
    named.spec.volume_name = "big".into();
    let mut on_n1 = pv("on-n1", "1Gi", "local-path");
    on_n1.spec.node_affinity = Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: vec![NodeSelectorRequirement {
                    key: "kubernetes.io/hostname".into(),
                    operator: NodeSelectorOperator::In,
                    values: vec!["n1".into()],
                }],
                match_fields: vec![],
            }],
        }),
    });
    let waiting = claim("data", "1Gi", "local-path");
    let mut selected_n2 = waiting.clone();
    selected_n2
        .metadata
        .annotations
        .insert(SELECTED_NODE_ANNOTATION.into(), "n2".into());
    let mut selected_n1 = waiting.clone();
    selected_n1
        .metadata
        .annotations
        .insert(SELECTED_NODE_ANNOTATION.into(), "n1".into());
    let mut done = data.clone();
    done.spec.volume_name = "small".into();
    done.metadata
        .annotations
        .insert(BIND_COMPLETED_ANNOTATION.into(), "yes".into());
    done.metadata
        .annotations
        .insert(BOUND_BY_CONTROLLER_ANNOTATION.into(), "yes".into());
    done.status.phase = Some(PersistentVolumeClaimPhase::Bound);
    done.status.capacity = pv("small", "1Gi", "manual").spec.capacity;
    done.status.access_modes = vec![PersistentVolumeAccessMode::ReadWriteOnce];
    let mut small_bound = pv("small", "1Gi", "manual");
    small_bound.spec.claim_ref = bound_ref(&data);
    small_bound.status.phase = Some(PersistentVolumePhase::Bound);
    let mut deleting = data.clone();
    deleting.metadata.deletion_timestamp = Some(NOW);
    deleting.metadata.finalizers = vec![PVC_PROTECTION_FINALIZER.into()];

    type Case<'a> = (
        &'a str,
        PersistentVolumeClaim,
        Vec<PersistentVolume>,
        Option<&'a StorageClass>,
        bool,
        Vec<&'a str>,
    );
    let table: Vec<Case> = vec![
        (
            "the smallest volume that fits, bound by the controller",
            data.clone(),
            vec![
                pv("big", "10Gi", "manual"),
                pv("small", "1Gi", "manual"),
                pv("tiny", "500Mi", "manual"),
            ],
            Some(&immediate),
            false,
            vec![
                "volume small claimRef=default/data bound-by-controller",
                "volume-status small Bound",
                "claim data volumeName=small [bind-completed,bound-by-controller]",
                "claim-status data Bound 1Gi",
            ],
        ),
        (
            "another class or an access mode missing does not fit",
            data.clone(),
            vec![pv("other-class", "1Gi", "fast"), {
                let mut v = pv("rox", "1Gi", "manual");
                v.spec.access_modes = vec![PersistentVolumeAccessMode::ReadOnlyMany];
                v
            }],
            Some(&immediate),
            false,
            vec![],
        ),
        (
            "a volume pre-bound to the claim wins over a smaller free one",
            data.clone(),
            vec![pv("small", "1Gi", "manual"), prebound.clone()],
            Some(&immediate),
            false,
            vec![
                "volume pre claimRef=default/data",
                "volume-status pre Bound",
                "claim data volumeName=pre [bind-completed,bound-by-controller]",
                "claim-status data Bound 5Gi",
            ],
        ),
        (
            "a volume bound to another claim is not taken",
            data.clone(),
            vec![taken],
            Some(&immediate),
            false,
            vec![],
        ),
        (
            "the selector chooses among volumes",
            selective,
            vec![pv("plain", "1Gi", "manual"), labelled],
            Some(&immediate),
            false,
            vec![
                "volume labelled claimRef=default/data bound-by-controller",
                "volume-status labelled Bound",
                "claim data volumeName=labelled [bind-completed,bound-by-controller]",
                "claim-status data Bound 1Gi",
            ],
        ),
        (
            "the user's volumeName: bound, not by the controller",
            named,
            vec![pv("small", "1Gi", "manual"), pv("big", "10Gi", "manual")],
            Some(&immediate),
            false,
            vec![
                "volume big claimRef=default/data bound-by-controller",
                "volume-status big Bound",
                "claim data volumeName=big [bind-completed]",
                "claim-status data Bound 10Gi",
            ],
        ),
        (
            "no volume, a provisioner: annotated for it once",
            claim("data", "1Gi", "fast"),
            vec![],
            Some(&dynamic),
            false,
            vec![
                "claim data volumeName= [provisioner]",
                "event Normal ExternalProvisioning",
            ],
        ),
        (
            "WaitForFirstConsumer without a selected node waits",
            waiting.clone(),
            vec![pv("free", "1Gi", "local-path")],
            Some(&wait),
            false,
            vec!["event Normal WaitForFirstConsumer"],
        ),
        (
            "no volume and no class",
            claim("data", "1Gi", ""),
            vec![pv("classy", "1Gi", "manual")],
            None,
            false,
            vec!["event Normal FailedBinding"],
        ),
        (
            "no volume and a class that does not exist",
            claim("data", "1Gi", "gone"),
            vec![],
            None,
            false,
            vec!["event Warning ProvisioningFailed"],
        ),
        (
            "WaitForFirstConsumer on n2: the n1 volume does not do, provisioning does",
            selected_n2,
            vec![on_n1.clone()],
            Some(&wait),
            false,
            vec![
                "claim data volumeName= [provisioner]",
                "event Normal ExternalProvisioning",
            ],
        ),
        (
            "WaitForFirstConsumer on n1: the n1 volume",
            selected_n1,
            vec![on_n1],
            Some(&wait),
            false,
            vec![
                "volume on-n1 claimRef=default/data bound-by-controller",
                "volume-status on-n1 Bound",
                "claim data volumeName=on-n1 [bind-completed,bound-by-controller]",
                "claim-status data Bound 1Gi",
            ],
        ),
        (
            "bound and settled: nothing",
            done.clone(),
            vec![small_bound.clone()],
            Some(&immediate),
            false,
            vec![],
        ),
        (
            "bound, the volume gone: Lost",
            done.clone(),
            vec![],
            Some(&immediate),
            false,
            vec!["claim-status data Lost 1Gi", "event Warning ClaimLost"],
        ),
        (
            "deleted while a pod uses it: kept",
            deleting.clone(),
            vec![],
            Some(&immediate),
            true,
            vec![],
        ),
        (
            "deleted, no pod uses it: the protection goes",
            deleting,
            vec![],
            Some(&immediate),
            false,
            vec!["claim data volumeName= []"],
        ),
    ];
    for (name, c, volumes, class, in_use, want) in table {
        let volumes: Vec<Arc<PersistentVolume>> = volumes.into_iter().map(Arc::new).collect();
        let mut w = world(&volumes, class);
        w.in_use = in_use;
        assert_eq!(summary(&plan_claim(&c, w)), want, "{name}");
    }
}

#[test]
fn volume_sync_table() {
    let data = claim("data", "1Gi", "manual");
    let mut bound_data = data.clone();
    bound_data.spec.volume_name = "v".into();
    let with_ref = |policy: PersistentVolumeReclaimPolicy, phase: PersistentVolumePhase| {
        let mut v = pv("v", "1Gi", "manual");
        v.spec.claim_ref = bound_ref(&data);
        v.spec.persistent_volume_reclaim_policy = Some(policy);
        v.status.phase = Some(phase);
        v
    };
    let mut provisioned = with_ref(
        PersistentVolumeReclaimPolicy::Delete,
        PersistentVolumePhase::Bound,
    );
    provisioned.metadata.annotations.insert(
        PROVISIONED_BY_ANNOTATION.into(),
        "rudder.io/local-path".into(),
    );
    let mut pending = pv("v", "1Gi", "manual");
    pending.status.phase = Some(PersistentVolumePhase::Pending);
    let mut deleting_bound = with_ref(
        PersistentVolumeReclaimPolicy::Retain,
        PersistentVolumePhase::Bound,
    );
    deleting_bound.metadata.deletion_timestamp = Some(NOW);
    deleting_bound.metadata.finalizers = vec![PV_PROTECTION_FINALIZER.into()];
    let mut deleting_released = deleting_bound.clone();
    deleting_released.status.phase = Some(PersistentVolumePhase::Released);
    let mut replaced = data.clone();
    replaced.metadata.uid = "uid-new".into();

    let table: Vec<(
        &str,
        PersistentVolume,
        Option<PersistentVolumeClaim>,
        Vec<&str>,
    )> = vec![
        (
            "new volume: Available",
            pending,
            None,
            vec!["volume-status v Available"],
        ),
        (
            "bound to a claim that names it: Bound",
            with_ref(
                PersistentVolumeReclaimPolicy::Retain,
                PersistentVolumePhase::Available,
            ),
            Some(bound_data.clone()),
            vec!["volume-status v Bound"],
        ),
        (
            "half-bound: the claim's sync finishes",
            with_ref(
                PersistentVolumeReclaimPolicy::Retain,
                PersistentVolumePhase::Bound,
            ),
            Some(data.clone()),
            vec![],
        ),
        (
            "claim gone, Retain: Released",
            with_ref(
                PersistentVolumeReclaimPolicy::Retain,
                PersistentVolumePhase::Bound,
            ),
            None,
            vec!["volume-status v Released"],
        ),
        (
            "claim replaced by one of the same name: Released",
            with_ref(
                PersistentVolumeReclaimPolicy::Retain,
                PersistentVolumePhase::Bound,
            ),
            Some(replaced),
            vec!["volume-status v Released"],
        ),
        (
            "Released and Retain: stays",
            with_ref(
                PersistentVolumeReclaimPolicy::Retain,
                PersistentVolumePhase::Released,
            ),
            None,
            vec![],
        ),
        (
            "claim gone, Delete, provisioned: Released for its provisioner",
            provisioned,
            None,
            vec!["volume-status v Released"],
        ),
        (
            "claim gone, Delete, made by hand: Failed",
            with_ref(
                PersistentVolumeReclaimPolicy::Delete,
                PersistentVolumePhase::Bound,
            ),
            None,
            vec!["volume-status v Failed"],
        ),
        (
            "deleted while bound: kept",
            deleting_bound,
            Some(bound_data),
            vec![],
        ),
        (
            "deleted once released: the protection goes",
            deleting_released,
            None,
            vec!["volume v claimRef=default/data"],
        ),
    ];
    for (name, v, c, want) in table {
        assert_eq!(summary(&plan_volume(&v, c.as_ref(), NOW)), want, "{name}");
    }
}

#[test]
fn pods_that_use_a_claim() {
    let mut p = Pod::new("web");
    p.spec.volumes.push(Volume {
        name: "d".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: "data".into(),
            read_only: false,
        }),
        ..Default::default()
    });
    assert!(pod_uses_claim(&p, "data"));
    assert!(!pod_uses_claim(&p, "other"));
    p.status.phase = Some(PodPhase::Succeeded);
    assert!(
        !pod_uses_claim(&p, "data"),
        "a finished pod does not hold it"
    );
}
