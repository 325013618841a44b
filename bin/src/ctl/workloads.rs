//! `rudderctl describe` and `rudderctl rollout status`: what `kubectl describe` and
//! `kubectl rollout status` show, through the `apiserver` actor on the bus.

use std::time::Duration;

use anyhow::{bail, Context as _};
use rudder_protocol::client::{Api, Client};
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{Deployment, Event, Time};
use serde_json::Value;

use super::objects::{fetch, resolve};

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn map_lines(v: Option<&Value>) -> Vec<String> {
    match v.and_then(Value::as_object) {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect(),
        _ => vec!["<none>".into()],
    }
}

fn field(out: &mut String, name: &str, value: impl std::fmt::Display) {
    out.push_str(&format!("{:<18}{value}\n", format!("{name}:")));
}

fn multi(out: &mut String, name: &str, lines: &[String]) {
    for (i, l) in lines.iter().enumerate() {
        let label = if i == 0 {
            format!("{name}:")
        } else {
            String::new()
        };
        out.push_str(&format!("{label:<18}{l}\n"));
    }
}

fn age(t: Time, now: Time) -> String {
    match (now.unix() - t.unix()).max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn conditions(out: &mut String, obj: &Value) {
    let Some(conds) = obj.pointer("/status/conditions").and_then(Value::as_array) else {
        return;
    };
    out.push_str(
        "Conditions:\n  Type              Status  Reason\n  ----              ------  ------\n",
    );
    for c in conds {
        out.push_str(&format!(
            "  {:<17} {:<7} {}\n",
            s(c, "/type"),
            s(c, "/status"),
            s(c, "/reason")
        ));
    }
}

fn containers(out: &mut String, obj: &Value, spec_ptr: &str) {
    let Some(cs) = obj.pointer(spec_ptr).and_then(Value::as_array) else {
        return;
    };
    out.push_str("Containers:\n");
    let statuses = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in cs {
        let name = s(c, "/name");
        out.push_str(&format!("  {name}:\n"));
        out.push_str(&format!("    Image:          {}\n", s(c, "/image")));
        if let Some(ports) = c.get("ports").and_then(Value::as_array) {
            let p: Vec<String> = ports
                .iter()
                .map(|p| {
                    format!(
                        "{}/{}",
                        p["containerPort"],
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    )
                })
                .collect();
            out.push_str(&format!("    Port:           {}\n", p.join(", ")));
        }
        if let Some(st) = statuses.iter().find(|st| s(st, "/name") == name) {
            let (state, detail) = match st.get("state").and_then(Value::as_object) {
                Some(m) if m.contains_key("running") => ("Running", String::new()),
                Some(m) if m.contains_key("waiting") => {
                    ("Waiting", s(st, "/state/waiting/reason").to_owned())
                }
                Some(m) if m.contains_key("terminated") => (
                    "Terminated",
                    format!(
                        "{} (exit code {})",
                        s(st, "/state/terminated/reason"),
                        st.pointer("/state/terminated/exitCode")
                            .cloned()
                            .unwrap_or_default()
                    ),
                ),
                _ => ("Unknown", String::new()),
            };
            out.push_str(&format!("    State:          {state}\n"));
            if !detail.is_empty() {
                out.push_str(&format!("      Reason:       {detail}\n"));
            }
            out.push_str(&format!("    Ready:          {}\n", st["ready"]));
            out.push_str(&format!("    Restart Count:  {}\n", st["restartCount"]));
        }
    }
}

/// The text `kubectl describe` prints for `obj` (before its events).
pub fn describe_text(kind: &str, obj: &Value) -> String {
    let mut out = String::new();
    field(&mut out, "Name", s(obj, "/metadata/name"));
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        field(&mut out, "Namespace", ns);
    }
    multi(
        &mut out,
        "Labels",
        &map_lines(obj.pointer("/metadata/labels")),
    );
    multi(
        &mut out,
        "Annotations",
        &map_lines(obj.pointer("/metadata/annotations")),
    );
    field(
        &mut out,
        "CreationTimestamp",
        s(obj, "/metadata/creationTimestamp"),
    );
    match kind {
        "Pod" => {
            field(&mut out, "Node", s(obj, "/spec/nodeName"));
            field(&mut out, "Status", s(obj, "/status/phase"));
            field(&mut out, "IP", s(obj, "/status/podIP"));
            if let Some(owner) = obj
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .and_then(|o| o.first())
            {
                field(
                    &mut out,
                    "Controlled By",
                    format!("{}/{}", s(owner, "/kind"), s(owner, "/name")),
                );
            }
            containers(&mut out, obj, "/spec/containers");
            conditions(&mut out, obj);
        }
        "Deployment" | "ReplicaSet" | "ReplicationController" => {
            let st = |k: &str| {
                obj.pointer(&format!("/status/{k}"))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            let desired = obj
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if kind == "Deployment" {
                field(
                    &mut out,
                    "Replicas",
                    format!(
                        "{desired} desired | {} updated | {} total | {} available | {} unavailable",
                        st("updatedReplicas"),
                        st("replicas"),
                        st("availableReplicas"),
                        st("unavailableReplicas")
                    ),
                );
                let strategy = s(obj, "/spec/strategy/type");
                field(
                    &mut out,
                    "StrategyType",
                    if strategy.is_empty() {
                        "RollingUpdate"
                    } else {
                        strategy
                    },
                );
            } else {
                field(
                    &mut out,
                    "Replicas",
                    format!("{} current / {desired} desired", st("replicas")),
                );
                field(
                    &mut out,
                    "Pods Status",
                    format!("{} Ready", st("readyReplicas")),
                );
            }
            containers(&mut out, obj, "/spec/template/spec/containers");
            conditions(&mut out, obj);
        }
        "Service" => {
            field(&mut out, "Type", s(obj, "/spec/type"));
            field(&mut out, "IP", s(obj, "/spec/clusterIP"));
            multi(
                &mut out,
                "Selector",
                &map_lines(obj.pointer("/spec/selector")),
            );
        }
        "Node" => {
            field(&mut out, "PodCIDR", s(obj, "/spec/podCIDR"));
            field(
                &mut out,
                "Unschedulable",
                obj.pointer("/spec/unschedulable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            );
            conditions(&mut out, obj);
        }
        _ => {}
    }
    out
}

fn events_text(events: &[Event], now: Time) -> String {
    if events.is_empty() {
        return "Events:            <none>\n".into();
    }
    let mut out = String::from(
        "Events:\n  Type    Reason  Age  From  Message\n  ----    ------  ---  ----  -------\n",
    );
    for e in events {
        let when = e
            .last_timestamp
            .or(e.first_timestamp)
            .map(|t| age(t, now))
            .unwrap_or_else(|| "<unknown>".into());
        let from = if e.source.component.is_empty() {
            e.reporting_component.clone()
        } else {
            e.source.component.clone()
        };
        out.push_str(&format!(
            "  {}  {}  {when}  {from}  {}\n",
            e.type_, e.reason, e.message
        ));
    }
    out
}

/// `rudderctl describe RESOURCE NAME`.
pub async fn describe(
    client: &Client,
    resource: &str,
    name: &str,
    namespace: Option<&str>,
) -> anyhow::Result<()> {
    let info = resolve(resource)?;
    let ns = info.namespaced.then(|| namespace.unwrap_or("default"));
    let obj = fetch(client, info, ns, name).await?;
    print!("{}", describe_text(info.kind, &obj));
    let events: Api<Event> = client.api(ns);
    let mut selector = format!(
        "involvedObject.name={name},involvedObject.kind={}",
        info.kind
    );
    if let Some(ns) = ns {
        selector.push_str(&format!(",involvedObject.namespace={ns}"));
    }
    let mut list = events
        .list(&ListParams {
            field_selector: Some(selector),
            ..ListParams::default()
        })
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.sort_by_key(|e| e.last_timestamp.or(e.first_timestamp));
    print!("{}", events_text(&list, Time::now()));
    Ok(())
}

/// What `kubectl rollout status` says of a Deployment, and whether the rollout is done.
pub fn rollout_message(d: &Deployment) -> anyhow::Result<(String, bool)> {
    let name = &d.metadata.name;
    if d.metadata.generation > d.status.observed_generation {
        return Ok((
            "Waiting for deployment spec update to be observed...".into(),
            false,
        ));
    }
    if d.status
        .conditions
        .iter()
        .any(|c| c.type_ == "Progressing" && c.reason == "ProgressDeadlineExceeded")
    {
        bail!("deployment {name:?} exceeded its progress deadline");
    }
    let want = d.spec.replicas.unwrap_or(1);
    let st = &d.status;
    Ok(if st.updated_replicas < want {
        (
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} out of {want} new replicas have been updated...",
                st.updated_replicas
            ),
            false,
        )
    } else if st.replicas > st.updated_replicas {
        (
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
                st.replicas - st.updated_replicas
            ),
            false,
        )
    } else if st.available_replicas < st.updated_replicas {
        (
            format!(
                "Waiting for deployment {name:?} rollout to finish: {} of {} updated replicas are available...",
                st.available_replicas, st.updated_replicas
            ),
            false,
        )
    } else {
        (format!("deployment {name:?} successfully rolled out"), true)
    })
}

/// `rudderctl rollout status deployment/NAME`: prints each new progress line until the
/// rollout is complete, fails, or `timeout` passes.
pub async fn rollout_status(
    client: &Client,
    target: &str,
    namespace: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let (kind, name) = target
        .split_once('/')
        .context("expected TYPE/NAME, e.g. deployment/web")?;
    if resolve(kind)?.kind != "Deployment" {
        bail!("rollout status is supported for deployments only");
    }
    let api: Api<Deployment> = client.api(Some(namespace.unwrap_or("default")));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::new();
    let params = ListParams {
        field_selector: Some(format!("metadata.name={name}")),
        ..ListParams::default()
    };
    let mut rv = 0;
    loop {
        let d = api.get(name).await?;
        if rv == 0 {
            rv = d.metadata.resource_version.parse().unwrap_or(0);
        }
        let (msg, done) = rollout_message(&d)?;
        if msg != last {
            println!("{msg}");
            last = msg;
        }
        if done {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            bail!("timed out waiting for the rollout of deployment {name:?}");
        }
        match api
            .watch_poll(&params, rv, left.min(Duration::from_secs(5)))
            .await
        {
            Ok((_, next)) => rv = next,
            Err(e) if e.is_gone() => rv = 0,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `rudderctl logs POD`: the container's log, read from the kubelet of the pod's node
/// over the bus; with `follow`, keeps reading while the container runs.
pub async fn logs(
    client: &Client,
    pod: &str,
    namespace: Option<&str>,
    container: Option<&str>,
    follow: bool,
    tail: Option<i64>,
    previous: bool,
) -> anyhow::Result<()> {
    use rudder_protocol::messages::kubelet::{
        KubeletReply, KubeletRequest, LogRequest, MAX_LOG_CHUNK,
    };
    use std::io::Write as _;
    let ns = namespace.unwrap_or("default");
    let pods: Api<rudder_protocol::resources::Pod> = client.api(Some(ns));
    let p = pods.get(pod).await?;
    if p.spec.node_name.is_empty() {
        bail!("pod {pod:?} is not scheduled to a node yet");
    }
    let kubelet = rudder_protocol::ActorRef::new(
        p.spec.node_name.as_str(),
        rudder_protocol::names::actors::KUBELET,
    );
    let mut offset = 0;
    let mut out = std::io::stdout();
    loop {
        let req = KubeletRequest::Logs(LogRequest {
            namespace: ns.to_owned(),
            pod: pod.to_owned(),
            container: container.unwrap_or_default().to_owned(),
            previous,
            tail_lines: if offset == 0 { tail } else { None },
            offset,
            max_bytes: MAX_LOG_CHUNK,
            ..LogRequest::default()
        });
        match client.call(kubelet.clone(), req).await? {
            KubeletReply::Logs {
                chunk,
                next_offset,
                running,
            } => {
                out.write_all(&chunk)?;
                out.flush()?;
                offset = next_offset;
                if chunk.is_empty() {
                    if !follow || !running {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            KubeletReply::Error { code, message } => {
                bail!("Error from the kubelet ({code}): {message}")
            }
            other => bail!("unexpected reply from the kubelet: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::{DeploymentCondition, DeploymentStatus, ObjectMeta};

    fn deploy(generation: i64, want: i32, status: DeploymentStatus) -> Deployment {
        let mut d = Deployment {
            metadata: ObjectMeta {
                name: "web".into(),
                generation,
                ..ObjectMeta::default()
            },
            status,
            ..Deployment::default()
        };
        d.spec.replicas = Some(want);
        d
    }

    #[test]
    fn rollout_messages_follow_kubectl() {
        let st = |og, r, u, a| DeploymentStatus {
            observed_generation: og,
            replicas: r,
            updated_replicas: u,
            available_replicas: a,
            ..DeploymentStatus::default()
        };
        let cases = [
            ("not observed", deploy(2, 3, st(1, 3, 3, 3)), "Waiting for deployment spec update to be observed...", false),
            ("updating", deploy(2, 3, st(2, 4, 1, 3)), "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...", false),
            ("old pending", deploy(2, 3, st(2, 4, 3, 3)), "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...", false),
            ("availability", deploy(2, 3, st(2, 3, 3, 2)), "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...", false),
            ("done", deploy(2, 3, st(2, 3, 3, 3)), "deployment \"web\" successfully rolled out", true),
        ];
        for (name, d, want, done) in cases {
            let (msg, finished) = rollout_message(&d).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((msg.as_str(), finished), (want, done), "{name}");
        }
        let mut stuck = deploy(1, 3, st(1, 3, 1, 1));
        stuck.status.conditions.push(DeploymentCondition {
            type_: "Progressing".into(),
            reason: "ProgressDeadlineExceeded".into(),
            ..DeploymentCondition::default()
        });
        assert!(rollout_message(&stuck).is_err());
    }

    #[test]
    fn describe_shows_pod_essentials() {
        let pod = serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "rudder/demo:1"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5",
                "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "state": {"running": {}}}],
                "conditions": [{"type": "Ready", "status": "True"}]},
        });
        let text = describe_text("Pod", &pod);
        for want in [
            "Name:             p",
            "app=web",
            "Node:             n1",
            "Status:           Running",
            "Image:          rudder/demo:1",
            "Restart Count:  2",
            "Ready             True",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
