//! The disruption controller's plan, as a table of named cases (the shape of
//! Kubernetes' `disruption_test.go`).

#![allow(clippy::unwrap_used)]

use rudder_protocol::resources::{
    LabelSelector, ObjectMeta, OwnerReference, PodCondition, PodDisruptionBudgetSpec,
};

use super::*;

const NOW: Time = Time(1_700_000_000);

fn pod(name: &str, ready: bool, owner: Option<&str>) -> Pod {
    let mut p = Pod::new(name);
    p.metadata.namespace = "d".into();
    p.metadata.labels = [("app".to_owned(), "web".to_owned())].into();
    p.metadata.owner_references = owner
        .map(|uid| OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: None,
        })
        .into_iter()
        .collect();
    p.status.conditions = vec![PodCondition {
        type_: "Ready".into(),
        status: if ready {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        ..PodCondition::default()
    }];
    p
}

fn deleting(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(NOW);
    p
}

fn budget(spec: PodDisruptionBudgetSpec) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "d".into(),
            generation: 1,
            ..ObjectMeta::default()
        },
        spec: PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: [("app".to_owned(), "web".to_owned())].into(),
                ..LabelSelector::default()
            }),
            ..spec
        },
        ..PodDisruptionBudget::default()
    }
}

fn min(v: IntOrString) -> PodDisruptionBudgetSpec {
    PodDisruptionBudgetSpec {
        min_available: Some(v),
        ..PodDisruptionBudgetSpec::default()
    }
}

fn max(v: IntOrString) -> PodDisruptionBudgetSpec {
    PodDisruptionBudgetSpec {
        max_unavailable: Some(v),
        ..PodDisruptionBudgetSpec::default()
    }
}

fn scale(uid: &str, replicas: i32) -> (String, Controller) {
    (
        uid.to_owned(),
        Controller::Found {
            uid: uid.to_owned(),
            scale: replicas,
        },
    )
}

/// (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed).
type Counts = (i32, i32, i32, i32);

#[test]
fn plan_table() {
    let three_ready = || {
        vec![
            pod("a", true, Some("rs1")),
            pod("b", true, Some("rs1")),
            pod("c", true, Some("rs1")),
        ]
    };
    let rs3 = || Controllers::from([scale("rs1", 3)]);
    let cases: Vec<(&str, PodDisruptionBudgetSpec, Vec<Pod>, Controllers, Counts)> = vec![
        (
            "minAvailable 2 of 3 ready: one allowed",
            min(2.into()),
            three_ready(),
            Controllers::new(),
            (3, 2, 3, 1),
        ),
        (
            "minAvailable 2, one not ready: none allowed",
            min(2.into()),
            vec![
                pod("a", true, Some("rs1")),
                pod("b", true, Some("rs1")),
                pod("c", false, Some("rs1")),
            ],
            Controllers::new(),
            (3, 2, 2, 0),
        ),
        (
            "minAvailable 3 of 3: none allowed",
            min(3.into()),
            three_ready(),
            Controllers::new(),
            (3, 3, 3, 0),
        ),
        (
            "terminating pods are not healthy",
            min(1.into()),
            vec![
                pod("a", true, Some("rs1")),
                deleting(pod("b", true, Some("rs1"))),
            ],
            Controllers::new(),
            (2, 1, 1, 0),
        ),
        (
            "no pods: nothing allowed even with minAvailable 0",
            min(0.into()),
            vec![],
            Controllers::new(),
            (0, 0, 0, 0),
        ),
        (
            "minAvailable 50% of a scale of 4 rounds up",
            min("50%".into()),
            three_ready(),
            Controllers::from([scale("rs1", 4)]),
            (4, 2, 3, 1),
        ),
        (
            "minAvailable 34% of 3 is 2",
            min("34%".into()),
            three_ready(),
            rs3(),
            (3, 2, 3, 1),
        ),
        (
            "maxUnavailable 1 of a scale of 3",
            max(1.into()),
            three_ready(),
            rs3(),
            (3, 2, 3, 1),
        ),
        (
            "maxUnavailable 1, one pod missing from the scale",
            max(1.into()),
            vec![pod("a", true, Some("rs1")), pod("b", true, Some("rs1"))],
            rs3(),
            (3, 2, 2, 0),
        ),
        (
            "maxUnavailable 30% of 3 rounds up to 1",
            max("30%".into()),
            three_ready(),
            rs3(),
            (3, 2, 3, 1),
        ),
        (
            "maxUnavailable 100%: everything may go",
            max("100%".into()),
            three_ready(),
            rs3(),
            (3, 0, 3, 3),
        ),
        (
            "maxUnavailable over two controllers sums their scales once each",
            max(1.into()),
            vec![
                pod("a", true, Some("rs1")),
                pod("b", true, Some("rs1")),
                pod("c", true, Some("rs2")),
            ],
            Controllers::from([scale("rs1", 2), scale("rs2", 2)]),
            (4, 3, 3, 0),
        ),
        (
            "a Deployment counts once for its ReplicaSets",
            max(1.into()),
            vec![pod("a", true, Some("rs1")), pod("b", true, Some("rs2"))],
            Controllers::from([
                (
                    "rs1".to_owned(),
                    Controller::Found {
                        uid: "deploy".into(),
                        scale: 2,
                    },
                ),
                (
                    "rs2".to_owned(),
                    Controller::Found {
                        uid: "deploy".into(),
                        scale: 2,
                    },
                ),
            ]),
            (2, 1, 2, 1),
        ),
        (
            "unmanaged pods add nothing to the scale",
            max(1.into()),
            vec![pod("a", true, Some("rs1")), pod("b", true, None)],
            Controllers::from([scale("rs1", 1)]),
            (1, 0, 2, 2),
        ),
        (
            "minAvailable as a number ignores controllers",
            min(1.into()),
            vec![pod("a", true, None), pod("b", true, None)],
            Controllers::new(),
            (2, 1, 2, 1),
        ),
    ];
    for (name, spec, pods, controllers, want) in cases {
        let pdb = budget(spec);
        let refs: Vec<&Pod> = pods.iter().collect();
        let p = plan(&pdb, &refs, &controllers, NOW);
        let s = p.status.expect(name);
        assert_eq!(
            (
                s.expected_pods,
                s.desired_healthy,
                s.current_healthy,
                s.disruptions_allowed
            ),
            want,
            "{name}"
        );
        assert_eq!(s.observed_generation, 1, "{name}");
        let cond = s
            .conditions
            .iter()
            .find(|c| c.type_ == DISRUPTION_ALLOWED)
            .unwrap();
        let (status, reason) = if want.3 > 0 {
            (ConditionStatus::True, SUFFICIENT_PODS)
        } else {
            (ConditionStatus::False, INSUFFICIENT_PODS)
        };
        assert_eq!(
            (cond.status, cond.reason.as_str()),
            (status, reason),
            "{name}"
        );
        assert_eq!(cond.last_transition_time, Some(NOW), "{name}");
    }
}

#[test]
fn an_up_to_date_status_is_not_written_again() {
    let pdb = budget(min(1.into()));
    let pods = [pod("a", true, None), pod("b", true, None)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let first = plan(&pdb, &refs, &Controllers::new(), NOW);
    let mut synced = pdb.clone();
    synced.status = first.status.unwrap();
    let again = plan(&synced, &refs, &Controllers::new(), Time(NOW.0 + 5));
    assert_eq!(again.status, None);
    assert_eq!(again.requeue_after, None);

    // A new generation is observed even when the counts stay.
    synced.metadata.generation = 2;
    let moved = plan(&synced, &refs, &Controllers::new(), Time(NOW.0 + 5));
    let s = moved.status.unwrap();
    assert_eq!(s.observed_generation, 2);
    // The condition's status did not change: its transition time stays.
    let cond = s
        .conditions
        .iter()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
        .unwrap();
    assert_eq!(cond.last_transition_time, Some(NOW));
    assert_eq!(cond.observed_generation, 2);
}

#[test]
fn disrupted_pods_count_as_unhealthy_until_they_expire() {
    let timeout = DELETION_TIMEOUT.as_secs() as i64;
    let mut pdb = budget(min(1.into()));
    pdb.status.disrupted_pods = [
        ("a".to_owned(), Time(NOW.0 - 10)),
        ("b".to_owned(), Time(NOW.0 - timeout - 1)),
        ("gone".to_owned(), Time(NOW.0 - 10)),
        ("c".to_owned(), Time(NOW.0 - 30)),
    ]
    .into();
    let pods = [
        pod("a", true, None),
        pod("b", true, None),
        deleting(pod("c", true, None)),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let p = plan(&pdb, &refs, &Controllers::new(), NOW);
    let s = p.status.unwrap();
    // a: recently evicted, kept and not healthy; b: expired, dropped and healthy again;
    // gone: no such pod; c: being deleted, dropped and not healthy.
    assert_eq!(
        s.disrupted_pods.keys().collect::<Vec<_>>(),
        vec!["a"],
        "kept entries"
    );
    assert_eq!((s.current_healthy, s.disruptions_allowed), (1, 0));
    // Looked at again once a's entry expires.
    assert_eq!(
        p.requeue_after,
        Some(Duration::from_secs(timeout as u64 - 10 + 1))
    );
}

#[test]
fn a_controller_that_cannot_be_found_fails_the_sync_safely() {
    let mut pdb = budget(max(1.into()));
    pdb.status.disruptions_allowed = 2;
    pdb.status.observed_generation = 1;
    let pods = [pod("a", true, Some("rs1"))];
    let refs: Vec<&Pod> = pods.iter().collect();
    for (name, controllers, message) in [
        (
            "unknown",
            Controllers::new(),
            "found no controllers for pod \"a\"",
        ),
        (
            "no scale",
            Controllers::from([(
                "rs1".to_owned(),
                Controller::Failed(
                    "widgets.example.com does not implement the scale subresource".into(),
                ),
            )]),
            "widgets.example.com does not implement the scale subresource",
        ),
    ] {
        let p = plan(&pdb, &refs, &controllers, NOW);
        let s = p.status.expect(name);
        assert_eq!(s.disruptions_allowed, 0, "{name}");
        let cond = s
            .conditions
            .iter()
            .find(|c| c.type_ == DISRUPTION_ALLOWED)
            .unwrap();
        assert_eq!(
            (cond.status, cond.reason.as_str(), cond.message.as_str()),
            (ConditionStatus::False, SYNC_FAILED, message),
            "{name}"
        );
        assert_eq!(p.requeue_after, Some(SYNC_RETRY), "{name}");
        assert!(
            p.events
                .iter()
                .any(|e| e.reason == "CalculateExpectedPodCountFailed"),
            "{name}"
        );
    }
}

#[test]
fn events_for_no_pods_and_unmanaged_pods() {
    let none = plan(&budget(min(1.into())), &[], &Controllers::new(), NOW);
    assert_eq!(
        none.events
            .iter()
            .map(|e| (e.type_, e.reason))
            .collect::<Vec<_>>(),
        vec![("Normal", "NoPods")]
    );
    let pods = [pod("a", true, None)];
    let refs: Vec<&Pod> = pods.iter().collect();
    let unmanaged = plan(&budget(max(1.into())), &refs, &Controllers::new(), NOW);
    assert_eq!(unmanaged.events.len(), 1);
    assert_eq!(unmanaged.events[0].reason, "UnmanagedPods");
    assert!(
        unmanaged.events[0]
            .message
            .contains("set \".spec.minAvailable\" field of the PDB to an integer value"),
        "{}",
        unmanaged.events[0].message
    );
}

#[test]
fn which_budgets_need_the_scale() {
    assert!(!needs_scale(&budget(min(2.into()))));
    assert!(needs_scale(&budget(min("50%".into()))));
    assert!(needs_scale(&budget(max(1.into()))));
    assert!(!needs_scale(&budget(PodDisruptionBudgetSpec::default())));
}
