//! ConfigMaps and Secrets through the API, against real `rudderd` processes.
//!
//! - **Encryption at rest**: with a key file configured, no file of the node's data dir
//!   (RocksDB's log, tables and the Raft snapshot it keeps) holds a Secret's value, in
//!   plain or in base64, while a ConfigMap's value is there to be found; the Secret
//!   reads back; a new key put first still reads the old Secrets and seals new writes;
//!   once the old key is dropped, a Secret it sealed is an error for that object alone.
//! - **Helm's release storage**: Secrets of type `helm.sh/release.v1` with a 500 KiB
//!   payload, created, listed by label selector and updated as Helm's Secret driver does
//!   (kube-rs).
//! - **Bad input**: refused with `422` and Kubernetes' message, nothing stored.
//! - **kubectl** (the newest): `create configmap|secret` generators, `get` tables,
//!   `-o jsonpath` of a Secret's data.
//! - **Protobuf**: `bytes` fields (Secret.data, ConfigMap.binaryData) raw on the wire,
//!   checked with the k8s-pb messages.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{ListParams, PostParams};
use kube::Api;
use prost::Message as _;
use rudder_tests::{eventually, Cluster, NodeProc};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key file with keys named and seeded as given (the first encrypts).
fn key_file(keys: &[(&str, u8)]) -> String {
    keys.iter()
        .map(|(name, seed)| {
            let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(31) ^ seed).collect();
            format!(
                "[[key]]\nname = \"{name}\"\nsecret = \"{}\"\n",
                B64.encode(secret)
            )
        })
        .collect()
}

/// A one-node control plane whose store snapshots every 20 entries, encrypting Secrets
/// with the keys of `<cluster dir>/keys.toml` when `keys` is given.
fn spec(cluster: &Cluster, keys: Option<&[(&str, u8)]>) -> anyhow::Result<rudder_tests::NodeSpec> {
    let dir = cluster.dir.path();
    let mut config = String::from(
        "cluster_id = \"rudder-test\"\nlisten = \"127.0.0.1:0\"\nroles = [\"control-plane\"]\n\n[store]\nsnapshot_every = 20\n",
    );
    if let Some(keys) = keys {
        let file = dir.join("keys.toml");
        std::fs::write(&file, key_file(keys))?;
        config.push_str(&format!(
            "\n[apiserver]\nencryption_keys_file = \"{}\"\n",
            file.display()
        ));
    }
    let path = dir.join("node.toml");
    std::fs::write(&path, config)?;
    let mut spec = cluster.spec("single-node.toml", "cfg");
    spec.config = path;
    Ok(spec)
}

/// Starts the node of `spec` and waits until its API serves the `default` namespace.
async fn start(spec: rudder_tests::NodeSpec) -> anyhow::Result<(NodeProc, kube::Client)> {
    let node = NodeProc::start(spec).await?;
    let client = common::kube_client(&node.kubeconfig()).await?;
    let c = client.clone();
    eventually(Duration::from_secs(20), move || {
        let api: Api<Namespace> = Api::all(c.clone());
        async move { Ok(api.get_opt("default").await?.map(|_| ())) }
    })
    .await?;
    Ok((node, client))
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)?
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    Ok(found)
}

fn secret(name: &str, data: &[(&str, &[u8])]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.data = Some(
        data.iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
            .collect(),
    );
    s
}

fn value_of(s: &Secret, key: &str) -> Option<Vec<u8>> {
    s.data.as_ref()?.get(key).map(|b| b.0.clone())
}

/// The API error's code and message.
fn api_error<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> anyhow::Result<(u16, String)> {
    match r {
        Err(kube::Error::Api(e)) => Ok((e.code, e.message)),
        other => bail!("wanted an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_encrypted_at_rest_and_keys_rotate() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    let data_dir = cluster.dir.path().join("cfg");
    let (p1, p2, p3) = (
        b"plaintext-password-c0ffee-1".as_slice(),
        b"plaintext-password-c0ffee-2".as_slice(),
        b"plaintext-password-c0ffee-3".as_slice(),
    );
    let control = "configmap-plaintext-visible-4";

    // Key 1 only: Secrets sealed with it, in the log, the tables and a snapshot.
    let (mut node, client) = start(spec(&cluster, Some(&[("key1", 1)]))?).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let mut db = secret("db", &[]);
    db.data = None;
    db.string_data = Some(BTreeMap::from([(
        "password".to_owned(),
        String::from_utf8(p1.to_vec())?,
    )]));
    secrets.create(&pp, &db).await?;
    secrets
        .create(&pp, &secret("stale", &[("token", p3)]))
        .await?;
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("control".into());
    cm.data = Some(BTreeMap::from([("note".to_owned(), control.to_owned())]));
    maps.create(&pp, &cm).await?;
    // Writes until the store snapshots (every 20 log entries).
    let mut writes = 0;
    while !node.log_text().contains("snapshot built") {
        if writes == 200 {
            bail!(
                "no snapshot after {writes} writes; log: {}",
                node.log_text()
            );
        }
        let mut filler = ConfigMap::default();
        filler.metadata.name = Some(format!("filler-{writes}"));
        maps.create(&pp, &filler).await?;
        writes += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read = secrets.get("db").await?;
    assert_eq!(value_of(&read, "password").as_deref(), Some(p1));
    node.terminate().await?;
    for plain in [p1, p3] {
        for needle in [plain.to_vec(), B64.encode(plain).into_bytes()] {
            let found = files_containing(&data_dir, &needle)?;
            assert!(
                found.is_empty(),
                "{:?} is stored in the clear in {found:?}",
                String::from_utf8_lossy(&needle)
            );
        }
    }
    assert!(
        !files_containing(&data_dir, control.as_bytes())?.is_empty(),
        "the ConfigMap's value should be in the data dir (the search must see plaintext)"
    );
    assert!(!files_containing(&data_dir, b"k8s:enc:aesgcm:v1:key1:")?.is_empty());

    // Rotation: key 2 first. Old Secrets read; writes are sealed with key 2.
    let (mut node, client) = start(spec(&cluster, Some(&[("key2", 2), ("key1", 1)]))?).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let read = secrets.get("db").await?;
    assert_eq!(value_of(&read, "password").as_deref(), Some(p1));
    secrets
        .create(&pp, &secret("db2", &[("password", p2)]))
        .await?;
    // Replacing a Secret unchanged (`kubectl get secrets -o json | kubectl replace -f -`,
    // Kubernetes' rotation recipe) writes it again, sealed with the new key; a write
    // that changes nothing is otherwise skipped.
    let rv = read.metadata.resource_version.clone();
    let replaced = secrets.replace("db", &pp, &read).await?;
    assert_ne!(replaced.metadata.resource_version, rv, "not rewritten");
    let again = secrets.replace("db", &pp, &replaced).await?;
    assert_eq!(
        again.metadata.resource_version, replaced.metadata.resource_version,
        "a Secret sealed with the current key is not rewritten"
    );
    let listed = secrets.list(&ListParams::default()).await?;
    assert_eq!(listed.items.len(), 3, "{:?}", listed.items);
    node.terminate().await?;
    assert!(!files_containing(&data_dir, b"k8s:enc:aesgcm:v1:key2:")?.is_empty());
    for needle in [p2.to_vec(), B64.encode(p2).into_bytes()] {
        assert!(files_containing(&data_dir, &needle)?.is_empty());
    }

    // Key 1 dropped: what it alone sealed is an error for that object, nothing more.
    let (mut node, client) = start(spec(&cluster, Some(&[("key2", 2)]))?).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        value_of(&secrets.get("db").await?, "password").as_deref(),
        Some(p1)
    );
    assert_eq!(
        value_of(&secrets.get("db2").await?, "password").as_deref(),
        Some(p2)
    );
    let (code, message) = api_error(secrets.get("stale").await)?;
    assert_eq!(code, 500, "{message}");
    assert!(message.contains("key1"), "{message}");
    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(names.contains(&"db".to_owned()) && names.contains(&"db2".to_owned()));
    assert!(node.is_running());
    node.terminate().await?;
    Ok(())
}

/// Bytes that do not compress, from a fixed seed (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A release Secret as Helm's Secret driver writes it: the release, gzipped and
/// base64-encoded, under `release`; labels Helm queries by.
fn release(name: &str, version: u32, status: &str, payload: &[u8]) -> Secret {
    let mut s = secret(
        &format!("sh.helm.release.v1.{name}.v{version}"),
        &[("release", B64.encode(payload).as_bytes())],
    );
    s.type_ = Some("helm.sh/release.v1".into());
    s.metadata.labels = Some(BTreeMap::from([
        ("owner".to_owned(), "helm".to_owned()),
        ("name".to_owned(), name.to_owned()),
        ("status".to_owned(), status.to_owned()),
        ("version".to_owned(), version.to_string()),
    ]));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_storage_works_with_secrets() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    let (mut node, client) = start(spec(&cluster, Some(&[("key1", 7)]))?).await?;
    let secrets: Api<Secret> = Api::namespaced(client, "default");
    let pp = PostParams::default();
    let v1 = noise(500 * 1024, 1);
    let v2 = noise(500 * 1024, 2);
    // helm install: Create.
    secrets
        .create(&pp, &release("web", 1, "deployed", &v1))
        .await?;
    // helm upgrade: Query by labels, Update the old release, Create the new one.
    let found = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await?;
    assert_eq!(found.items.len(), 1);
    let mut old = found.items[0].clone();
    assert_eq!(
        value_of(&old, "release"),
        Some(B64.encode(&v1).into_bytes())
    );
    old.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("status".into(), "superseded".into());
    old.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("modifiedAt".into(), "1733300000".into());
    let replaced = secrets
        .replace("sh.helm.release.v1.web.v1", &pp, &old)
        .await?;
    assert_eq!(value_of(&replaced, "release"), value_of(&old, "release"));
    secrets
        .create(&pp, &release("web", 2, "deployed", &v2))
        .await?;
    // Other releases are not in the way of the selector.
    secrets
        .create(&pp, &release("other", 1, "deployed", b"tiny"))
        .await?;
    let deployed = secrets
        .list(&ListParams::default().labels("owner=helm,name=web,status=deployed"))
        .await?;
    let names: Vec<_> = deployed
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    assert_eq!(names, ["sh.helm.release.v1.web.v2"]);
    assert_eq!(
        value_of(&deployed.items[0], "release"),
        Some(B64.encode(&v2).into_bytes())
    );
    assert_eq!(
        deployed.items[0].type_.as_deref(),
        Some("helm.sh/release.v1")
    );
    let history = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await?;
    assert_eq!(history.items.len(), 2);
    // helm uninstall: Delete.
    for v in 1..=2 {
        secrets
            .delete(&format!("sh.helm.release.v1.web.v{v}"), &Default::default())
            .await?;
    }
    let left = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await?;
    assert!(left.items.is_empty());
    node.terminate().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_maps_and_secrets_are_refused_as_kubernetes_does() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    let (mut node, client) = start(spec(&cluster, None)?).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();

    let mut tls = secret("tls-bad", &[("tls.crt", b"cert")]);
    tls.type_ = Some("kubernetes.io/tls".into());
    let (code, message) = api_error(secrets.create(&pp, &tls).await)?;
    assert_eq!(
        (code, message.as_str()),
        (
            422,
            "Secret \"tls-bad\" is invalid: data[tls.key]: Required value"
        )
    );
    assert!(secrets.get_opt("tls-bad").await?.is_none());

    let mut big = ConfigMap::default();
    big.metadata.name = Some("big".into());
    big.data = Some(BTreeMap::from([(
        "blob".to_owned(),
        "x".repeat(1024 * 1024 + 1),
    )]));
    let (code, message) = api_error(maps.create(&pp, &big).await)?;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.starts_with("ConfigMap \"big\" is invalid: []: Too long: ")
            && message.contains("1048576 bytes"),
        "{message}"
    );
    assert!(maps.get_opt("big").await?.is_none());

    let mut bad_key = ConfigMap::default();
    bad_key.metadata.name = Some("bad-key".into());
    bad_key.data = Some(BTreeMap::from([("a b".to_owned(), "v".to_owned())]));
    let (code, message) = api_error(maps.create(&pp, &bad_key).await)?;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.starts_with(
            "ConfigMap \"bad-key\" is invalid: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
        ),
        "{message}"
    );
    assert!(maps.get_opt("bad-key").await?.is_none());

    let mut frozen = ConfigMap::default();
    frozen.metadata.name = Some("frozen".into());
    frozen.data = Some(BTreeMap::from([("a".to_owned(), "1".to_owned())]));
    frozen.immutable = Some(true);
    let created = maps.create(&pp, &frozen).await?;
    let mut changed = created.clone();
    changed.data = Some(BTreeMap::from([("a".to_owned(), "2".to_owned())]));
    let (code, message) = api_error(maps.replace("frozen", &pp, &changed).await)?;
    assert_eq!(
        (code, message.as_str()),
        (
            422,
            "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
        )
    );
    let stored = maps.get("frozen").await?;
    assert_eq!(stored.data, frozen.data);
    assert_eq!(
        stored.metadata.resource_version,
        created.metadata.resource_version
    );
    node.terminate().await?;
    Ok(())
}

/// Runs the newest kubectl; its stdout when it succeeds.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The words of each line of a `kubectl get` table.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_creates_and_shows_config_maps_and_secrets() -> anyhow::Result<()> {
    let cluster = Cluster::new()?;
    let (mut node, _client) = start(spec(&cluster, Some(&[("key1", 3)]))?).await?;
    let kc = node.kubeconfig();
    let dir = cluster.dir.path();
    let file = dir.join("app.properties");
    std::fs::write(&file, "color=blue\n")?;
    let from_file = format!("--from-file={}", file.display());
    let out = kubectl(
        &kc,
        &[
            "create",
            "configmap",
            "app",
            "--from-literal=mode=fast",
            &from_file,
        ],
    )?;
    assert!(out.contains("configmap/app created"), "{out}");
    let out = kubectl(
        &kc,
        &[
            "create",
            "secret",
            "generic",
            "db",
            "--from-literal=password=hunter2",
            "--from-literal=user=admin",
        ],
    )?;
    assert!(out.contains("secret/db created"), "{out}");
    // kubectl checks that the pair matches: the node's own serving pair is one.
    let pki = node.spec.data_dir.join("pki");
    let (crt, key) = (pki.join("apiserver.crt"), pki.join("apiserver.key"));
    let out = kubectl(
        &kc,
        &[
            "create",
            "secret",
            "tls",
            "web-tls",
            &format!("--cert={}", crt.display()),
            &format!("--key={}", key.display()),
        ],
    )?;
    assert!(out.contains("secret/web-tls created"), "{out}");
    let out = kubectl(
        &kc,
        &[
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=registry.example",
            "--docker-username=u",
            "--docker-password=p",
        ],
    )?;
    assert!(out.contains("secret/pull created"), "{out}");

    let cms = table(&kubectl(&kc, &["get", "cm", "app"])?);
    assert_eq!(cms[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(cms[1][..2], ["app", "2"]);
    let secrets = table(&kubectl(&kc, &["get", "secret"])?);
    assert_eq!(secrets[0], ["NAME", "TYPE", "DATA", "AGE"]);
    let row = |name: &str| secrets.iter().find(|r| r[0] == name).cloned();
    assert_eq!(row("db").context("db")?[1..3], ["Opaque", "2"]);
    assert_eq!(
        row("web-tls").context("web-tls")?[1..3],
        ["kubernetes.io/tls", "2"]
    );
    assert_eq!(
        row("pull").context("pull")?[1..3],
        ["kubernetes.io/dockerconfigjson", "1"]
    );

    let password = kubectl(
        &kc,
        &["get", "secret", "db", "-o", "jsonpath={.data.password}"],
    )?;
    assert_eq!(password, B64.encode("hunter2"));
    let config = kubectl(
        &kc,
        &[
            "get",
            "configmap",
            "app",
            "-o",
            "jsonpath={.data.app\\.properties}",
        ],
    )?;
    assert_eq!(config, "color=blue\n");
    let docker = kubectl(
        &kc,
        &[
            "get",
            "secret",
            "pull",
            "-o",
            "jsonpath={.data.\\.dockerconfigjson}",
        ],
    )?;
    let docker: serde_json::Value = serde_json::from_slice(&B64.decode(docker.trim())?)?;
    assert_eq!(docker["auths"]["registry.example"]["username"], "u");
    node.terminate().await?;
    Ok(())
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// `k8s\0` ++ `runtime.Unknown` around `message`, as a Go client writes it.
fn envelope(kind: &str, message: &impl prost::Message) -> Vec<u8> {
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some("v1".into()),
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

/// The message inside a protobuf answer.
fn unwrap_envelope<M: prost::Message + Default>(bytes: &[u8]) -> anyhow::Result<M> {
    use k8s_pb::apimachinery::pkg::runtime::Unknown;
    let rest = bytes
        .strip_prefix(b"k8s\0")
        .with_context(|| format!("not protobuf: {}", String::from_utf8_lossy(bytes)))?;
    let unknown = Unknown::decode(rest)?;
    Ok(M::decode(unknown.raw.as_deref().unwrap_or_default())?)
}

async fn call(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("accept", accept);
    if !body.is_empty() {
        request = request.header("content-type", PROTOBUF);
    }
    let response = client
        .send(request.body(kube::client::Body::from(body))?)
        .await?;
    let code = response.status().as_u16();
    Ok((code, response.into_body().collect_bytes().await?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_fields_are_raw_bytes_in_protobuf() -> anyhow::Result<()> {
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    let cluster = Cluster::new()?;
    let (mut node, client) = start(spec(&cluster, Some(&[("key1", 5)]))?).await?;
    // Not UTF-8, a zero byte, and an empty value (which prost leaves out of its entry).
    let binary: Vec<u8> = vec![0xff, 0x00, 0xfe, 0x80, b'k'];
    let data = BTreeMap::from([
        ("bin".to_owned(), binary.clone()),
        ("empty".to_owned(), Vec::new()),
    ]);
    let secret = core::Secret {
        metadata: Some(meta::ObjectMeta {
            name: Some("pb".into()),
            ..Default::default()
        }),
        data: data.clone(),
        r#type: Some("Opaque".into()),
        ..Default::default()
    };
    let (code, body) = call(
        &client,
        "POST",
        "/api/v1/namespaces/default/secrets",
        PROTOBUF,
        envelope("Secret", &secret),
    )
    .await?;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let created: core::Secret = unwrap_envelope(&body)?;
    assert_eq!(created.data, data);
    // JSON: base64 of the same bytes.
    let json = Api::<Secret>::namespaced(client.clone(), "default")
        .get("pb")
        .await?;
    assert_eq!(value_of(&json, "bin"), Some(binary.clone()));
    assert_eq!(value_of(&json, "empty"), Some(Vec::new()));
    let (code, body) = call(
        &client,
        "GET",
        "/api/v1/namespaces/default/secrets/pb",
        PROTOBUF,
        Vec::new(),
    )
    .await?;
    assert_eq!(code, 200);
    assert_eq!(unwrap_envelope::<core::Secret>(&body)?.data, data);

    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: Some("pb".into()),
            ..Default::default()
        }),
        data: BTreeMap::from([("text".to_owned(), "plain".to_owned())]),
        binary_data: data.clone(),
        ..Default::default()
    };
    let (code, body) = call(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        PROTOBUF,
        envelope("ConfigMap", &cm),
    )
    .await?;
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let json = Api::<ConfigMap>::namespaced(client.clone(), "default")
        .get("pb")
        .await?;
    let binary_data = json.binary_data.context("binaryData")?;
    assert_eq!(binary_data["bin"].0, binary);
    assert_eq!(binary_data["empty"].0, Vec::<u8>::new());
    let (code, body) = call(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps?limit=10",
        PROTOBUF,
        Vec::new(),
    )
    .await?;
    assert_eq!(code, 200);
    let list: core::ConfigMapList = unwrap_envelope(&body)?;
    let pb = list
        .items
        .iter()
        .find(|c| c.metadata.as_ref().and_then(|m| m.name.as_deref()) == Some("pb"))
        .context("pb in the list")?;
    assert_eq!(pb.binary_data, data);
    assert_eq!(pb.data, cm.data);
    node.terminate().await?;
    Ok(())
}
