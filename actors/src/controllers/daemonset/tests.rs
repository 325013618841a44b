//! The DaemonSet plan as tables: eligibility, placement, manage, rolling updates with
//! maxUnavailable and maxSurge, OnDelete, claim, status.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use rudder_protocol::resources::{
    ConditionStatus, Container, DaemonSet, DaemonSetUpdateStrategyType, IntOrString, LabelSelector,
    Node, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, OwnerReference, Pod,
    PodCondition, PodPhase, RollingUpdateDaemonSet, Taint, TaintEffect, Time, Toleration,
    TolerationOperator, CONTROLLER_REVISION_HASH_LABEL, DAEMONSET_TEMPLATE_GENERATION_ANNOTATION,
    DAEMONSET_TEMPLATE_GENERATION_LABEL,
};

use super::plan::*;

const NOW: i64 = 10_000;

fn ds() -> DaemonSet {
    let mut d = DaemonSet::new("agent");
    d.metadata.namespace = "default".into();
    d.metadata.uid = "uid-ds".into();
    d.metadata.generation = 2;
    d.metadata
        .annotations
        .insert(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION.into(), "2".into());
    d.spec.selector = LabelSelector {
        match_labels: [("app".to_owned(), "agent".to_owned())].into(),
        ..Default::default()
    };
    d.spec.template.metadata.labels = d.spec.selector.match_labels.clone();
    d.spec.template.spec.containers = vec![Container {
        name: "c".into(),
        image: "demo:2".into(),
        ..Default::default()
    }];
    d.spec.update_strategy.type_ = Some(DaemonSetUpdateStrategyType::RollingUpdate);
    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(1)),
        max_surge: Some(IntOrString::Int(0)),
    });
    d
}

fn surge(mut d: DaemonSet, n: i32) -> DaemonSet {
    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(0)),
        max_surge: Some(IntOrString::Int(n)),
    });
    d
}

fn unavailable(mut d: DaemonSet, n: i32) -> DaemonSet {
    d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
        max_unavailable: Some(IntOrString::Int(n)),
        max_surge: Some(IntOrString::Int(0)),
    });
    d
}

fn node(name: &str) -> Arc<Node> {
    Arc::new(labelled(name, &[]))
}

fn labelled(name: &str, labels: &[(&str, &str)]) -> Node {
    let mut n = Node::new(name);
    n.metadata.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    n
}

fn tainted(name: &str, key: &str, effect: TaintEffect) -> Arc<Node> {
    let mut n = labelled(name, &[]);
    n.spec.taints = vec![Taint {
        key: key.into(),
        value: String::new(),
        effect,
        time_added: None,
    }];
    Arc::new(n)
}

/// A pod of the DaemonSet on `node`, with revision `hash` ("new" is current), created at
/// `created`, `state` one of pending, running, ready, failed, succeeded, deleting.
fn pod(name: &str, node: &str, hash: &str, created: i64, state: &str) -> Arc<Pod> {
    let d = ds();
    let mut p = daemon_pod(&d, node, hash);
    p.metadata.name = name.into();
    p.metadata.uid = format!("uid-{name}");
    p.metadata.creation_timestamp = Some(Time(created));
    if hash != "new" {
        // An old pod: the template generation before.
        p.metadata
            .labels
            .insert(DAEMONSET_TEMPLATE_GENERATION_LABEL.into(), "1".into());
    }
    p.spec.node_name = node.into();
    p.status.phase = Some(match state {
        "pending" => PodPhase::Pending,
        "failed" => PodPhase::Failed,
        "succeeded" => PodPhase::Succeeded,
        _ => PodPhase::Running,
    });
    if state == "ready" || state == "deleting" {
        p.status.conditions = vec![PodCondition {
            type_: "Ready".into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time(created + 1)),
            ..Default::default()
        }];
    }
    if state == "deleting" {
        p.metadata.deletion_timestamp = Some(Time(NOW - 1));
    }
    Arc::new(p)
}

fn run(d: &DaemonSet, nodes: &[Arc<Node>], pods: &[Arc<Pod>], met: bool) -> Plan {
    run_with_backoff(d, nodes, pods, met, &BTreeMap::new())
}

fn run_with_backoff(
    d: &DaemonSet,
    nodes: &[Arc<Node>],
    pods: &[Arc<Pod>],
    met: bool,
    failed_backoff: &BTreeMap<String, Time>,
) -> Plan {
    plan(Input {
        ds: d,
        nodes,
        pods,
        hash: "new",
        expectations_met: met,
        failed_backoff,
        now: Time(NOW),
    })
}

/// The plan's writes as short strings: `create n1,n2`, `delete p1,p2`, `adopt p`,
/// `release p`, `event Reason`.
fn summary(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .map(|a| match a {
            Action::Create(nodes) => format!("create {}", nodes.join(",")),
            Action::ForceDelete(v) => format!(
                "force-delete {}",
                v.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Action::Delete(v) => format!(
                "delete {}",
                v.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Action::Adopt { pod, .. } => format!("adopt {pod}"),
            Action::Release { pod, .. } => format!("release {pod}"),
            Action::Event { reason, .. } => format!("event {reason}"),
        })
        .collect()
}

#[test]
fn eligibility_table() {
    let mut with_selector = ds();
    with_selector.spec.template.spec.node_selector = [("disk".to_owned(), "ssd".to_owned())].into();
    let mut with_affinity = ds();
    with_affinity.spec.template.spec.affinity = Some(pin_to_node(None, "n2"));
    let mut with_expr = ds();
    with_expr.spec.template.spec.affinity = Some(rudder_protocol::resources::Affinity {
        node_affinity: Some(rudder_protocol::resources::NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(
                rudder_protocol::resources::NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: vec![NodeSelectorRequirement {
                            key: "zone".into(),
                            operator: NodeSelectorOperator::In,
                            values: vec!["a".into()],
                        }],
                        match_fields: vec![],
                    }],
                },
            ),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut tolerant = ds();
    tolerant.spec.template.spec.tolerations = vec![Toleration {
        key: "dedicated".into(),
        operator: Some(TolerationOperator::Exists),
        ..Default::default()
    }];
    let mut host_net = ds();
    host_net.spec.template.spec.host_network = true;
    let mut named = ds();
    named.spec.template.spec.node_name = "n1".into();

    let plain = ds();
    type Case<'a> = (&'a str, &'a DaemonSet, Arc<Node>, (bool, bool));
    let table: Vec<Case> = vec![
        ("a plain node", &plain, node("n1"), (true, true)),
        (
            "node selector matches",
            &with_selector,
            Arc::new(labelled("n1", &[("disk", "ssd")])),
            (true, true),
        ),
        (
            "node selector does not match",
            &with_selector,
            node("n1"),
            (false, false),
        ),
        (
            "affinity by name: the node",
            &with_affinity,
            node("n2"),
            (true, true),
        ),
        (
            "affinity by name: another",
            &with_affinity,
            node("n1"),
            (false, false),
        ),
        (
            "affinity by label",
            &with_expr,
            Arc::new(labelled("n1", &[("zone", "a")])),
            (true, true),
        ),
        (
            "affinity by label, no label",
            &with_expr,
            node("n1"),
            (false, false),
        ),
        (
            "NoSchedule taint: no new pod, the old one stays",
            &plain,
            tainted("n1", "dedicated", TaintEffect::NoSchedule),
            (false, true),
        ),
        (
            "NoExecute taint: no pod at all",
            &plain,
            tainted("n1", "dedicated", TaintEffect::NoExecute),
            (false, false),
        ),
        (
            "tolerated taint",
            &tolerant,
            tainted("n1", "dedicated", TaintEffect::NoExecute),
            (true, true),
        ),
        (
            "PreferNoSchedule does not matter",
            &plain,
            tainted("n1", "dedicated", TaintEffect::PreferNoSchedule),
            (true, true),
        ),
        (
            "not-ready is tolerated",
            &plain,
            tainted("n1", "node.kubernetes.io/not-ready", TaintEffect::NoExecute),
            (true, true),
        ),
        (
            "unreachable is tolerated",
            &plain,
            tainted(
                "n1",
                "node.kubernetes.io/unreachable",
                TaintEffect::NoExecute,
            ),
            (true, true),
        ),
        (
            "unschedulable is tolerated",
            &plain,
            tainted(
                "n1",
                "node.kubernetes.io/unschedulable",
                TaintEffect::NoSchedule,
            ),
            (true, true),
        ),
        (
            "memory pressure is tolerated",
            &plain,
            tainted(
                "n1",
                "node.kubernetes.io/memory-pressure",
                TaintEffect::NoSchedule,
            ),
            (true, true),
        ),
        (
            "network-unavailable only on the host network",
            &plain,
            tainted("n1", NETWORK_UNAVAILABLE, TaintEffect::NoSchedule),
            (false, true),
        ),
        (
            "network-unavailable with the host network",
            &host_net,
            tainted("n1", NETWORK_UNAVAILABLE, TaintEffect::NoSchedule),
            (true, true),
        ),
        ("nodeName: that node", &named, node("n1"), (true, true)),
        ("nodeName: another node", &named, node("n2"), (false, false)),
    ];
    for (name, d, n, want) in table {
        assert_eq!(should_run(d, &n), want, "{name}");
    }
}

#[test]
fn daemon_pod_shape() {
    let mut d = ds();
    d.spec.template.spec.tolerations = vec![Toleration {
        key: "node.kubernetes.io/not-ready".into(),
        operator: Some(TolerationOperator::Exists),
        effect: Some(TaintEffect::NoExecute),
        toleration_seconds: Some(30),
        ..Default::default()
    }];
    let p = daemon_pod(&d, "n7", "h1");
    assert_eq!(p.metadata.generate_name, "agent-");
    assert_eq!(p.metadata.labels[CONTROLLER_REVISION_HASH_LABEL], "h1");
    assert_eq!(p.metadata.labels[DAEMONSET_TEMPLATE_GENERATION_LABEL], "2");
    assert_eq!(p.metadata.labels["app"], "agent");
    assert_eq!(p.metadata.owner_references[0].uid, "uid-ds");
    assert!(p.spec.node_name.is_empty(), "the scheduler binds it");
    assert_eq!(target_node(&p), Some("n7"));
    let terms = &p
        .spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    assert_eq!(terms.len(), 1);
    assert_eq!(terms[0].match_fields[0].key, "metadata.name");
    assert_eq!(terms[0].match_fields[0].values, ["n7"]);
    // The user's not-ready toleration is replaced by the daemon one (no time limit).
    let not_ready: Vec<&Toleration> = p
        .spec
        .tolerations
        .iter()
        .filter(|t| t.key == "node.kubernetes.io/not-ready")
        .collect();
    assert_eq!(not_ready.len(), 1);
    assert_eq!(not_ready[0].toleration_seconds, None);
    assert_eq!(p.spec.tolerations.len(), DAEMON_TOLERATIONS.len());
    assert!(!p
        .spec
        .tolerations
        .iter()
        .any(|t| t.key == NETWORK_UNAVAILABLE));
}

#[test]
fn manage_table() {
    let d = ds();
    let n3 = || vec![node("n1"), node("n2"), node("n3")];
    let mut selective = ds();
    selective.spec.template.spec.node_selector = [("role".to_owned(), "agent".to_owned())].into();
    // (name, DaemonSet, nodes, pods, expectations met, writes)
    type Case = (
        &'static str,
        DaemonSet,
        Vec<Arc<Node>>,
        Vec<Arc<Pod>>,
        bool,
        Vec<&'static str>,
    );
    let table: Vec<Case> = vec![
        (
            "one pod per node",
            d.clone(),
            n3(),
            vec![],
            true,
            vec!["create n1,n2,n3"],
        ),
        (
            "only the missing node",
            d.clone(),
            n3(),
            vec![
                pod("a", "n1", "new", 1, "ready"),
                pod("b", "n3", "new", 1, "pending"),
            ],
            true,
            vec!["create n2"],
        ),
        (
            "nothing while expectations are pending",
            d.clone(),
            n3(),
            vec![],
            false,
            vec![],
        ),
        (
            "a second pod on a node goes, the oldest stays",
            d.clone(),
            vec![node("n1")],
            vec![
                pod("young", "n1", "new", 5, "ready"),
                pod("old", "n1", "new", 1, "ready"),
            ],
            true,
            vec!["delete young"],
        ),
        (
            "a failed pod is deleted with an event",
            d.clone(),
            vec![node("n1")],
            vec![pod("f", "n1", "new", 1, "failed")],
            true,
            vec!["event FailedDaemonPod", "delete f"],
        ),
        (
            "a succeeded pod is deleted",
            d.clone(),
            vec![node("n1")],
            vec![pod("s", "n1", "new", 1, "succeeded")],
            true,
            vec!["delete s"],
        ),
        (
            "a pod being deleted is waited for",
            d.clone(),
            vec![node("n1")],
            vec![pod("x", "n1", "new", 1, "deleting")],
            true,
            vec![],
        ),
        (
            "a node labelled out of the selector loses its pod",
            selective.clone(),
            vec![Arc::new(labelled("n1", &[("role", "agent")])), node("n2")],
            vec![
                pod("a", "n1", "new", 1, "ready"),
                pod("b", "n2", "new", 1, "ready"),
            ],
            true,
            vec!["delete b"],
        ),
        (
            "a pod whose node is gone is deleted",
            d.clone(),
            vec![node("n1")],
            vec![
                pod("a", "n1", "new", 1, "ready"),
                pod("b", "gone", "new", 1, "ready"),
                pod("c", "gone", "new", 1, "deleting"),
            ],
            true,
            vec!["force-delete b,c"],
        ),
        (
            "deletions first, creations in a later sync",
            d.clone(),
            vec![node("n1"), node("n2")],
            vec![pod("f", "n1", "new", 1, "failed")],
            true,
            vec!["event FailedDaemonPod", "delete f"],
        ),
        (
            "NoSchedule-tainted node keeps its pod but gets none",
            d.clone(),
            vec![
                tainted("n1", "dedicated", TaintEffect::NoSchedule),
                tainted("n2", "dedicated", TaintEffect::NoSchedule),
            ],
            vec![pod("a", "n1", "new", 1, "ready")],
            true,
            vec![],
        ),
    ];
    for (name, d, nodes, pods, met, want) in table {
        assert_eq!(summary(&run(&d, &nodes, &pods, met)), want, "{name}");
    }
}

#[test]
fn rolling_update_table() {
    let n4 = || vec![node("n1"), node("n2"), node("n3"), node("n4")];
    let old_ready = |n: &str| pod(&format!("old-{n}"), n, "old", 1, "ready");
    // (name, DaemonSet, pods, writes)
    type Case = (&'static str, DaemonSet, Vec<Arc<Pod>>, Vec<&'static str>);
    let table: Vec<Case> = vec![
        (
            "maxUnavailable 1: one old pod at a time",
            ds(),
            vec![
                old_ready("n1"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["delete old-n1"],
        ),
        (
            "maxUnavailable 2: two",
            unavailable(ds(), 2),
            vec![
                old_ready("n1"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["delete old-n1,old-n2"],
        ),
        (
            "a new pod not yet available uses the budget",
            ds(),
            vec![
                pod("new-n1", "n1", "new", 1, "running"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec![],
        ),
        (
            "an unavailable old pod may always go",
            ds(),
            vec![
                pod("new-n1", "n1", "new", 1, "running"),
                pod("old-n2", "n2", "old", 1, "running"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["delete old-n2"],
        ),
        (
            "done: nothing to do",
            ds(),
            ["n1", "n2", "n3", "n4"]
                .iter()
                .map(|n| pod(&format!("new-{n}"), n, "new", 1, "ready"))
                .collect(),
            vec![],
        ),
        (
            "maxUnavailable 25% of 4 rounds up to 1",
            {
                let mut d = ds();
                d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::String("25%".into())),
                    max_surge: Some(IntOrString::Int(0)),
                });
                d
            },
            vec![
                old_ready("n1"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["delete old-n1"],
        ),
        (
            "maxSurge 1: one new pod beside an old one",
            surge(ds(), 1),
            vec![
                old_ready("n1"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["create n1"],
        ),
        (
            "maxSurge: the old pod goes once the new one is available",
            surge(ds(), 1),
            vec![
                old_ready("n1"),
                pod("new-n1", "n1", "new", 2, "ready"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["delete old-n1"],
        ),
        (
            "maxSurge: a surging node not yet available uses the budget",
            surge(ds(), 1),
            vec![
                old_ready("n1"),
                pod("new-n1", "n1", "new", 2, "running"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec![],
        ),
        (
            "maxSurge: an unavailable old pod gets its new pod at once",
            surge(ds(), 1),
            vec![
                old_ready("n1"),
                pod("new-n1", "n1", "new", 2, "running"),
                pod("old-n2", "n2", "old", 1, "running"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec!["create n2"],
        ),
        (
            "OnDelete: old pods stay",
            {
                let mut d = ds();
                d.spec.update_strategy.type_ = Some(DaemonSetUpdateStrategyType::OnDelete);
                d.spec.update_strategy.rolling_update = None;
                d
            },
            vec![
                old_ready("n1"),
                old_ready("n2"),
                old_ready("n3"),
                old_ready("n4"),
            ],
            vec![],
        ),
    ];
    for (name, d, pods, want) in table {
        assert_eq!(summary(&run(&d, &n4(), &pods, true)), want, "{name}");
    }
}

#[test]
fn budgets_table() {
    let table = [
        ("defaults", ds(), 10, (0, 1)),
        (
            "both zero read as one unavailable",
            unavailable(ds(), 0),
            10,
            (0, 1),
        ),
        ("surge 2", surge(ds(), 2), 10, (2, 0)),
        (
            "percent rounds up",
            {
                let mut d = ds();
                d.spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::String("10%".into())),
                });
                d
            },
            15,
            (2, 0),
        ),
    ];
    for (name, d, desired, want) in table {
        assert_eq!(budgets(&d, desired), want, "{name}");
    }
}

#[test]
fn claim_table() {
    let mut orphan = pod("orphan", "n1", "new", 1, "ready").as_ref().clone();
    orphan.metadata.owner_references.clear();
    let mut foreign = pod("foreign", "n2", "new", 1, "ready").as_ref().clone();
    foreign.metadata.owner_references = vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: "uid-rs".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }];
    let mut unlabelled = pod("unlabelled", "n2", "new", 1, "ready").as_ref().clone();
    unlabelled.metadata.labels.remove("app");
    let nodes = vec![node("n1"), node("n2")];
    let pods = vec![Arc::new(orphan), Arc::new(foreign), Arc::new(unlabelled)];
    let p = run(&ds(), &nodes, &pods, true);
    assert_eq!(
        summary(&p),
        ["adopt orphan", "release unlabelled", "create n2"],
        "the orphan is adopted and counts for n1; the foreign pod does not count for n2"
    );
}

#[test]
fn status_table() {
    let mut selective = ds();
    selective.spec.template.spec.node_selector = [("role".to_owned(), "agent".to_owned())].into();
    let nodes = vec![
        Arc::new(labelled("n1", &[("role", "agent")])),
        Arc::new(labelled("n2", &[("role", "agent")])),
        Arc::new(labelled("n3", &[("role", "agent")])),
        node("n4"),
    ];
    let pods = vec![
        pod("a", "n1", "new", 1, "ready"),
        pod("b", "n2", "old", 1, "running"),
        pod("c", "n4", "new", 1, "ready"),
    ];
    let s = run(&selective, &nodes, &pods, false).status.unwrap();
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready,
            s.number_available,
            s.updated_number_scheduled,
            s.number_unavailable,
            s.number_misscheduled,
        ),
        (3, 2, 1, 1, 1, 2, 1)
    );
    assert_eq!(
        s.observed_generation, 0,
        "not observed while expectations wait"
    );
    let s = run(&selective, &nodes, &pods, true).status.unwrap();
    assert_eq!(s.observed_generation, 2);

    // minReadySeconds: ready but not yet available asks to look again.
    let mut slow = ds();
    slow.spec.min_ready_seconds = 30;
    let fresh = {
        let mut p = pod("a", "n1", "new", NOW - 5, "ready").as_ref().clone();
        p.status.conditions[0].last_transition_time = Some(Time(NOW - 5));
        Arc::new(p)
    };
    let p = run(&slow, &[node("n1")], &[fresh], true);
    let s = p.status.unwrap();
    assert_eq!((s.number_ready, s.number_available), (1, 0));
    assert!(p.requeue_after.is_some());
}

#[test]
fn updated_by_hash_or_generation() {
    let d = ds();
    let new = pod("a", "n1", "new", 1, "ready");
    let old = pod("b", "n1", "old", 1, "ready");
    let g = template_generation(&d);
    assert_eq!(g, Some(2));
    assert!(is_updated(&new, "new", g));
    assert!(!is_updated(&old, "new", g));
    // A pod from before revisions existed: the generation label alone counts.
    let mut legacy = old.as_ref().clone();
    legacy
        .metadata
        .labels
        .remove(CONTROLLER_REVISION_HASH_LABEL);
    legacy
        .metadata
        .labels
        .insert(DAEMONSET_TEMPLATE_GENERATION_LABEL.into(), "2".into());
    assert!(is_updated(&legacy, "new", g));
}

#[test]
fn selecting_everything_is_refused() {
    let mut d = ds();
    d.spec.selector = LabelSelector::default();
    let p = run(&d, &[node("n1")], &[], true);
    assert_eq!(summary(&p), ["event SelectingAll"]);
    assert!(p.status.is_none());
}

#[test]
fn failed_pods_back_off_per_node() {
    let d = ds();
    let nodes = vec![node("n1"), node("n2")];
    let pods = vec![
        pod("f1", "n1", "new", 1, "failed"),
        pod("f2", "n2", "new", 1, "failed"),
    ];
    let p = run(&d, &nodes, &pods, true);
    assert_eq!(
        summary(&p),
        [
            "event FailedDaemonPod",
            "event FailedDaemonPod",
            "delete f1,f2"
        ]
    );
    assert_eq!(p.failed_on, ["n1", "n2"]);
    // n1 backs off for 5 more seconds: only n2's pod goes, and the sync comes back.
    let backoff = BTreeMap::from([("n1".to_owned(), Time(NOW + 5))]);
    let p = run_with_backoff(&d, &nodes, &pods, true, &backoff);
    assert_eq!(summary(&p), ["event FailedDaemonPod", "delete f2"]);
    assert_eq!(p.failed_on, ["n2"]);
    assert_eq!(p.requeue_after, Some(std::time::Duration::from_secs(5)));
    // Past the back-off it goes too.
    let expired = BTreeMap::from([("n1".to_owned(), Time(NOW - 1))]);
    let p = run_with_backoff(&d, &nodes, &pods, true, &expired);
    assert_eq!(p.failed_on, ["n1", "n2"]);
}

#[test]
fn revision_claims() {
    use rudder_protocol::resources::{ControllerRevision, Resource};
    let d = ds();
    let rev = |name: &str, labels: &[(&str, &str)], owner: Option<&str>| {
        let mut r = ControllerRevision::new(name);
        r.metadata.labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(uid) = owner {
            let mut c = d.controller_ref();
            c.uid = uid.into();
            r.metadata.owner_references = vec![c];
        }
        Arc::new(r)
    };
    let all = vec![
        rev("orphan", &[("app", "agent")], None),
        rev("foreign-orphan", &[("app", "other")], None),
        rev("mine", &[("app", "agent")], Some("uid-ds")),
        rev("mine-unlabelled", &[("app", "other")], Some("uid-ds")),
        rev("someone-elses", &[("app", "agent")], Some("uid-x")),
    ];
    let got: Vec<(String, bool)> = claim_revisions(&d, &all)
        .into_iter()
        .map(|c| (c.name, c.adopt))
        .collect();
    assert_eq!(
        got,
        [
            ("orphan".to_owned(), true),
            ("mine-unlabelled".to_owned(), false)
        ]
    );
    let adopted = &claim_revisions(&d, &all)[0];
    assert_eq!(adopted.owner_references[0].uid, "uid-ds");
}
