//! Serves `KubeletRequest::Logs`: one chunk of a container's log (see the protocol's
//! module docs for offsets and following).
//!
//! Each chunk re-reads the container's log from the runtime and cuts the asked-for range
//! out of it: simple and stateless (any kubelet instance answers any poll, across
//! restarts), at the price of reading the whole log per poll, which is fine for the logs
//! Rudder's pods write. The whole-log offset keeps a follower's position stable while the
//! log grows.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::stream::StreamExt;
use rudder_protocol::messages::kubelet::{KubeletReply, LogRequest, MAX_LOG_CHUNK};
use rudder_protocol::resources::Time;

use super::runtime::{labels, ContainerRuntime, LogOptions, RunState};

fn error(code: u16, message: String) -> KubeletReply {
    KubeletReply::Error { code, message }
}

/// Answers one log request from `node`'s runtime.
pub async fn serve(rt: Arc<dyn ContainerRuntime>, node: &str, req: LogRequest) -> KubeletReply {
    let want = BTreeMap::from([
        (labels::NODE.to_owned(), node.to_owned()),
        (labels::POD_NAMESPACE.to_owned(), req.namespace.clone()),
        (labels::POD_NAME.to_owned(), req.pod.clone()),
        (labels::KIND.to_owned(), "container".to_owned()),
    ]);
    let all = match rt.list_containers(&want).await {
        Ok(a) => a,
        Err(e) => return error(503, e.to_string()),
    };
    let names: std::collections::BTreeSet<&str> = all
        .iter()
        .map(|c| c.label(labels::CONTAINER_NAME))
        .collect();
    let container = if req.container.is_empty() {
        match names.len() {
            0 => {
                return error(
                    404,
                    format!(
                        "pod {}/{} has no containers on node {node}",
                        req.namespace, req.pod
                    ),
                )
            }
            1 => names
                .iter()
                .next()
                .map(|s| (*s).to_owned())
                .unwrap_or_default(),
            _ => {
                let list: Vec<&str> = names.into_iter().collect();
                return error(
                    400,
                    format!(
                        "a container name must be specified for pod {}, choose one of: [{}]",
                        req.pod,
                        list.join(" ")
                    ),
                );
            }
        }
    } else {
        req.container.clone()
    };
    let mut attempts: Vec<_> = all
        .iter()
        .filter(|c| c.label(labels::CONTAINER_NAME) == container)
        .collect();
    attempts.sort_by_key(|c| c.attempt());
    let chosen = if req.previous {
        attempts.len().checked_sub(2).map(|i| attempts[i])
    } else {
        attempts.last().copied()
    };
    let Some(c) = chosen else {
        let what = if req.previous {
            "previous terminated container"
        } else {
            "container"
        };
        return error(
            404,
            format!("{what} \"{container}\" in pod \"{}\" not found", req.pod),
        );
    };
    let first = req.offset == 0;
    let options = LogOptions {
        follow: false,
        tail_lines: None,
        timestamps: req.timestamps,
        since: req
            .since_seconds
            .filter(|_| first)
            .map(|s| Time::now().unix() - s.max(0)),
    };
    let mut stream = rt.logs(&c.id, &options);
    let mut log = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => log.extend_from_slice(&b),
            Err(e) => return error(503, e.to_string()),
        }
    }
    let start = match (first, req.tail_lines) {
        (true, Some(n)) => {
            let tail = super::fake::tail(&log, usize::try_from(n.max(0)).unwrap_or(0));
            log.len() - tail.len()
        }
        _ => usize::try_from(req.offset)
            .unwrap_or(usize::MAX)
            .min(log.len()),
    };
    let max = req.max_bytes.clamp(1, MAX_LOG_CHUNK) as usize;
    let end = (start + max).min(log.len());
    KubeletReply::Logs {
        chunk: log[start..end].to_vec(),
        next_offset: end as u64,
        running: c.state == RunState::Running || end < log.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::fake::FakeRuntime;
    use crate::kubelet::runtime::ContainerSpec;

    async fn runtime_with_log(log: &[u8]) -> (FakeRuntime, String) {
        let rt = FakeRuntime::new();
        rt.add_image("img");
        let labels = BTreeMap::from([
            (labels::NODE.to_owned(), "n1".to_owned()),
            (labels::POD_NAMESPACE.to_owned(), "default".to_owned()),
            (labels::POD_NAME.to_owned(), "web".to_owned()),
            (labels::KIND.to_owned(), "container".to_owned()),
            (labels::CONTAINER_NAME.to_owned(), "app".to_owned()),
            (labels::ATTEMPT.to_owned(), "0".to_owned()),
        ]);
        let id = rt
            .create_container(&ContainerSpec {
                name: "app0".into(),
                image: "img".into(),
                labels,
                ..Default::default()
            })
            .await
            .expect("created");
        rt.start_container(&id).await.expect("started");
        rt.append_log(&id, log);
        (rt, id)
    }

    #[tokio::test]
    async fn chunks_tail_and_follow_offsets() {
        let (rt, id) = runtime_with_log(b"one\ntwo\nthree\n").await;
        let rt: Arc<dyn ContainerRuntime> = Arc::new(rt.clone());
        let req = |offset, tail, max| LogRequest {
            namespace: "default".into(),
            pod: "web".into(),
            offset,
            tail_lines: tail,
            max_bytes: max,
            ..Default::default()
        };
        let cases: [(&str, LogRequest, &[u8], u64); 4] = [
            ("whole log", req(0, None, 1000), b"one\ntwo\nthree\n", 14),
            (
                "tail 1 in whole-log offsets",
                req(0, Some(1), 1000),
                b"three\n",
                14,
            ),
            ("small chunks", req(0, None, 4), b"one\n", 4),
            ("from an offset", req(4, None, 1000), b"two\nthree\n", 14),
        ];
        for (name, r, want, next) in cases {
            match serve(rt.clone(), "n1", r).await {
                KubeletReply::Logs {
                    chunk,
                    next_offset,
                    running,
                } => {
                    assert_eq!(chunk, want.to_vec(), "{name}");
                    assert_eq!(next_offset, next, "{name}");
                    assert!(running, "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let _ = id;
        match serve(
            rt.clone(),
            "n1",
            LogRequest {
                pod: "nope".into(),
                ..req(0, None, 10)
            },
        )
        .await
        {
            KubeletReply::Error { code, .. } => assert_eq!(code, 404),
            other => panic!("missing pod: {other:?}"),
        }
    }
}
