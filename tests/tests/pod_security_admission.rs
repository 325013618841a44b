//! PodSecurity admission against a real `rudderd` (control plane only, real RocksDB; no
//! Docker: admission needs no kubelet), driven with the newest kubectl:
//!
//! - **enforce**: a `restricted` namespace refuses a privileged pod (403, Kubernetes'
//!   `violates PodSecurity "restricted:latest": ...` message, every violation) and
//!   admits a compliant one; a `baseline` namespace at a pinned version refuses
//!   `hostNetwork`; a Deployment in the `restricted` namespace is admitted with the
//!   `Warning: would violate PodSecurity` kubectl prints (warn follows enforce).
//! - **warn** and **audit**: a namespace that only warns and audits admits a
//!   non-compliant pod, kubectl prints the warning, and the request's audit event
//!   carries the `pod-security.kubernetes.io/audit-violations` annotation.
//! - **namespaces**: an invalid level or version label is refused (422 Invalid) on create
//!   and on `kubectl label`;
//!   tightening `enforce` over existing violating pods warns about them by name.
//! - **configuration**: Kubernetes' admission configuration file sets the level of
//!   unlabelled namespaces and exempts a user, a runtime class and a namespace; exempt
//!   requests are admitted unchecked and their audit events say why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rudder_tests::{control_plane_with, eventually, kubectl, Cluster, KubectlRun};

const AUDIT_POLICY: &str = "\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  resources:
  - group: \"\"
    resources: [\"pods\"]
";

/// A control-plane node auditing pod requests at `Metadata`; its admin kubeconfig.
async fn node() -> anyhow::Result<(Cluster, PathBuf)> {
    control_plane_with(
        &[("audit.yaml", AUDIT_POLICY)],
        "audit_policy_file = \"{dir}/audit.yaml\"",
    )
    .await
}

fn apply(kc: &Path, yaml: &str) -> KubectlRun {
    kubectl(kc, &["apply", "-f", "-"], Some(yaml))
}

fn applied(kc: &Path, yaml: &str) -> KubectlRun {
    let run = apply(kc, yaml);
    assert!(run.success, "apply failed: {run:?}\n{yaml}");
    run
}

fn refused(kc: &Path, yaml: &str) -> KubectlRun {
    let run = apply(kc, yaml);
    assert!(!run.success, "apply succeeded: {run:?}\n{yaml}");
    run
}

fn namespace_yaml(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n{labels}")
}

/// A pod of one container `c` whose container has this extra YAML (indented for the
/// container) and whose spec has `spec` (indented for the spec).
fn pod_yaml(ns: &str, name: &str, container: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n{spec}  containers:\n  - name: c\n    image: rudder/demo:1\n{container}"
    )
}

const COMPLIANT: &str = "    securityContext:
      allowPrivilegeEscalation: false
      runAsNonRoot: true
      capabilities:
        drop: [\"ALL\"]
      seccompProfile:
        type: RuntimeDefault
";

const PRIVILEGED: &str = "    securityContext:
      privileged: true
";

/// What the restricted level says about a container `c` that sets nothing.
const BARE_RESTRICTED: &str = "allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), \
runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), \
seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";

/// Waits until a consistent list of namespaces (which brings the node's watch cache,
/// where admission reads namespaces, up to date) shows `ns` with `label` at `want`.
async fn namespace_has(kc: &Path, ns: &str, label: &str, want: &str) -> anyhow::Result<()> {
    let path = format!(
        "jsonpath={{.items[?(@.metadata.name==\"{ns}\")].metadata.labels.{}}}",
        label.replace('.', "\\.")
    );
    eventually(Duration::from_secs(30), || {
        let run = kubectl(kc, &["get", "namespaces", "-o", &path], None);
        let want = want.to_owned();
        async move { Ok((run.stdout.trim() == want).then_some(())) }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn enforce_refuses_and_warns_as_kubernetes_does() -> anyhow::Result<()> {
    let (_cluster, kc) = node().await?;
    applied(
        &kc,
        &namespace_yaml(
            "strict",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        ),
    );
    applied(
        &kc,
        &namespace_yaml(
            "base",
            &[
                ("pod-security.kubernetes.io/enforce", "baseline"),
                ("pod-security.kubernetes.io/enforce-version", "v1.30"),
            ],
        ),
    );

    // A privileged pod: refused with every violation, the baseline one first.
    let run = refused(&kc, &pod_yaml("strict", "priv", PRIVILEGED, ""));
    let want = "pods \"priv\" is forbidden: violates PodSecurity \"restricted:latest\": \
privileged (container \"c\" must not set securityContext.privileged=true), "
        .to_owned()
        + BARE_RESTRICTED;
    assert!(
        run.stderr.contains("Error from server (Forbidden)") && run.stderr.contains(&want),
        "{run:?}"
    );
    let get = kubectl(&kc, &["get", "pod", "priv", "-n", "strict"], None);
    assert!(!get.success, "the refused pod exists: {get:?}");

    // A compliant pod: admitted, without a warning.
    let run = applied(&kc, &pod_yaml("strict", "good", COMPLIANT, ""));
    assert!(!run.stderr.contains("Warning"), "{run:?}");
    assert!(kubectl(&kc, &["get", "pod", "good", "-n", "strict"], None).success);

    // Baseline refuses host namespaces, naming the pinned version.
    let run = refused(
        &kc,
        &pod_yaml("base", "hostnet", "", "  hostNetwork: true\n"),
    );
    assert!(
        run.stderr.contains(
            "pods \"hostnet\" is forbidden: violates PodSecurity \"baseline:v1.30\": host namespaces (hostNetwork=true)"
        ),
        "{run:?}"
    );
    // ... and admits what only restricted forbids.
    applied(&kc, &pod_yaml("base", "plain", "", ""));

    // A Deployment whose pods would be refused: admitted, with the warning (warn
    // follows enforce).
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: strict\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: c\n        image: rudder/demo:1\n";
    let run = applied(&kc, deployment);
    assert!(
        run.stderr.contains(&format!(
            "Warning: would violate PodSecurity \"restricted:latest\": {BARE_RESTRICTED}"
        )),
        "{run:?}"
    );
    assert!(kubectl(&kc, &["get", "deployment", "web", "-n", "strict"], None).success);
    Ok(())
}

#[tokio::test]
async fn warn_audit_and_namespace_labels() -> anyhow::Result<()> {
    let (cluster, kc) = node().await?;
    applied(
        &kc,
        &namespace_yaml(
            "loose",
            &[
                ("pod-security.kubernetes.io/warn", "restricted"),
                ("pod-security.kubernetes.io/warn-version", "latest"),
                ("pod-security.kubernetes.io/audit", "baseline"),
            ],
        ),
    );

    // Warn mode admits, and kubectl prints the warning.
    let run = applied(&kc, &pod_yaml("loose", "bare", "", ""));
    assert!(
        run.stderr.contains(&format!(
            "Warning: would violate PodSecurity \"restricted:latest\": {BARE_RESTRICTED}"
        )),
        "{run:?}"
    );
    assert!(kubectl(&kc, &["get", "pod", "bare", "-n", "loose"], None).success);

    // Audit mode: the create of a baseline-violating pod carries the annotation.
    let run = applied(&kc, &pod_yaml("loose", "priv", PRIVILEGED, ""));
    assert!(
        run.stderr.contains("Warning: would violate PodSecurity"),
        "{run:?}"
    );
    let want = "would violate PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)";
    cluster.nodes[0]
        .audit_event(Duration::from_secs(30), |e| {
            e["verb"] == "create"
                && e["objectRef"]["namespace"] == "loose"
                && e["responseStatus"]["code"] == 201
                && e["annotations"]["pod-security.kubernetes.io/audit-violations"] == want
        })
        .await
        .expect("an audit event with the violations");

    // Invalid labels: refused on create and on update (422 Invalid; kubectl words an
    // Invalid status from its details, the message's text is unit-tested).
    let run = refused(
        &kc,
        &namespace_yaml("typo", &[("pod-security.kubernetes.io/enforce", "strict")]),
    );
    assert!(
        run.stderr.contains("The namespaces \"typo\" is invalid"),
        "{run:?}"
    );
    assert!(!kubectl(&kc, &["get", "namespace", "typo"], None).success);
    let run = kubectl(
        &kc,
        &[
            "label",
            "namespace",
            "loose",
            "pod-security.kubernetes.io/audit-version=1.30",
        ],
        None,
    );
    assert!(
        !run.success && run.stderr.contains("The namespaces \"loose\" is invalid"),
        "{run:?}"
    );
    let labels = kubectl(&kc, &["get", "namespace", "loose", "--show-labels"], None);
    assert!(!labels.stdout.contains("audit-version"), "{labels:?}");

    // Tightening enforce over the pods already there: allowed, with warnings naming them
    // (read from the watch cache, which a consistent list brings up to date).
    let pods = kubectl(&kc, &["get", "pods", "-n", "loose", "-o", "name"], None);
    assert!(pods.stdout.contains("pod/priv"), "{pods:?}");
    let run = kubectl(
        &kc,
        &[
            "label",
            "namespace",
            "loose",
            "pod-security.kubernetes.io/enforce=baseline",
        ],
        None,
    );
    assert!(run.success, "{run:?}");
    assert!(
        run.stderr.contains(
            "Warning: existing pods in namespace \"loose\" violate the new PodSecurity enforce level \"baseline:latest\""
        ) && run.stderr.contains("Warning: priv: privileged"),
        "{run:?}"
    );
    // Now enforced: a privileged pod is refused.
    namespace_has(
        &kc,
        "loose",
        "pod-security.kubernetes.io/enforce",
        "baseline",
    )
    .await?;
    let run = refused(&kc, &pod_yaml("loose", "priv2", PRIVILEGED, ""));
    assert!(
        run.stderr
            .contains("violates PodSecurity \"baseline:latest\": privileged"),
        "{run:?}"
    );
    Ok(())
}

/// Kubernetes' admission configuration file, PodSecurity's part inline.
const ADMISSION_CONFIG: &str = "\
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      warn: baseline
    exemptions:
      usernames: [installer]
      runtimeClasses: [kata]
      namespaces: [tools]
";

const TOKENS: &str = "installer-token,installer,uid-installer,system:masters\n";

/// The audit annotations of a pod create in `ns` by `user` that got `code`.
async fn create_annotations(
    cluster: &Cluster,
    (ns, user): (&str, &str),
    code: u16,
) -> anyhow::Result<serde_json::Value> {
    let event = cluster.nodes[0]
        .audit_event(Duration::from_secs(30), |e| {
            e["verb"] == "create"
                && e["objectRef"]["namespace"] == ns
                && e["user"]["username"] == user
                && e["responseStatus"]["code"] == code
        })
        .await?;
    Ok(event["annotations"].clone())
}

#[tokio::test]
async fn cluster_defaults_and_exemptions_from_the_admission_configuration() -> anyhow::Result<()> {
    let (cluster, kc) = control_plane_with(
        &[
            ("audit.yaml", AUDIT_POLICY),
            ("admission.yaml", ADMISSION_CONFIG),
            ("tokens.csv", TOKENS),
        ],
        "audit_policy_file = \"{dir}/audit.yaml\"\n\
         pod_security_config_file = \"{dir}/admission.yaml\"\n\
         token_auth_file = \"{dir}/tokens.csv\"",
    )
    .await?;
    let installer = rudder_tests::kubeconfig_with_token(&kc, "installer-token", "installer")?;
    for ns in ["apps", "tools"] {
        applied(&kc, &namespace_yaml(ns, &[("team", ns)]));
    }
    applied(
        &kc,
        &namespace_yaml(
            "strict",
            &[("pod-security.kubernetes.io/enforce", "restricted")],
        ),
    );

    // An unlabelled namespace enforces the configured default.
    let run = refused(&kc, &pod_yaml("apps", "priv", PRIVILEGED, ""));
    assert!(
        run.stderr.contains(
            "pods \"priv\" is forbidden: violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)"
        ),
        "{run:?}"
    );
    applied(&kc, &pod_yaml("apps", "plain", "", ""));
    // A label still wins over the default.
    let run = refused(&kc, &pod_yaml("strict", "plain", "", ""));
    assert!(
        run.stderr
            .contains("violates PodSecurity \"restricted:latest\""),
        "{run:?}"
    );

    // An exempt user: the same pod is admitted, unchecked, and the audit event says why.
    let run = applied(&installer, &pod_yaml("apps", "priv", PRIVILEGED, ""));
    assert!(!run.stderr.contains("Warning"), "{run:?}");
    let a = create_annotations(&cluster, ("apps", "installer"), 201).await?;
    assert_eq!(a["pod-security.kubernetes.io/exempt"], "user", "{a}");

    // An exempt namespace: anyone's privileged pod.
    applied(&kc, &pod_yaml("tools", "priv", PRIVILEGED, ""));
    let a = create_annotations(&cluster, ("tools", "kubernetes-admin"), 201).await?;
    assert_eq!(a["pod-security.kubernetes.io/exempt"], "namespace", "{a}");

    // An exempt runtime class (on a workload's template: Rudder's RuntimeClass admission
    // refuses pods that name one): no warning; without it, the default level warns.
    let deployment = |name: &str, runtime_class: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n{runtime_class}      hostNetwork: true\n      containers:\n      - name: c\n        image: rudder/demo:1\n"
        )
    };
    let run = applied(&kc, &deployment("kata", "      runtimeClassName: kata\n"));
    assert!(!run.stderr.contains("Warning"), "{run:?}");
    let run = applied(&kc, &deployment("runc", ""));
    assert!(
        run.stderr.contains(
            "Warning: would violate PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true)"
        ),
        "{run:?}"
    );
    Ok(())
}
