//! Authorization and audit against a real `rudderd` (control plane only, real RocksDB)
//! with the newest kubectl, users from a static token file:
//!
//! - **view in one namespace**: `alice`, bound to the aggregated `view` ClusterRole in
//!   `a` by a RoleBinding, lists pods in `a`; creating there or listing in `b` is
//!   refused with Kubernetes' exact Forbidden message; `kubectl auth can-i` agrees with
//!   a table of verbs and resources; `can-i --list` shows her rules; `auth whoami` names
//!   her; non-resource paths follow `system:discovery`.
//! - **escalation**: a user who may write Roles and RoleBindings cannot grant what she
//!   does not hold, and can once she holds it.
//! - **node identity**: `system:node:n1` reads the Secret its pod uses but not another
//!   node's, and cannot change another node's pod.
//! - **components on the bus**: a worker holding only its node key joins; its kubelet
//!   acts as `system:node:w-1` (its Node, its pod's Secret and status, in the audit
//!   log), its other agents as `system:rudder:node-agent:w-1`, the scheduler as
//!   `system:kube-scheduler`; impersonating another node's kubelet over the bus, every
//!   write to what is not that node's (pod status, delete, Node, Lease, token) and every
//!   unrelated Secret is refused, and nothing changes.
//! - **audit**: the refused request is in the audit log with its user and code.
//! - **anonymous**: a request without credentials gets 401 by default; with
//!   `anonymous_auth` it is `system:anonymous`, may read `/version`, is refused the rest
//!   with the Forbidden message until a role is bound to `system:unauthenticated`.
//! - **AlwaysAllow**: with authorization off, the same user may create (so the tests
//!   above fail when the authorizer is disabled).
//! - **impersonation** (`kubectl --as`, `--as-group`): the admin acts as `alice` and gets
//!   exactly her rights (`auth can-i`, a refused create with her name in the message);
//!   `auth whoami` shows the impersonated user and groups (a service account gets the
//!   service-account groups); `eve` may not impersonate until a ClusterRole lets her
//!   impersonate `alice` (and only her, and no group); the audit log keeps `eve` as the
//!   user and `alice` as `impersonatedUser`.

use std::path::{Path, PathBuf};
use std::time::Duration;

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

const TOKENS: &str = "\
alice-token,alice,uid-alice
eve-token,eve,uid-eve,\"team,writers\"
node-token,system:node:n1,uid-n1,system:nodes
";

const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  users: [\"kubernetes-admin\"]
- level: Metadata
";

/// A control-plane node with the token file and audit policy above, authorizing in
/// `mode`; its admin kubeconfig.
async fn node(mode: &str) -> anyhow::Result<(Cluster, PathBuf)> {
    control_plane_with(
        &[("tokens.csv", TOKENS), ("audit.yaml", AUDIT_POLICY)],
        &format!(
            "authorization = \"{mode}\"\ntoken_auth_file = \"{{dir}}/tokens.csv\"\n\
             audit_policy_file = \"{{dir}}/audit.yaml\""
        ),
    )
    .await
}

/// Waits until `kc` may do what `args` (a `kubectl auth can-i` question) asks.
async fn until_allowed(kc: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut full = vec!["auth", "can-i"];
    full.extend_from_slice(args);
    eventually(Duration::from_secs(20), || {
        let o = kubectl(kc, &full, None);
        async move { Ok(o.stdout.trim().eq("yes").then_some(())) }
    })
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_in_one_namespace_and_the_forbidden_message() -> anyhow::Result<()> {
    let (cluster, admin) = node("RBAC").await?;
    let alice = kubeconfig_with_token(&admin, "alice-token", "alice")?;
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
    // The aggregated `view` role gets its rules from the aggregation controller.
    until_allowed(&alice, &["list", "pods", "-n", "a"]).await?;

    ok(&alice, &["get", "pods", "-n", "a"]);
    let out = fails(
        &alice,
        &["run", "p", "--image=rudder/demo:latest", "-n", "a"],
    );
    assert!(
        out.contains(r#"pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "a""#),
        "{out}"
    );
    let out = fails(&alice, &["get", "pods", "-n", "b"]);
    assert!(
        out.contains(r#"Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "b""#),
        "{out}"
    );
    let out = fails(&alice, &["get", "nodes"]);
    assert!(
        out.contains(r#"nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope"#),
        "{out}"
    );

    // can-i agrees with the role, verb by verb.
    let table: &[(&[&str], bool)] = &[
        (&["list", "pods", "-n", "a"], true),
        (&["get", "pods", "-n", "a"], true),
        (&["watch", "pods", "-n", "a"], true),
        (&["get", "pods/log", "-n", "a"], true),
        (&["list", "deployments.apps", "-n", "a"], true),
        (&["get", "configmaps", "-n", "a"], true),
        (&["create", "pods", "-n", "a"], false),
        (&["delete", "pods", "-n", "a"], false),
        (&["get", "secrets", "-n", "a"], false),
        (&["create", "pods/exec", "-n", "a"], false),
        (&["list", "pods", "-n", "b"], false),
        (&["list", "nodes"], false),
        (
            &[
                "create",
                "rolebindings.rbac.authorization.k8s.io",
                "-n",
                "a",
            ],
            false,
        ),
    ];
    for (args, want) in table {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        let o = kubectl(&alice, &full, None);
        let answer = o.stdout.trim().to_owned();
        assert_eq!(
            answer,
            if *want { "yes" } else { "no" },
            "can-i {args:?}: {}",
            text(&o)
        );
    }
    // The admin may do anything; a user may ask on behalf of no one else.
    assert_eq!(ok(&admin, &["auth", "can-i", "*", "*"]).trim(), "yes");

    let list = ok(&alice, &["auth", "can-i", "--list", "-n", "a"]);
    assert!(
        list.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{list}"
    );
    let pods = list
        .lines()
        .find(|l| l.starts_with("pods "))
        .unwrap_or_default();
    assert!(pods.contains("[get list watch]"), "{list}");
    assert!(!list.contains("secrets"), "{list}");

    let who = ok(&alice, &["auth", "whoami"]);
    assert!(
        who.contains("alice") && who.contains("system:authenticated"),
        "{who}"
    );
    // The token file's third column is her UID.
    assert!(
        who.lines()
            .any(|l| l.starts_with("UID") && l.trim_end().ends_with("uid-alice")),
        "{who}"
    );

    // Non-resource paths: discovery yes, debug endpoints no.
    ok(&alice, &["get", "--raw", "/version"]);
    ok(&alice, &["get", "--raw", "/apis"]);
    let out = fails(&alice, &["get", "--raw", "/debug/watchers"]);
    assert!(
        out.contains(r#"forbidden: User "alice" cannot get path "/debug/watchers""#),
        "{out}"
    );

    // The refused list is in the audit log, with its user, namespace and code.
    let line = cluster.nodes[0]
        .audit_event(Duration::from_secs(10), |e| {
            e["user"]["username"] == "alice"
                && e["verb"] == "list"
                && e["objectRef"]["namespace"] == "b"
        })
        .await?;
    assert_eq!(line["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(line["kind"], "Event");
    assert_eq!(line["stage"], "ResponseComplete");
    assert_eq!(line["level"], "Metadata");
    assert_eq!(line["responseStatus"]["code"], 403);
    assert_eq!(line["objectRef"]["resource"], "pods");
    assert!(
        line["requestURI"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/api/v1/namespaces/b/pods"),
        "{line}"
    );
    assert_eq!(line["sourceIPs"][0], "127.0.0.1");
    assert!(
        line["auditID"].as_str().is_some_and(|s| s.len() == 36),
        "{line}"
    );
    let text = std::fs::read_to_string(cluster.nodes[0].audit_log())?;
    assert!(
        !text.contains("\"kubernetes-admin\""),
        "the policy leaves the admin out"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_is_refused_until_held() -> anyhow::Result<()> {
    let (_cluster, admin) = node("RBAC").await?;
    let eve = kubeconfig_with_token(&admin, "eve-token", "eve")?;
    ok(&admin, &["create", "namespace", "a"]);
    ok(
        &admin,
        &[
            "create",
            "role",
            "rbac-writer",
            "--verb=create,get,list",
            "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io",
            "-n",
            "a",
        ],
    );
    ok(
        &admin,
        &[
            "create",
            "rolebinding",
            "eve-writer",
            "--role=rbac-writer",
            "--group=writers",
            "-n",
            "a",
        ],
    );
    until_allowed(
        &eve,
        &["create", "roles.rbac.authorization.k8s.io", "-n", "a"],
    )
    .await?;

    let out = fails(
        &eve,
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get",
            "--resource=pods",
            "-n",
            "a",
        ],
    );
    assert!(
        out.contains(r#"roles.rbac.authorization.k8s.io "pod-reader" is forbidden: user "eve" (groups=["team" "writers" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#)
            && out.contains(r#"{APIGroups:[""], Resources:["pods"], Verbs:["get"]}"#),
        "{out}"
    );
    let out = fails(
        &eve,
        &[
            "create",
            "rolebinding",
            "self-edit",
            "--clusterrole=edit",
            "--user=eve",
            "-n",
            "a",
        ],
    );
    assert!(
        out.contains("is attempting to grant RBAC permissions not currently held"),
        "{out}"
    );

    // Once she holds view in `a`, she may grant what view grants, and no more.
    ok(
        &admin,
        &[
            "create",
            "rolebinding",
            "eve-view",
            "--clusterrole=view",
            "--user=eve",
            "-n",
            "a",
        ],
    );
    until_allowed(&eve, &["get", "pods", "-n", "a"]).await?;
    ok(
        &eve,
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get",
            "--resource=pods",
            "-n",
            "a",
        ],
    );
    ok(
        &eve,
        &[
            "create",
            "rolebinding",
            "bob-view",
            "--clusterrole=view",
            "--user=bob",
            "-n",
            "a",
        ],
    );
    let out = fails(
        &eve,
        &[
            "create",
            "rolebinding",
            "bob-edit",
            "--clusterrole=edit",
            "--user=bob",
            "-n",
            "a",
        ],
    );
    assert!(out.contains("not currently held"), "{out}");
    // The `bind` verb on a role lets her bind it without holding it.
    ok(
        &admin,
        &[
            "create",
            "role",
            "binder",
            "--verb=bind",
            "--resource=clusterroles.rbac.authorization.k8s.io",
            "--resource-name=edit",
            "-n",
            "a",
        ],
    );
    ok(
        &admin,
        &[
            "create",
            "rolebinding",
            "eve-binder",
            "--role=binder",
            "--user=eve",
            "-n",
            "a",
        ],
    );
    eventually(Duration::from_secs(20), || {
        let o = kubectl(
            &eve,
            &[
                "create",
                "rolebinding",
                "bob-edit",
                "--clusterrole=edit",
                "--user=bob",
                "-n",
                "a",
            ],
            None,
        );
        async move { Ok(o.success.then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reaches_only_what_its_pods_use() -> anyhow::Result<()> {
    let (cluster, admin) = node("RBAC").await?;
    let n1 = kubeconfig_with_token(&admin, "node-token", "n1")?;
    let manifest = cluster.dir.path().join("pods.yaml");
    std::fs::write(
        &manifest,
        "\
apiVersion: v1
kind: Secret
metadata: {name: s1}
stringData: {k: one}
---
apiVersion: v1
kind: Secret
metadata: {name: s2}
stringData: {k: two}
---
apiVersion: v1
kind: Pod
metadata: {name: p1}
spec:
  nodeName: n1
  containers: [{name: c, image: rudder/demo:latest, envFrom: [{secretRef: {name: s1}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec:
  nodeName: n2
  volumes: [{name: v, secret: {secretName: s2}}]
  containers: [{name: c, image: rudder/demo:latest}]
",
    )?;
    ok(&admin, &["apply", "-f", &manifest.to_string_lossy()]);
    // The graph is the watch cache: wait until the node sees its pod's Secret.
    eventually(Duration::from_secs(20), || {
        let o = kubectl(&n1, &["get", "secret", "s1", "-o", "name"], None);
        async move { Ok(o.success.then_some(())) }
    })
    .await?;
    let out = fails(&n1, &["get", "secret", "s2"]);
    assert!(
        out.contains(r#"secrets "s2" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'n1' and this object"#),
        "{out}"
    );
    let out = fails(&n1, &["get", "secrets"]);
    assert!(out.contains("Forbidden"), "{out}");
    // Pods: read all, change only its own.
    ok(&n1, &["get", "pods"]);
    let status = r#"{"status":{"message":"seen"}}"#;
    ok(
        &n1,
        &[
            "patch",
            "pod",
            "p1",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    );
    let out = fails(
        &n1,
        &[
            "patch",
            "pod",
            "p2",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
    );
    assert!(
        out.contains("node 'n1' can only modify pods bound to it"),
        "{out}"
    );
    let out = fails(&n1, &["delete", "pod", "p2", "--wait=false"]);
    assert!(out.contains(r#"pods "p2" is forbidden"#), "{out}");
    let out = fails(&n1, &["label", "node", "n2", "x=y"]);
    assert!(
        out.contains("Forbidden") || out.contains("NotFound"),
        "{out}"
    );
    // Nothing changed on the other node's pod.
    let p2 = ok(
        &admin,
        &["get", "pod", "p2", "-o", "jsonpath={.status.message}"],
    );
    assert_eq!(p2, "");
    Ok(())
}

/// The answer to a request that must be refused: its 403 message.
fn forbidden<T: std::fmt::Debug>(r: Result<T, rudder_protocol::api::ApiError>) -> String {
    match r {
        Err(e) if e.code() == Some(403) => e.to_string(),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_on_the_bus_act_as_their_own_users() -> anyhow::Result<()> {
    use rudder_protocol::messages::api::PatchType;
    use rudder_protocol::resources::{Lease, Node, Pod, Secret, ServiceAccount};
    // A control plane, and a worker whose kubelet reaches it over its bus link.
    let (mut cluster, admin) = node("RBAC").await?;
    // The worker holds only its node key, not the cluster token.
    let key_file = cluster.dir.path().join("w-1.key");
    rudder_tests::write_node_key(&cluster.nodes[0], "w-1", &key_file)?;
    let mut spec = cluster.spec("single-node.toml", "w-1");
    spec.config = cluster.dir.path().join("node.toml");
    spec.roles = Some("worker".into());
    spec.join = vec![cluster.nodes[0].bus.clone()];
    spec.node_key_file = Some(key_file);
    cluster
        .nodes
        .push(rudder_tests::NodeProc::start(spec).await?);
    let manifest = cluster.dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        "\
apiVersion: v1
kind: Secret
metadata: {name: used}
stringData: {k: one}
---
apiVersion: v1
kind: Secret
metadata: {name: unused}
stringData: {k: two}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers: [{name: c, image: rudder/demo:latest, envFrom: [{secretRef: {name: used}}]}]
",
    )?;
    ok(&admin, &["apply", "-f", &manifest.to_string_lossy()]);
    // The scheduler binds the pod as itself; the worker's kubelet registers its Node and
    // Lease and writes the pod's status as `system:node:w-1`, all allowed.
    let cp = &cluster.nodes[0];
    let timeout = Duration::from_secs(60);
    let by = |user: &'static str, resource: &'static str, sub: Option<&'static str>| {
        move |e: &serde_json::Value| {
            e["user"]["username"] == user
                && e["objectRef"]["resource"] == resource
                && e["objectRef"]["subresource"].as_str() == sub
                && e["stage"] == "ResponseComplete"
        }
    };
    let bind = cp
        .audit_event(
            timeout,
            by("system:kube-scheduler", "pods", Some("binding")),
        )
        .await?;
    assert_eq!(bind["responseStatus"]["code"], 201, "{bind}");
    for (resource, sub, verb) in [
        ("nodes", None, "create"),
        ("leases", None, "create"),
        ("pods", Some("status"), "patch"),
    ] {
        let event = cp
            .audit_event(timeout, |e| {
                by("system:node:w-1", resource, sub)(e) && e["verb"] == verb
            })
            .await?;
        let code = event["responseStatus"]["code"].as_i64().unwrap_or_default();
        assert!((200..300).contains(&code), "{event}");
        assert_eq!(event["user"]["groups"][0], "system:nodes", "{event}");
    }
    // The worker's other agents (proxy, DNS, informers) are its node-agent user, which
    // RBAC lets read Services (once the bootstrap binding exists: the first lists may
    // come before it); they are no cluster administrator.
    let event = cp
        .audit_event(timeout, |e| {
            e["user"]["username"] == "system:rudder:node-agent:w-1"
                && e["objectRef"]["resource"] == "services"
                && e["stage"] == "ResponseComplete"
                && e["responseStatus"]["code"] == 200
        })
        .await?;
    assert_eq!(
        event["user"]["groups"][0], "system:rudder:node-agents",
        "{event}"
    );
    let out = ok(
        &admin,
        &["get", "pod", "app", "-o", "jsonpath={.spec.nodeName}"],
    );
    assert_eq!(out, "w-1");

    // Over the bus, as another node's kubelet (the admin client impersonates it), the
    // node authorizer and NodeRestriction refuse whatever is not that node's.
    let client = cp.client().await?;
    let as_w2 = ("system:node:w-2", ["system:nodes"]);
    let pods = client.api_as::<Pod>(Some("default"), as_w2.0, &as_w2.1);
    let status = serde_json::json!({"status": {"message": "taken over"}});
    let refused = forbidden(pods.patch_status("app", PatchType::Merge, &status).await);
    assert!(
        refused.contains("node 'w-2' can only modify pods bound to it"),
        "{refused}"
    );
    let refused = forbidden(pods.delete("app").await);
    assert!(
        refused.contains(r#"User "system:node:w-2" cannot delete"#),
        "{refused}"
    );
    let secrets = client.api_as::<Secret>(Some("default"), as_w2.0, &as_w2.1);
    let refused = forbidden(secrets.get("used").await);
    assert!(
        refused.contains("no relationship found between node 'w-2' and this object"),
        "{refused}"
    );
    forbidden(secrets.list(&Default::default()).await);
    let nodes = client.api_as::<Node>(None, as_w2.0, &as_w2.1);
    let mut other = Node::default();
    other.metadata.name = "w-1".into();
    let refused = forbidden(nodes.create(&other).await);
    assert!(
        refused.contains(r#"node "w-2" is not allowed to modify node "w-1""#),
        "{refused}"
    );
    let leases = client.api_as::<Lease>(Some("kube-node-lease"), as_w2.0, &as_w2.1);
    let mut lease = Lease::default();
    lease.metadata.name = "w-1".into();
    forbidden(leases.create(&lease).await);
    let accounts = client.api_as::<ServiceAccount>(Some("default"), as_w2.0, &as_w2.1);
    let token_request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "app"}},
    });
    forbidden(accounts.create_token("default", &token_request).await);
    // The pod's own node may do what its pod needs, and no more.
    let as_w1 = ("system:node:w-1", ["system:nodes"]);
    let secrets = client.api_as::<Secret>(Some("default"), as_w1.0, &as_w1.1);
    secrets.get("used").await?;
    forbidden(secrets.get("unused").await);
    let accounts = client.api_as::<ServiceAccount>(Some("default"), as_w1.0, &as_w1.1);
    let answer = accounts.create_token("default", &token_request).await?;
    assert!(answer["status"]["token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let unbound = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {},
    });
    let refused = forbidden(accounts.create_token("default", &unbound).await);
    assert!(refused.contains("not bound to a pod"), "{refused}");
    // Nothing the refused requests asked for happened.
    let message = ok(
        &admin,
        &["get", "pod", "app", "-o", "jsonpath={.status.message}"],
    );
    assert_ne!(message, "taken over");
    let out = fails(&admin, &["get", "lease", "-n", "kube-node-lease", "w-2"]);
    assert!(out.contains("NotFound"), "{out}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_allow_turns_authorization_off() -> anyhow::Result<()> {
    let (_cluster, admin) = node("AlwaysAllow").await?;
    let alice = kubeconfig_with_token(&admin, "alice-token", "alice")?;
    ok(&alice, &["create", "namespace", "b"]);
    ok(&alice, &["get", "pods", "-n", "b"]);
    assert_eq!(
        ok(&alice, &["auth", "can-i", "delete", "nodes"]).trim(),
        "yes"
    );
    // An unknown token is still refused: authentication stays on.
    let stranger = kubeconfig_with_token(&admin, "no-such-token", "stranger")?;
    let out = fails(&stranger, &["get", "pods"]);
    assert!(out.contains("Unauthorized"), "{out}");
    Ok(())
}

/// One request with no credentials at all (kubectl would prompt for a password): curl
/// with the node's CA; the HTTP code and the body.
fn anonymous_get(cluster: &Cluster, path: &str) -> anyhow::Result<(u16, String)> {
    let node = &cluster.nodes[0];
    let server = node.api_server()?;
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(node.spec.data_dir.join("pki").join("ca.crt"))
        .arg(format!("{server}{path}"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Ok((code.trim().parse()?, body.to_owned()))
}

/// The body of `path` once an anonymous request for it succeeds (within 20 s: roles and
/// bindings reach the authorizer a moment after they are written).
async fn anonymous_ok(cluster: &Cluster, path: &str) -> anyhow::Result<String> {
    let (body, _) = eventually(Duration::from_secs(20), || {
        let got = anonymous_get(cluster, path);
        async move {
            let (code, body) = got?;
            Ok((code == 200).then_some(body))
        }
    })
    .await?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_refused_unless_admitted() -> anyhow::Result<()> {
    // The default: a request without credentials is not served at all.
    let (cluster, _admin) = node("RBAC").await?;
    for path in ["/version", "/api/v1/namespaces/default/pods"] {
        let (code, body) = anonymous_get(&cluster, path)?;
        assert_eq!(code, 401, "{path}: {body}");
    }
    drop(cluster);

    // Admitted: the authorizer decides what `system:anonymous` may do.
    let (cluster, admin) = control_plane_with(&[], "anonymous_auth = true").await?;
    // The bootstrap roles are written (and indexed) a moment after the API answers.
    let body = anonymous_ok(&cluster, "/version").await?;
    assert!(body.contains("gitVersion"), "{body}");
    let (code, body) = anonymous_get(&cluster, "/api/v1/namespaces/default/pods")?;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""#),
        "{body}"
    );
    let (code, body) = anonymous_get(&cluster, "/apis")?;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"forbidden: User \"system:anonymous\" cannot get path \"/apis\""#),
        "{body}"
    );
    // A wrong token is not anonymous: it is refused.
    let stranger = kubeconfig_with_token(&admin, "no-such-token", "stranger")?;
    let out = fails(&stranger, &["get", "--raw", "/version"]);
    assert!(out.contains("Unauthorized"), "{out}");
    // Bound to a role, the group may do what the role allows, and no more.
    ok(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "anonymous-view",
            "--clusterrole=view",
            "--group=system:unauthenticated",
        ],
    );
    let list = anonymous_ok(&cluster, "/api/v1/namespaces/default/pods").await?;
    assert!(list.contains(r#""kind":"PodList""#), "{list}");
    let (code, body) = anonymous_get(&cluster, "/api/v1/nodes")?;
    assert_eq!(code, 403, "view is namespaced reading only: {body}");
    Ok(())
}

const IMPERSONATOR: &str = "
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-alice}
rules:
- apiGroups: [\"\"]
  resources: [users]
  resourceNames: [alice]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: eve-impersonates-alice}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-alice}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: eve}
";

fn whoami(kc: &Path, args: &[&str]) -> anyhow::Result<(String, Vec<String>)> {
    let mut full = vec!["auth", "whoami", "-o", "json"];
    full.extend_from_slice(args);
    let v: serde_json::Value = serde_json::from_str(&ok(kc, &full))?;
    let info = &v["status"]["userInfo"];
    let groups = info["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        info["username"].as_str().unwrap_or_default().to_owned(),
        groups,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_as_acts_as_whom_the_caller_may_impersonate() -> anyhow::Result<()> {
    let (cluster, admin) = node("RBAC").await?;
    let eve = kubeconfig_with_token(&admin, "eve-token", "eve")?;
    ok(&admin, &["create", "namespace", "a"]);
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
    // The admin (system:masters) may impersonate anyone, and then has alice's rights.
    until_allowed(&admin, &["list", "pods", "-n", "a", "--as=alice"]).await?;
    ok(&admin, &["get", "pods", "-n", "a", "--as=alice"]);
    let out = kubectl(
        &admin,
        &["auth", "can-i", "create", "pods", "-n", "a", "--as=alice"],
        None,
    );
    assert_eq!(out.stdout.trim(), "no", "{}", text(&out));
    let out = fails(
        &admin,
        &["create", "configmap", "c", "-n", "a", "--as=alice"],
    );
    assert!(
        out.contains(r#"configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "a""#),
        "{out}"
    );
    let (name, groups) = whoami(&admin, &["--as=alice", "--as-group=devs"])?;
    assert_eq!(name, "alice");
    assert_eq!(groups, ["devs", "system:authenticated"]);
    let (name, groups) = whoami(&admin, &["--as=system:serviceaccount:a:builder"])?;
    assert_eq!(name, "system:serviceaccount:a:builder");
    assert_eq!(
        groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:a",
            "system:authenticated"
        ]
    );

    // eve may not, until a role lets her impersonate alice: only alice, and no group.
    let out = fails(&eve, &["get", "pods", "-n", "a", "--as=alice"]);
    assert!(
        out.contains(r#"users "alice" is forbidden: User "eve" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{out}"
    );
    let applied = kubectl(&admin, &["apply", "-f", "-"], Some(IMPERSONATOR));
    assert!(applied.success, "{}", text(&applied));
    eventually(Duration::from_secs(20), || {
        let o = kubectl(&eve, &["get", "pods", "-n", "a", "--as=alice"], None);
        async move { Ok(o.success.then_some(())) }
    })
    .await?;
    let out = fails(&eve, &["get", "pods", "-n", "a", "--as=bob"]);
    assert!(
        out.contains(r#"users "bob" is forbidden: User "eve" cannot impersonate resource "users""#),
        "{out}"
    );
    let out = fails(
        &eve,
        &["get", "pods", "-n", "a", "--as=alice", "--as-group=admins"],
    );
    assert!(
        out.contains(
            r#"groups "admins" is forbidden: User "eve" cannot impersonate resource "groups""#
        ),
        "{out}"
    );

    // The audit log names both.
    let line = cluster.nodes[0]
        .audit_event(Duration::from_secs(10), |e| {
            e["user"]["username"] == "eve"
                && e["impersonatedUser"]["username"] == "alice"
                && e["verb"] == "list"
        })
        .await?;
    assert_eq!(line["responseStatus"]["code"], 200, "{line}");
    Ok(())
}
