//! Test fixtures shared by the worker's tests.

use std::collections::BTreeMap;

use rudder_protocol::resources::{Container, ObjectMeta, Pod, RestartPolicy};

use crate::kubelet::runtime::{labels, ContainerInfo, RunState};

pub(super) fn info(
    id: &str,
    name: &str,
    attempt: u32,
    state: RunState,
    exit_code: i64,
) -> ContainerInfo {
    let mut labels = BTreeMap::from([
        (labels::POD_UID.to_owned(), "uid-1".to_owned()),
        (labels::ATTEMPT.to_owned(), attempt.to_string()),
    ]);
    if name.is_empty() {
        labels.insert(labels::KIND.into(), "sandbox".into());
    } else {
        labels.insert(labels::KIND.into(), "container".into());
        labels.insert(labels::CONTAINER_NAME.into(), name.into());
    }
    ContainerInfo {
        id: id.into(),
        name: format!("{name}-{attempt}"),
        image: "img".into(),
        image_id: "sha256:img".into(),
        labels,
        state,
        exit_code,
        oom_killed: false,
        error: String::new(),
        started_at: Some(1000),
        finished_at: (state == RunState::Exited).then_some(1005),
        ip: name.is_empty().then(|| "10.244.1.2".to_owned()),
    }
}

pub(super) fn pod(policy: RestartPolicy) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta {
            name: "web".into(),
            namespace: "default".into(),
            uid: "uid-1".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    p.spec.restart_policy = Some(policy);
    p.spec.node_name = "n1".into();
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: "rudder/demo:1".into(),
        ..Default::default()
    }];
    p
}
