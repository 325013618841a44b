//! Client certificates against a real `rudderd` (control plane only, real RocksDB) with
//! the newest kubectl:
//!
//! - **rudderctl kubeconfig**: `rudderctl kubeconfig --user alice --group dev` writes a
//!   kubeconfig whose certificate `kubectl auth whoami` reads as alice in `dev`; bound
//!   to `view` she lists pods and is refused (403, Kubernetes' message) creating one.
//! - **another CA**: the same user's certificate from a CA the cluster does not know is
//!   refused with 401, and a request without a certificate still authenticates by
//!   token.
//! - **kubectl certificate approve**: a CertificateSigningRequest created by kubectl from
//!   a manifest records its creator, waits Pending, and once approved carries a
//!   certificate kubectl authenticates with; a denied one gets none; approving needs
//!   `approve` on the signer (403 without, as Kubernetes' CertificateApproval); writing
//!   a certificate through `/status` needs `sign` on it (CertificateSigning); a request
//!   for `system:masters` is refused (CertificateSubjectRestriction); a malformed
//!   request is refused with Kubernetes' validation error.
//! - **bus clients as users**: `rudderctl kubeconfig --client-out` writes a client
//!   config with the certificate; the Rust client and rudderctl connected with it act as
//!   alice (API requests, exec streams, chaos commands and membership all decided by
//!   RBAC, the store never reachable); another CA's certificate and a signature by
//!   another key are refused at the handshake.
//! - **the node proves itself to such a client**: with the cluster's client CA in its
//!   config the client connects; with another cluster's CA, or to an impostor that signs
//!   with a user's certificate of the cluster (client auth only), it refuses the node;
//!   a certificate config without a CA is refused when read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use rudder_actors::apiserver::x509;
use rudder_tests::{
    control_plane_with, eventually, kubeconfig_with_token, kubectl, Cluster, KubectlRun,
};

fn text(o: &KubectlRun) -> String {
    format!("{}{}", o.stdout, o.stderr)
}

fn ok(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args, None);
    assert!(o.success, "kubectl {args:?} failed: {}", text(&o));
    o.stdout
}

fn fails(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args, None);
    assert!(!o.success, "kubectl {args:?} succeeded: {}", text(&o));
    text(&o)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A user of the static token file, for the approval checks.
const TOKENS: &str = "carol-token,carol,uid-carol\n";

/// A control-plane node with the token file above; its admin kubeconfig.
async fn node() -> anyhow::Result<(Cluster, PathBuf)> {
    control_plane_with(
        &[("tokens.csv", TOKENS)],
        "token_auth_file = \"{dir}/tokens.csv\"",
    )
    .await
}

/// `admin`'s kubeconfig with the user's credentials replaced by a client certificate
/// and key (PEM).
fn with_certificate(admin: &Path, cert: &str, key: &str, name: &str) -> anyhow::Result<PathBuf> {
    let out: String = std::fs::read_to_string(admin)?
        .lines()
        .map(|l| match l.trim_start().strip_prefix("token: ") {
            Some(_) => format!(
                "    client-certificate-data: {}\n    client-key-data: {}",
                b64(cert.as_bytes()),
                b64(key.as_bytes())
            ),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = admin.with_file_name(format!("kubeconfig-{name}"));
    std::fs::write(&path, out)?;
    Ok(path)
}

/// Polls `kubectl args` until its output (trimmed) satisfies `done`.
async fn until(kc: &Path, args: &[&str], done: fn(&str) -> bool) -> anyhow::Result<String> {
    let (out, _) = eventually(Duration::from_secs(60), || {
        let o = kubectl(kc, args, None);
        let s = o.stdout.trim().to_owned();
        async move { Ok((o.success && done(&s)).then_some(s)) }
    })
    .await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rudderctl_kubeconfig_user_is_authenticated_and_authorized() -> anyhow::Result<()> {
    let (cluster, admin) = node().await?;
    let alice = cluster.dir.path().join("alice.kubeconfig");
    let out = std::process::Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(cluster.nodes[0].client_config())
        .args(["kubeconfig", "--user", "alice", "--group", "dev", "--out"])
        .arg(&alice)
        .args(["--expiration", "2h"])
        .output()?;
    assert!(
        out.status.success(),
        "rudderctl kubeconfig: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Polled: RBAC's index (which lets every authenticated user ask) fills after start.
    let who = until(&alice, &["auth", "whoami", "-o", "json"], |s| !s.is_empty()).await?;
    let who: serde_json::Value = serde_json::from_str(&who)?;
    assert_eq!(who["status"]["userInfo"]["username"], "alice", "{who}");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["dev", "system:authenticated"]),
        "{who}"
    );
    // The request it made is there, issued, and names its creator (the admin).
    let csrs = ok(&admin, &["get", "csr", "-o", "json"]);
    let csrs: serde_json::Value = serde_json::from_str(&csrs)?;
    let item = &csrs["items"][0];
    assert_eq!(item["spec"]["username"], "kubernetes-admin", "{item}");
    assert_eq!(item["spec"]["expirationSeconds"], 7200, "{item}");
    let table = ok(&admin, &["get", "csr"]);
    assert!(table.contains("Approved,Issued"), "{table}");
    assert!(
        table.contains("kubernetes.io/kube-apiserver-client"),
        "{table}"
    );

    // No binding yet: authenticated, not authorized.
    let out = fails(&alice, &["get", "pods"]);
    assert!(
        out.contains(r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default""#),
        "{out}"
    );
    ok(
        &admin,
        &[
            "create",
            "rolebinding",
            "alice-view",
            "--clusterrole=view",
            "--user=alice",
        ],
    );
    until(&alice, &["auth", "can-i", "list", "pods"], |s| s == "yes").await?;
    ok(&alice, &["get", "pods"]);
    let out = fails(&alice, &["run", "p", "--image=rudder/demo:latest"]);
    assert!(
        out.contains(r#"pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "default""#),
        "{out}"
    );

    // The same user from a CA the cluster does not know: 401.
    let other = x509::Signer::generate()?;
    let (key, req) = x509::new_client_request("alice", &["system:masters".to_owned()])?;
    let csr = x509::parse_csr_pem(req.as_bytes()).map_err(anyhow::Error::msg)?;
    let now = rudder_protocol::resources::Time::now().unix();
    let cert = other.issue(&csr, &["client auth".to_owned()], now - 60, now + 3600)?;
    let forged = with_certificate(&admin, &cert, &key, "forged")?;
    let out = fails(&forged, &["get", "pods"]);
    assert!(
        out.contains("You must be logged in to the server (Unauthorized)"),
        "{out}"
    );
    // A request without a certificate still authenticates by its token.
    let carol = kubeconfig_with_token(&admin, "carol-token", "carol")?;
    let who = ok(
        &carol,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(who.trim(), "carol");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_certificate_approve_issues_a_usable_certificate() -> anyhow::Result<()> {
    let (cluster, admin) = node().await?;
    let dir = cluster.dir.path();
    let (key, req) = x509::new_client_request("bob", &["qa".to_owned()])?;
    let manifest = |name: &str, request: &str| {
        format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\n\
             metadata:\n  name: {name}\nspec:\n  request: {}\n  \
             signerName: kubernetes.io/kube-apiserver-client\n  expirationSeconds: 3600\n  \
             usages: [\"digital signature\", \"key encipherment\", \"client auth\"]\n  \
             username: mallory\n  groups: [\"system:masters\"]\n",
            b64(request.as_bytes())
        )
    };
    for name in ["bob", "bob-denied"] {
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest(name, &req))?;
        ok(&admin, &["create", "-f", &file.display().to_string()]);
    }
    // The creator is recorded, whatever the manifest said.
    let spec = ok(
        &admin,
        &[
            "get",
            "csr",
            "bob",
            "-o",
            "jsonpath={.spec.username} {.spec.groups}",
        ],
    );
    assert!(spec.starts_with("kubernetes-admin "), "{spec}");
    assert!(
        spec.contains("system:masters") && !spec.contains("mallory"),
        "{spec}"
    );
    let table = ok(&admin, &["get", "csr", "bob"]);
    assert!(
        table.contains("Pending") && table.contains("60m"),
        "{table}"
    );

    // Approving needs `approve` on the signer, not only the approval subresource.
    ok(
        &admin,
        &[
            "create",
            "clusterrole",
            "csr-approval",
            "--verb=get,list,update",
            "--resource=certificatesigningrequests,certificatesigningrequests/approval",
        ],
    );
    ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "carol-approval",
            "--clusterrole=csr-approval",
            "--user=carol",
        ],
    );
    let carol = kubeconfig_with_token(&admin, "carol-token", "carol")?;
    until(
        &carol,
        &[
            "auth",
            "can-i",
            "update",
            "certificatesigningrequests/approval",
        ],
        |s| s == "yes",
    )
    .await?;
    let out = fails(&carol, &["certificate", "approve", "bob"]);
    assert!(
        out.contains(r#"user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client""#),
        "{out}"
    );
    ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "carol-signer",
            "--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver",
            "--user=carol",
        ],
    );
    // Once the binding is in the authorizer's index, the approval goes through.
    eventually(Duration::from_secs(60), || {
        let o = kubectl(&carol, &["certificate", "approve", "bob"], None);
        async move { Ok(o.success.then_some(())) }
    })
    .await?;
    ok(&admin, &["certificate", "deny", "bob-denied"]);

    let cert = until(
        &admin,
        &["get", "csr", "bob", "-o", "jsonpath={.status.certificate}"],
        |s| !s.is_empty(),
    )
    .await?;
    let cert = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(cert)?)?;
    let bob = with_certificate(&admin, &cert, &key, "bob")?;
    let who = ok(&bob, &["auth", "whoami", "-o", "json"]);
    let who: serde_json::Value = serde_json::from_str(&who)?;
    assert_eq!(who["status"]["userInfo"]["username"], "bob", "{who}");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["qa", "system:authenticated"]),
        "{who}"
    );
    let denied = ok(
        &admin,
        &[
            "get",
            "csr",
            "bob-denied",
            "-o",
            "jsonpath={.status.conditions[*].type}|{.status.certificate}",
        ],
    );
    assert_eq!(denied.trim(), "Denied|", "{denied}");

    // Writing a certificate through /status needs `sign` on the signer: carol may update
    // the subresource but holds no `sign`, so her certificate is refused and none is
    // written.
    ok(
        &admin,
        &[
            "create",
            "clusterrole",
            "csr-status",
            "--verb=get,update,patch",
            "--resource=certificatesigningrequests/status",
        ],
    );
    ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "carol-status",
            "--clusterrole=csr-status",
            "--user=carol",
        ],
    );
    until(
        &carol,
        &[
            "auth",
            "can-i",
            "patch",
            "certificatesigningrequests",
            "--subresource=status",
        ],
        |s| s == "yes",
    )
    .await?;
    let forged = serde_json::json!({"status": {"certificate": b64(cert.as_bytes())}}).to_string();
    let status_patch = |patch: &str| {
        kubectl(
            &carol,
            &[
                "patch",
                "csr",
                "bob-denied",
                "--subresource=status",
                "--type=merge",
                "-p",
                patch,
            ],
            None,
        )
    };
    let refused = status_patch(&forged);
    assert!(!refused.success, "{}", text(&refused));
    let out = text(&refused);
    assert!(
        out.contains(r#"user not permitted to sign requests with signerName "kubernetes.io/kube-apiserver-client""#),
        "{out}"
    );
    let still = ok(
        &admin,
        &[
            "get",
            "csr",
            "bob-denied",
            "-o",
            "jsonpath={.status.certificate}",
        ],
    );
    assert_eq!(still, "", "no certificate was written");
    // A status write that leaves the certificate alone needs no `sign`.
    let seen = status_patch(
        r#"{"status":{"conditions":[{"type":"Denied","status":"True","reason":"Seen","message":"m"}]}}"#,
    );
    assert!(seen.success, "{}", text(&seen));

    // No request to the API-client signer may ask for system:masters.
    let (_, masters) = x509::new_client_request("root", &["system:masters".to_owned()])?;
    let file = dir.join("masters.yaml");
    std::fs::write(&file, manifest("masters", &masters))?;
    let out = fails(&admin, &["create", "-f", &file.display().to_string()]);
    assert!(
        out.contains(r#"certificatesigningrequests.certificates.k8s.io "masters" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"#),
        "{out}"
    );

    // A request that is no PKCS#10 request: Kubernetes' validation error.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, manifest("bad", "not a request"))?;
    let out = fails(&admin, &["create", "-f", &bad.display().to_string()]);
    assert!(
        out.contains(r#""bad" is invalid: spec.request: Invalid value: []byte{0x6e, 0x6f, 0x74"#)
            && out.contains("PEM block type must be CERTIFICATE REQUEST"),
        "{out}"
    );
    Ok(())
}

/// Runs rudderctl with a client config; its output, and whether it succeeded.
fn rudderctl(config: &Path, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let out = std::process::Command::new(rudder_tests::rudderctl_bin())
        .arg("--client-config")
        .arg(config)
        .args(args)
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn forbidden_text<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Issues `user` in `groups` a client certificate from `ca`, valid until `until` (Unix
/// seconds), and writes it, its key and a client config made from `template` (alice's,
/// whose files are `client.toml.crt` and `.key`) as `<name>.crt`, `<name>.key` and
/// `alice/<name>.toml` under `dir`: the config's path.
fn issued_config(
    dir: &Path,
    template: &str,
    ca: &x509::Signer,
    user: &str,
    groups: &[String],
    name: &str,
    until: i64,
) -> anyhow::Result<PathBuf> {
    let (key, req) = x509::new_client_request(user, groups)?;
    let csr = x509::parse_csr_pem(req.as_bytes()).map_err(anyhow::Error::msg)?;
    let now = rudder_protocol::resources::Time::now().unix();
    let cert = ca.issue(&csr, &["client auth".to_owned()], now - 60, until)?;
    std::fs::write(dir.join(format!("{name}.crt")), &cert)?;
    std::fs::write(dir.join(format!("{name}.key")), &key)?;
    let config = dir.join("alice").join(format!("{name}.toml"));
    std::fs::write(
        &config,
        template
            .replace("client.toml.crt", &format!("../{name}.crt"))
            .replace("client.toml.key", &format!("../{name}.key")),
    )?;
    Ok(config)
}

/// A node that takes any client certificate and proves itself with a user's
/// certificate and key (`chain`, `key`).
struct Impostor {
    chain: Vec<Vec<u8>>,
    key: rudder_protocol::keys::PrivateKey,
}

impl rudder_protocol::net::CertificateCheck for Impostor {
    fn check(
        &self,
        _: rudder_protocol::frame::CertificateProof,
        _: Vec<u8>,
    ) -> rudder_protocol::net::BoxFuture<Result<rudder_protocol::frame::ClientUser, String>> {
        Box::pin(async {
            Ok(rudder_protocol::frame::ClientUser {
                name: "anyone".into(),
                groups: vec![],
                not_after: None,
            })
        })
    }

    fn prove(
        &self,
        transcript: Vec<u8>,
    ) -> rudder_protocol::net::BoxFuture<Result<rudder_protocol::frame::CertificateProof, String>>
    {
        use rudder_protocol::net::TranscriptSigner as _;
        let proof =
            self.key
                .sign(&transcript)
                .map(|signature| rudder_protocol::frame::CertificateProof {
                    chain: self.chain.clone(),
                    kind: self.key.kind(),
                    signature,
                });
        Box::pin(async move { proof })
    }
}

/// Alice's client (her config under `dir`) dialling an impostor on loopback that claims
/// to be node `node` and proves itself with alice's own certificate, which the
/// cluster's CA issued for client auth only: what the connection came to.
async fn impostor_refused(dir: &Path, node: &str) -> anyhow::Result<()> {
    use rudder_protocol::actor::{NodeName, Role};
    use rudder_protocol::client::{Client, ClientConfig};
    use rudder_protocol::frame::NodeIdentity;
    use rudder_protocol::net::{accept_handshake, Credentials};

    let pem = std::fs::read_to_string(dir.join("alice").join("client.toml.crt"))?;
    let chain: Vec<Vec<u8>> = rudder_protocol::keys::pem_blocks(&pem)
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .map(|(_, der)| der)
        .collect();
    let key = rudder_protocol::keys::PrivateKey::from_pem(&std::fs::read_to_string(
        dir.join("alice").join("client.toml.key"),
    )?)
    .map_err(anyhow::Error::msg)?;
    let impostor: std::sync::Arc<dyn rudder_protocol::net::CertificateCheck> =
        std::sync::Arc::new(Impostor { chain, key });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let config = ClientConfig::load(&dir.join("alice").join("client.toml"))?;
    let node = node.to_owned();
    let serve = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let me = NodeIdentity {
            name: NodeName::new(node),
            address: address.to_string(),
            roles: vec![Role::ControlPlane],
            incarnation: 1,
        };
        let creds = Credentials::token(config.cluster_id.clone(), b"unknown".to_vec());
        let _ = accept_handshake(stream, me, &creds, Some(impostor), Duration::from_secs(5)).await;
        anyhow::Ok(())
    });
    let mut config = ClientConfig::load(&dir.join("alice").join("client.toml"))?;
    config.bus_address = address.to_string();
    let connected = Client::connect(&config).await.map(|_| ());
    serve.await??;
    Ok(connected?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_client_with_a_user_certificate_is_that_user() -> anyhow::Result<()> {
    use rudder_protocol::client::{Client, ClientConfig, ClientError};
    use rudder_protocol::messages::store::{Consistency, StoreRequest};
    use rudder_protocol::resources::Pod;
    use rudder_protocol::{ActorRef, Request};

    let (cluster, admin) = node().await?;
    let dir = cluster.dir.path();
    let alice_toml = dir.join("alice").join("client.toml");
    let (done, out) = rudderctl(
        &cluster.nodes[0].client_config(),
        &[
            "kubeconfig",
            "--user",
            "alice",
            "--group",
            "dev",
            "--out",
            dir.join("alice.kubeconfig").to_str().unwrap_or_default(),
            "--client-out",
            alice_toml.to_str().unwrap_or_default(),
        ],
    )?;
    assert!(done, "rudderctl kubeconfig: {out}");
    let text = std::fs::read_to_string(&alice_toml)?;
    assert!(
        text.contains("certificate_file = \"client.toml.crt\""),
        "{text}"
    );
    assert!(!text.contains("token_file"), "{text}");
    assert!(
        text.contains("certificate_authority_file = \"client.toml.ca.crt\""),
        "{text}"
    );
    ok(&admin, &["create", "namespace", "a"]);
    ok(&admin, &["create", "namespace", "b"]);
    ok(
        &admin,
        &[
            "create",
            "rolebinding",
            "alice-view",
            "--clusterrole=view",
            "--user=alice",
            "-n",
            "a",
        ],
    );

    let alice = Client::connect(&ClientConfig::load(&alice_toml)?).await?;
    let here = alice.node().clone();
    // API requests are decided as alice: she may list in a (once RBAC's index has the
    // binding), not create there, not list in b.
    eventually(Duration::from_secs(20), || async {
        alice
            .api::<Pod>(Some("a"))
            .list(&Default::default())
            .await
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await?;
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "rudder/demo:latest"}]},
    }))?;
    let err = forbidden_text(alice.api::<Pod>(Some("a")).create(&pod).await);
    assert!(
        err.contains(r#"pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "a""#),
        "{err}"
    );
    let err = forbidden_text(alice.api::<Pod>(Some("b")).list(&Default::default()).await);
    assert!(
        err.contains(r#"cannot list resource "pods" in API group "" in the namespace "b""#),
        "{err}"
    );
    // An exec stream is decided as alice too, before the pod is even looked up.
    let exec = rudder_protocol::messages::kubelet::ExecRequest {
        namespace: "a".into(),
        pod: "nothing".into(),
        container: "c".into(),
        command: vec!["true".into()],
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };
    match alice.exec(exec).await {
        Err(ClientError::Refused { code, message }) => {
            assert_eq!(code, 403, "{message}");
            assert!(
                message.contains(r#"cannot create resource "pods/exec""#),
                "{message}"
            );
        }
        other => panic!("exec as alice: {:?}", other.map(|_| ())),
    }

    // Chaos and membership: refused until a role allows them, then allowed; the store
    // never.
    let err = forbidden_text(alice.chaos_kill(&here, "echo").await);
    assert!(
        err.contains(r#"User "alice" cannot post path "/dashboard/api/kill""#),
        "{err}"
    );
    let err = forbidden_text(alice.chaos_faults(&here).await);
    assert!(
        err.contains(r#"cannot get path "/dashboard/api/cluster""#),
        "{err}"
    );
    let (done, out) = rudderctl(&alice_toml, &["kill", "echo"])?;
    assert!(!done && out.contains("forbidden"), "{out}");
    ok(
        &admin,
        &[
            "create",
            "clusterrole",
            "chaos",
            "--verb=get",
            "--non-resource-url=/dashboard/api/cluster",
            "--verb=post",
            "--non-resource-url=/dashboard/api/kill",
        ],
    );
    ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "alice-chaos",
            "--clusterrole=chaos",
            "--user=alice",
        ],
    );
    eventually(Duration::from_secs(20), || async {
        alice
            .chaos_kill(&here, "echo")
            .await
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{e}"))
    })
    .await?;
    let (done, out) = rudderctl(&alice_toml, &["members"])?;
    assert!(done, "rudderctl members as alice: {out}");
    assert!(out.contains(here.as_str()), "{out}");
    let (done, out) = rudderctl(&alice_toml, &["get", "pods", "-n", "a"])?;
    assert!(done, "rudderctl get pods as alice: {out}");
    // Faults stay refused: the role grants kill, not partition.
    let err = forbidden_text(alice.chaos_clear_faults(&here).await);
    assert!(
        err.contains(r#"cannot post path "/dashboard/api/heal""#),
        "{err}"
    );
    let store = Request::Store(Box::new(StoreRequest::Get {
        key: "/registry/secrets/kube-system/rudder-client-ca".into(),
        consistency: Consistency::Linearizable,
    }));
    let err = forbidden_text(
        alice
            .request(ActorRef::new(here.clone(), "store"), store)
            .await,
    );
    assert!(err.contains("cannot send store requests"), "{err}");

    // Refused at the handshake: a certificate of another CA, and alice's certificate
    // with a signature by another key. The node serves on.
    let other = x509::Signer::generate()?;
    let masters = ["system:masters".to_owned()];
    let hour = rudder_protocol::resources::Time::now().unix() + 3600;
    let foreign = issued_config(dir, &text, &other, "alice", &masters, "foreign", hour)?;
    let err = forbidden_text(Client::connect(&ClientConfig::load(&foreign)?).await);
    assert!(err.contains("client certificate refused"), "{err}");
    let stolen = dir.join("alice").join("stolen.toml");
    std::fs::write(&stolen, text.replace("client.toml.key", "../foreign.key"))?;
    let err = forbidden_text(Client::connect(&ClientConfig::load(&stolen)?).await);
    assert!(err.contains("does not verify"), "{err}");

    // The node proves itself: alice trusting another cluster's CA refuses it, and an
    // impostor proving with a user's certificate of this cluster is refused too.
    let elsewhere = dir.join("alice").join("elsewhere.toml");
    std::fs::write(dir.join("other-ca.crt"), other.cert_pem())?;
    std::fs::write(
        &elsewhere,
        text.replace("client.toml.ca.crt", "../other-ca.crt"),
    )?;
    let err = forbidden_text(Client::connect(&ClientConfig::load(&elsewhere)?).await);
    assert!(
        err.contains(&format!("node {here} failed to prove itself"))
            && err.contains("not the cluster CA's for a node"),
        "{err}"
    );
    let no_ca = dir.join("alice").join("no-ca.toml");
    std::fs::write(
        &no_ca,
        text.lines()
            .filter(|l| !l.starts_with("certificate_authority_file"))
            .collect::<Vec<_>>()
            .join("\n"),
    )?;
    let err = forbidden_text(ClientConfig::load(&no_ca));
    assert!(err.contains("needs certificate_authority_file"), "{err}");
    let err = forbidden_text(impostor_refused(dir, here.as_str()).await);
    assert!(
        err.contains("failed to prove itself") && err.contains("not the cluster CA's for a node"),
        "{err}"
    );
    let admin_client = cluster.nodes[0].client().await?;
    admin_client
        .api::<Pod>(Some("b"))
        .list(&Default::default())
        .await?;

    // A link outlives no certificate: bob's, issued by the cluster's CA for seconds,
    // works (as bob: RBAC refuses him) until it expires, then every request is refused.
    let secret = admin_client
        .api::<rudder_protocol::resources::Secret>(Some("kube-system"))
        .get("rudder-client-ca")
        .await?;
    let ca = rudder_actors::apiserver::certificates::signer_from_secret(&secret)
        .map_err(anyhow::Error::msg)?;
    let soon = rudder_protocol::resources::Time::now().unix() + 3;
    let bob_toml = issued_config(dir, &text, &ca, "bob", &[], "bob", soon)?;
    let bob = Client::connect(&ClientConfig::load(&bob_toml)?).await?;
    let err = forbidden_text(bob.api::<Pod>(Some("a")).list(&Default::default()).await);
    assert!(
        err.contains(r#"User "bob" cannot list resource "pods""#),
        "{err}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let err = forbidden_text(bob.api::<Pod>(Some("a")).list(&Default::default()).await);
    assert!(
        err.contains(r#"client certificate of user "bob" expired"#),
        "{err}"
    );
    Ok(())
}
