//! The protobuf wire format (`application/vnd.kubernetes.protobuf`) against a real
//! `rudderd`, checked with an independent codec: kube-rs's `k8s-pb` messages compiled by
//! prost from the Kubernetes `.proto` files, sent over kube-rs's HTTPS client.
//!
//! - Objects written in protobuf (a Namespace, a Deployment with probes, resources and
//!   volumes, a Service with named and numbered target ports) are stored as sent, and the
//!   same objects read back in JSON and in protobuf agree field by field.
//! - Lists, watches (length-prefixed `WatchEvent` frames, streaming lists with their
//!   end bookmark) and `Status` errors come back in protobuf when asked for.
//! - Bodies in a media type Rudder does not read get `415` with the accepted types, and a
//!   malformed protobuf body gets `400` with the node still serving.

mod common;

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use rudder_tests::Cluster;
use serde_json::Value;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

async fn kube_client(cluster: &Cluster) -> anyhow::Result<kube::Client> {
    common::kube_client(&cluster.nodes[0].kubeconfig()).await
}

struct Answer {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{} {}: {}",
                self.code,
                self.content_type,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The object in the protobuf envelope: its type meta and its message.
    fn protobuf<M: prost::Message + Default>(&self) -> anyhow::Result<(TypeMeta, M)> {
        if self.content_type != PROTOBUF {
            bail!(
                "{} answered {:?}: {}",
                self.code,
                self.content_type,
                String::from_utf8_lossy(&self.body)
            );
        }
        unwrap_envelope(&self.body)
    }
}

fn unwrap_envelope<M: prost::Message + Default>(bytes: &[u8]) -> anyhow::Result<(TypeMeta, M)> {
    let Some(rest) = bytes.strip_prefix(b"k8s\0") else {
        bail!("no k8s\\0 prefix: {bytes:?}");
    };
    let unknown = Unknown::decode(rest)?;
    let message = M::decode(unknown.raw.as_deref().unwrap_or_default())?;
    Ok((unknown.type_meta.unwrap_or_default(), message))
}

fn envelope(api_version: &str, kind: &str, message: &impl prost::Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(message.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = b"k8s\0".to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    accept: &str,
    body: Vec<u8>,
) -> anyhow::Result<Answer> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("accept", accept);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = client
        .send(request.body(kube::client::Body::from(body))?)
        .await?;
    let code = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.into_body().collect_bytes().await?.to_vec();
    Ok(Answer {
        code,
        content_type,
        body,
    })
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn deployment() -> apps::Deployment {
    let container = core::Container {
        name: s("web"),
        image: s("rudder/demo:1"),
        command: vec!["httpd".into(), "-f".into()],
        ports: vec![core::ContainerPort {
            name: s("http"),
            container_port: Some(8080),
            protocol: s("TCP"),
            ..Default::default()
        }],
        env: vec![core::EnvVar {
            name: s("MODE"),
            value: s("blue"),
            ..Default::default()
        }],
        resources: Some(core::ResourceRequirements {
            limits: [("cpu".to_owned(), Quantity { string: s("500m") })].into(),
            requests: [("memory".to_owned(), Quantity { string: s("64Mi") })].into(),
            ..Default::default()
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: s("/healthz"),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("http"),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(7),
            ..Default::default()
        }),
        volume_mounts: vec![core::VolumeMount {
            name: s("scratch"),
            mount_path: s("/scratch"),
            ..Default::default()
        }],
        ..Default::default()
    };
    apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            labels: labels(&[("app", "web"), ("team", "a")]),
            annotations: labels(&[("note", "written in protobuf")]),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    volumes: vec![core::Volume {
                        name: s("scratch"),
                        volume_source: Some(core::VolumeSource {
                            empty_dir: Some(core::EmptyDirVolumeSource {
                                size_limit: Some(Quantity { string: s("1Gi") }),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                    }],
                    termination_grace_period_seconds: Some(0),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// Reads `path` in JSON and in protobuf.
async fn both<M: prost::Message + Default>(
    client: &kube::Client,
    path: &str,
) -> anyhow::Result<(Value, M)> {
    let json = call(client, "GET", path, None, "application/json", Vec::new())
        .await?
        .json()?;
    let (_, message) = call(
        client,
        "GET",
        path,
        None,
        "application/vnd.kubernetes.protobuf, */*",
        Vec::new(),
    )
    .await?
    .protobuf::<M>()?;
    Ok((json, message))
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn number(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn string_map(v: &Value, pointer: &str) -> BTreeMap<String, String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The seconds of an RFC 3339 UTC time (`2026-12-03T10:00:00Z`).
fn unix_seconds(t: &str) -> Option<i64> {
    rudder_protocol::resources::Time::parse(t)
        .ok()
        .map(|t| t.unix())
}

fn same_meta(json: &Value, pb: &meta::ObjectMeta) {
    assert_eq!(text(json, "/metadata/name"), pb.name);
    assert_eq!(text(json, "/metadata/namespace"), pb.namespace);
    assert_eq!(text(json, "/metadata/uid"), pb.uid);
    assert_eq!(text(json, "/metadata/resourceVersion"), pb.resource_version);
    assert_eq!(number(json, "/metadata/generation"), pb.generation);
    assert_eq!(string_map(json, "/metadata/labels"), pb.labels);
    assert_eq!(string_map(json, "/metadata/annotations"), pb.annotations);
    let created = text(json, "/metadata/creationTimestamp").and_then(|t| unix_seconds(&t));
    assert!(created.is_some(), "no creation time: {json}");
    assert_eq!(
        created,
        pb.creation_timestamp.as_ref().and_then(|t| t.seconds)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_written_in_protobuf_read_the_same_in_json_and_protobuf() -> anyhow::Result<()> {
    let (cluster, _) = Cluster::solo(true).await?;
    let client = kube_client(&cluster).await?;

    // A Namespace as `kubectl create namespace` sends it.
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            name: s("shop"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = call(
        &client,
        "POST",
        "/api/v1/namespaces?fieldValidation=Strict",
        Some(PROTOBUF),
        "application/vnd.kubernetes.protobuf, */*",
        envelope("v1", "Namespace", &ns),
    )
    .await?;
    assert_eq!(
        created.code,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let (type_meta, back) = created.protobuf::<core::Namespace>()?;
    assert_eq!(type_meta.api_version.as_deref(), Some("v1"));
    assert_eq!(type_meta.kind.as_deref(), Some("Namespace"));
    assert_eq!(
        back.metadata.as_ref().and_then(|m| m.name.as_deref()),
        Some("shop")
    );
    assert_eq!(
        back.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Active")
    );
    let (json, pb) = both::<core::Namespace>(&client, "/api/v1/namespaces/shop").await?;
    same_meta(&json, pb.metadata.as_ref().context("metadata")?);

    // A Deployment with the parts that have a JSON form of their own.
    let created = call(
        &client,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        Some(PROTOBUF),
        PROTOBUF,
        envelope("apps/v1", "Deployment", &deployment()),
    )
    .await?;
    assert_eq!(
        created.code,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let (json, pb) =
        both::<apps::Deployment>(&client, "/apis/apps/v1/namespaces/shop/deployments/web").await?;
    let meta_pb = pb.metadata.as_ref().context("metadata")?;
    same_meta(&json, meta_pb);
    let spec = pb.spec.as_ref().context("spec")?;
    // replicas: 0 is a choice, kept in both encodings.
    assert_eq!(spec.replicas, Some(0));
    assert_eq!(number(&json, "/spec/replicas"), Some(0));
    assert_eq!(
        spec.selector.as_ref().map(|s| s.match_labels.clone()),
        Some(string_map(&json, "/spec/selector/matchLabels"))
    );
    let pod = spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .context("pod spec")?;
    let c = &pod.containers[0];
    let cj = "/spec/template/spec/containers/0";
    assert_eq!(c.image, text(&json, &format!("{cj}/image")));
    assert_eq!(c.image.as_deref(), Some("rudder/demo:1"));
    assert_eq!(c.command, ["httpd", "-f"]);
    assert_eq!(c.ports[0].container_port, Some(8080));
    assert_eq!(
        number(&json, &format!("{cj}/ports/0/containerPort")),
        Some(8080)
    );
    assert_eq!(c.env[0].value.as_deref(), Some("blue"));
    let resources = c.resources.as_ref().context("resources")?;
    assert_eq!(resources.limits["cpu"].string.as_deref(), Some("500m"));
    assert_eq!(
        text(&json, &format!("{cj}/resources/limits/cpu")).as_deref(),
        Some("500m")
    );
    assert_eq!(resources.requests["memory"].string.as_deref(), Some("64Mi"));
    // The probe's handler is a message of its own in protobuf, inlined in JSON.
    let probe = c.readiness_probe.as_ref().context("probe")?;
    let get = probe
        .handler
        .as_ref()
        .and_then(|h| h.http_get.as_ref())
        .context("httpGet")?;
    assert_eq!(get.path.as_deref(), Some("/healthz"));
    assert_eq!(
        get.port.as_ref().and_then(|p| p.str_val.as_deref()),
        Some("http")
    );
    assert_eq!(get.port.as_ref().and_then(|p| p.r#type), Some(1));
    assert_eq!(
        text(&json, &format!("{cj}/readinessProbe/httpGet/port")).as_deref(),
        Some("http")
    );
    assert_eq!(probe.period_seconds, Some(7));
    // So is a volume's source.
    let volume = &pod.volumes[0];
    assert_eq!(
        volume
            .volume_source
            .as_ref()
            .and_then(|v| v.empty_dir.as_ref())
            .and_then(|e| e.size_limit.as_ref())
            .and_then(|q| q.string.as_deref()),
        Some("1Gi")
    );
    assert_eq!(
        text(&json, "/spec/template/spec/volumes/0/emptyDir/sizeLimit").as_deref(),
        Some("1Gi")
    );
    assert_eq!(pod.termination_grace_period_seconds, Some(0));
    // Defaults the server applied show in both.
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.r#type.clone()),
        text(&json, "/spec/strategy/type")
    );
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.r#type.as_deref()),
        Some("RollingUpdate")
    );
    assert_eq!(
        pod.restart_policy.as_deref(),
        text(&json, "/spec/template/spec/restartPolicy").as_deref()
    );

    // A Service: a named and a numbered target port (IntOrString both ways), and the
    // allocated cluster IP.
    let service = core::Service {
        metadata: Some(meta::ObjectMeta {
            name: s("web"),
            ..Default::default()
        }),
        spec: Some(core::ServiceSpec {
            selector: labels(&[("app", "web")]),
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    port: Some(80),
                    target_port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: s("http"),
                    }),
                    protocol: s("TCP"),
                    ..Default::default()
                },
                core::ServicePort {
                    name: s("alt"),
                    port: Some(81),
                    target_port: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(8081),
                        str_val: s(""),
                    }),
                    protocol: s("TCP"),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        status: None,
    };
    let created = call(
        &client,
        "POST",
        "/api/v1/namespaces/shop/services",
        Some(PROTOBUF),
        PROTOBUF,
        envelope("v1", "Service", &service),
    )
    .await?;
    assert_eq!(
        created.code,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let (json, pb) = both::<core::Service>(&client, "/api/v1/namespaces/shop/services/web").await?;
    let spec = pb.spec.as_ref().context("spec")?;
    assert_eq!(spec.cluster_ip, text(&json, "/spec/clusterIP"));
    assert!(spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty()));
    assert_eq!(
        spec.cluster_ips,
        vec![spec.cluster_ip.clone().unwrap_or_default()]
    );
    assert_eq!(
        spec.ports[0]
            .target_port
            .as_ref()
            .and_then(|p| p.str_val.as_deref()),
        Some("http")
    );
    assert_eq!(
        text(&json, "/spec/ports/0/targetPort").as_deref(),
        Some("http")
    );
    assert_eq!(
        spec.ports[1].target_port.as_ref().and_then(|p| p.int_val),
        Some(8081)
    );
    assert_eq!(number(&json, "/spec/ports/1/targetPort"), Some(8081));
    // Kubernetes always returns the status block.
    assert!(pb.status.is_some());
    Ok(())
}

/// The frames of a protobuf watch body: (type, object bytes in the envelope).
fn frames(mut body: &[u8]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let Some((len, rest)) = body.split_first_chunk::<4>() else {
            bail!("a truncated frame length");
        };
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            bail!("a frame of {len} bytes with {} left", rest.len());
        }
        let event = meta::WatchEvent::decode(&rest[..len])?;
        out.push((
            event.r#type.unwrap_or_default(),
            event.object.and_then(|o| o.raw).unwrap_or_default(),
        ));
        body = &rest[len..];
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_watches_and_errors_in_protobuf() -> anyhow::Result<()> {
    let (cluster, _) = Cluster::solo(true).await?;
    let client = kube_client(&cluster).await?;
    for name in ["red", "blue"] {
        let ns = core::Namespace {
            metadata: Some(meta::ObjectMeta {
                name: s(name),
                labels: labels(&[("color", name)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = call(
            &client,
            "POST",
            "/api/v1/namespaces",
            Some(PROTOBUF),
            PROTOBUF,
            envelope("v1", "Namespace", &ns),
        )
        .await?;
        assert_eq!(created.code, 201);
    }

    // A list.
    let list = call(
        &client,
        "GET",
        "/api/v1/namespaces?labelSelector=color",
        None,
        PROTOBUF,
        Vec::new(),
    )
    .await?;
    let (type_meta, list) = list.protobuf::<core::NamespaceList>()?;
    assert_eq!(type_meta.kind.as_deref(), Some("NamespaceList"));
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter_map(|n| n.metadata.as_ref()?.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["blue", "red"]);
    let revision = list
        .metadata
        .as_ref()
        .and_then(|m| m.resource_version.clone())
        .context("list revision")?;

    // What client-go's metadata informers ask for: the metadata alone.
    let metadata = call(
        &client,
        "GET",
        "/api/v1/namespaces?labelSelector=color",
        None,
        "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        Vec::new(),
    )
    .await?;
    let (type_meta, partial) = metadata.protobuf::<meta::PartialObjectMetadataList>()?;
    assert_eq!(type_meta.kind.as_deref(), Some("PartialObjectMetadataList"));
    assert_eq!(type_meta.api_version.as_deref(), Some("meta.k8s.io/v1"));
    let mut partial_names: Vec<String> = partial
        .items
        .iter()
        .filter_map(|p| p.metadata.as_ref()?.name.clone())
        .collect();
    partial_names.sort();
    assert_eq!(partial_names, ["blue", "red"]);

    // A streaming list: the objects, then the bookmark that ends them, in frames.
    let watch = call(
        &client,
        "GET",
        "/api/v1/namespaces?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=color&timeoutSeconds=2",
        None,
        "application/vnd.kubernetes.protobuf, application/json",
        Vec::new(),
    )
    .await?;
    assert_eq!(watch.code, 200);
    assert_eq!(
        watch.content_type,
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let events = frames(&watch.body)?;
    let kinds: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds[..3], ["ADDED", "ADDED", "BOOKMARK"], "{kinds:?}");
    let (_, first) = unwrap_envelope::<core::Namespace>(&events[0].1)?;
    assert!(first.metadata.and_then(|m| m.name).is_some());
    let (type_meta, bookmark) = unwrap_envelope::<core::Namespace>(&events[2].1)?;
    assert_eq!(type_meta.kind.as_deref(), Some("Namespace"));
    let annotations = bookmark.metadata.map(|m| m.annotations).unwrap_or_default();
    assert_eq!(
        annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );

    // A watch from the list's revision sees a change as a MODIFIED frame.
    let path = "/api/v1/namespaces/red";
    let patched = call(
        &client,
        "PATCH",
        path,
        Some("application/merge-patch+json"),
        PROTOBUF,
        br#"{"metadata":{"labels":{"shade":"dark"}}}"#.to_vec(),
    )
    .await?;
    let (_, red) = patched.protobuf::<core::Namespace>()?;
    assert_eq!(
        red.metadata
            .map(|m| m.labels)
            .unwrap_or_default()
            .get("shade")
            .map(String::as_str),
        Some("dark")
    );
    let watch = call(
        &client,
        "GET",
        &format!("/api/v1/namespaces?watch=true&resourceVersion={revision}&timeoutSeconds=1"),
        None,
        PROTOBUF,
        Vec::new(),
    )
    .await?;
    let events = frames(&watch.body)?;
    let modified: Vec<String> = events
        .iter()
        .filter(|(t, _)| t == "MODIFIED")
        .filter_map(|(_, raw)| {
            let (_, ns) = unwrap_envelope::<core::Namespace>(raw).ok()?;
            ns.metadata?.name
        })
        .collect();
    assert_eq!(modified, ["red"]);

    // Errors are Status objects in protobuf too.
    let missing = call(
        &client,
        "GET",
        "/api/v1/namespaces/nope",
        None,
        PROTOBUF,
        Vec::new(),
    )
    .await?;
    assert_eq!(missing.code, 404);
    let (type_meta, status) = missing.protobuf::<meta::Status>()?;
    assert_eq!(type_meta.kind.as_deref(), Some("Status"));
    assert_eq!(status.code, Some(404));
    assert_eq!(status.reason.as_deref(), Some("NotFound"));

    // A media type Rudder does not read: 415, naming the ones it does.
    let cbor = call(
        &client,
        "POST",
        "/api/v1/namespaces",
        Some("application/cbor"),
        "application/json",
        vec![0xa0],
    )
    .await?;
    assert_eq!(cbor.code, 415);
    let status = cbor.json()?;
    assert_eq!(status["reason"], "UnsupportedMediaType");
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.contains("application/vnd.kubernetes.protobuf")),
        "{status}"
    );
    // A malformed protobuf body: 400, and the node still serves with its data intact.
    let mut broken = envelope("v1", "Namespace", &core::Namespace::default());
    broken.truncate(broken.len() - 1);
    broken.extend_from_slice(&[0x0a, 0xff, 0xff]);
    let bad = call(
        &client,
        "POST",
        "/api/v1/namespaces",
        Some(PROTOBUF),
        "application/json",
        broken,
    )
    .await?;
    assert_eq!(bad.code, 400, "{}", String::from_utf8_lossy(&bad.body));
    let (_, list) = call(
        &client,
        "GET",
        "/api/v1/namespaces?labelSelector=color",
        None,
        PROTOBUF,
        Vec::new(),
    )
    .await?
    .protobuf::<core::NamespaceList>()?;
    assert_eq!(list.items.len(), 2);
    Ok(())
}
