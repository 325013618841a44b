//! CustomResourceDefinitions against real `rudderd` processes, driven by the newest
//! kubectl (`rudder_ensure_kubectl`) and kube-rs: a CRD with a structural schema is
//! served at once (discovery, short names, the `all` category, printer columns);
//! custom resources are pruned, defaulted and validated (422 with the field path);
//! merge, JSON and status patches work and strategic merge is refused (415); selectors
//! work; a watch sees the events; deleting the CRD deletes its objects and discovery
//! forgets it; a second API server of the cluster serves what the first learned; a CRD
//! asking for names another CRD of its group holds is not accepted
//! (`ShortNamesConflict`, `ListKindConflict`, ...) nor served until that one goes; CEL
//! validation rules (`x-kubernetes-validations`) hold custom resources to them, transition
//! rules against the stored object, with Kubernetes' messages.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, PostParams, WatchEvent, WatchParams,
};
use rudder_tests::{Cluster, NodeProc};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: boolean, jsonPath: .status.ready}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue], default: red}
              name: {type: string, pattern: '^[a-z]+$'}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            properties:
              ready: {type: boolean}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  labels: {{tier: {name}}}\nspec: {spec}\n")
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    match std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("kubectl could not run ({e}); scripts/test.sh installs it"),
    }
}

fn ok(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args);
    assert!(
        o.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(kc: &Path, args: &[&str]) -> String {
    let o = kubectl(kc, args);
    assert!(
        !o.status.success(),
        "kubectl {args:?} should fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `kubectl <args> -f -` with `input` on stdin.
fn with_stdin(kc: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kc)
        .args(args)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("kubectl output")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn solo() -> anyhow::Result<(Cluster, std::path::PathBuf)> {
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "solo");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    wait_default_namespace(&kc).await?;
    Ok((cluster, kc))
}

async fn wait_default_namespace(kc: &Path) -> anyhow::Result<()> {
    let kc = kc.to_path_buf();
    rudder_tests::eventually(Duration::from_secs(20), || {
        let kc = kc.clone();
        async move {
            let o = kubectl(&kc, &["get", "namespace", "default", "-o", "name"]);
            Ok(o.status.success().then_some(()))
        }
    })
    .await?;
    Ok(())
}

/// Waits until `kubectl get widgets` is served through `kc` (discovery has it).
async fn wait_served(kc: &Path) -> anyhow::Result<()> {
    let kc = kc.to_path_buf();
    rudder_tests::eventually(Duration::from_secs(20), || {
        let kc = kc.clone();
        async move {
            let o = kubectl(&kc, &["get", "widgets.example.com", "-A", "-o", "name"]);
            Ok(o.status.success().then_some(()))
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("widgets were never served: {e}"))?;
    Ok(())
}

fn create_crd(kc: &Path) {
    let o = with_stdin(kc, &["apply"], CRD);
    assert!(o.status.success(), "CRD apply: {}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_schema_printer_columns_discovery_and_deletion() -> anyhow::Result<()> {
    let (cluster, kc) = solo().await?;
    let kc = kc.as_path();
    create_crd(kc);
    wait_served(kc).await?;

    // The CRD reports its names accepted and itself established.
    let conditions = ok(
        kc,
        &[
            "get",
            "crd",
            "widgets.example.com",
            "-o",
            "jsonpath={range .status.conditions[*]}{.type}={.status} {end}",
        ],
    );
    assert!(
        conditions.contains("NamesAccepted=True") && conditions.contains("Established=True"),
        "{conditions}"
    );
    let resources = ok(kc, &["api-resources", "--api-group=example.com"]);
    let row: Vec<&str> = resources
        .lines()
        .find(|l| l.starts_with("widgets"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["widgets", "wd", "example.com/v1", "true", "Widget"],
        "{resources}"
    );

    // Unknown fields are pruned (when the client does not ask for strict validation),
    // defaults are applied, fields under preserve-unknown-fields stay.
    let o = with_stdin(
        kc,
        &["create", "--validate=false"],
        &widget("small", "{size: 3, junk: 1, extra: {anything: [1, 2]}}"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let stored: serde_json::Value =
        serde_json::from_str(&ok(kc, &["get", "widget", "small", "-o", "json"]))?;
    assert_eq!(
        stored["spec"],
        serde_json::json!({"size": 3, "color": "red", "extra": {"anything": [1, 2]}}),
        "{stored}"
    );
    // kubectl's default (strict) validation names the unknown field.
    let o = with_stdin(kc, &["create"], &widget("strict", "{size: 3, junk: 1}"));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("unknown field \"spec.junk\""),
        "{}",
        text(&o)
    );

    // Invalid objects: 422 with the field path, in Kubernetes' words.
    for (spec, want) in [
        ("{size: 11}", "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"),
        ("{color: red}", "spec.size: Required value"),
        ("{size: two}", "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""),
        ("{size: 2, color: pink}", "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\""),
        ("{size: 2, name: Bad}", "spec.name: Invalid value: \"Bad\": spec.name in body should match '^[a-z]+$'"),
    ] {
        let o = with_stdin(kc, &["create"], &widget("bad", spec));
        assert!(!o.status.success(), "{spec} was accepted");
        let t = text(&o);
        assert!(t.contains("is invalid") && t.contains(want), "{spec}: {t}");
    }

    // Printer columns, the short name and the `all` category.
    let o = with_stdin(kc, &["create"], &widget("big", "{size: 9, color: blue}"));
    assert!(o.status.success(), "{}", text(&o));
    let table = ok(kc, &["get", "wd"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "SIZE", "COLOR", "READY", "AGE"],
        "{table}"
    );
    assert_eq!(lines[1][..3], ["big", "9", "blue"], "{table}");
    assert_eq!(lines[2][..3], ["small", "3", "red"], "{table}");
    let all = ok(kc, &["get", "all", "-o", "name"]);
    assert!(all.contains("widget.example.com/big"), "{all}");

    // Selectors.
    let by_field = ok(
        kc,
        &[
            "get",
            "widgets",
            "--field-selector",
            "metadata.name=big",
            "-o",
            "name",
        ],
    );
    assert_eq!(by_field.trim(), "widget.example.com/big");
    let by_label = ok(kc, &["get", "widgets", "-l", "tier=small", "-o", "name"]);
    assert_eq!(by_label.trim(), "widget.example.com/small");

    // Patches: merge and JSON patch; strategic merge is refused as Kubernetes refuses it.
    ok(
        kc,
        &[
            "patch",
            "widget",
            "small",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":4}}"#,
        ],
    );
    ok(
        kc,
        &[
            "patch",
            "widget",
            "small",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/color","value":"blue"}]"#,
        ],
    );
    let spec = ok(
        kc,
        &[
            "get",
            "widget",
            "small",
            "-o",
            "jsonpath={.spec.size} {.spec.color}",
        ],
    );
    assert_eq!(spec, "4 blue");
    let err = fails(
        kc,
        &["patch", "widget", "small", "-p", r#"{"spec":{"size":5}}"#],
    );
    assert!(err.contains("unknown format"), "{err}");
    let err = fails(
        kc,
        &[
            "patch",
            "widget",
            "small",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":0}}"#,
        ],
    );
    assert!(
        err.contains("spec.size in body should be greater than or equal to 1"),
        "{err}"
    );

    // The status subresource: the main resource cannot write status, /status can.
    ok(
        kc,
        &[
            "patch",
            "widget",
            "small",
            "--type=merge",
            "-p",
            r#"{"status":{"ready":true}}"#,
        ],
    );
    assert_eq!(
        ok(kc, &["get", "widget", "small", "-o", "jsonpath={.status}"]),
        ""
    );
    ok(
        kc,
        &[
            "patch",
            "widget",
            "small",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"ready":true}}"#,
        ],
    );
    assert_eq!(
        ok(
            kc,
            &["get", "widget", "small", "-o", "jsonpath={.status.ready}"]
        ),
        "true"
    );

    // The other served version answers for the same objects.
    let beta = ok(
        kc,
        &[
            "get",
            "widgets.v1beta1.example.com",
            "big",
            "-o",
            "jsonpath={.spec.size}",
        ],
    );
    assert_eq!(beta, "9");
    // Conversion `None`, as Kubernetes does it: an object is answered as the version
    // it is read at, and stored as the storage version whichever it is written at.
    let version_of = |resource: &str, name: &str| {
        ok(kc, &["get", resource, name, "-o", "jsonpath={.apiVersion}"])
    };
    assert_eq!(
        version_of("widgets.v1beta1.example.com", "big"),
        "example.com/v1beta1"
    );
    assert_eq!(
        version_of("widgets.v1.example.com", "big"),
        "example.com/v1"
    );
    let out = with_stdin(
        kc,
        &["apply", "-o", "jsonpath={.apiVersion}"],
        &widget("beta", "{size: 2}").replace("example.com/v1", "example.com/v1beta1"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "example.com/v1beta1");
    assert_eq!(
        version_of("widgets.v1.example.com", "beta"),
        "example.com/v1"
    );
    let listed = ok(
        kc,
        &[
            "get",
            "widgets.v1beta1.example.com",
            "-o",
            "jsonpath={range .items[*]}{.apiVersion} {end}",
        ],
    );
    assert!(
        listed
            .split_whitespace()
            .all(|v| v == "example.com/v1beta1"),
        "{listed}"
    );
    // A watch at v1beta1 too (its initial events: the objects as they are).
    let watched = ok(
        kc,
        &[
            "get",
            "--raw",
            "/apis/example.com/v1beta1/namespaces/default/widgets?watch=true&timeoutSeconds=1",
        ],
    );
    let events: Vec<serde_json::Value> = watched
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(events.len() >= 2, "{watched}");
    for e in &events {
        assert_eq!(e["object"]["apiVersion"], "example.com/v1beta1", "{e}");
    }
    let client = cluster.nodes[0].client().await?;
    let stored = client
        .call(
            rudder_protocol::ActorRef::new(client.node().clone(), "store"),
            rudder_protocol::messages::store::StoreRequest::Get {
                key: "/registry/example.com/widgets/default/beta".into(),
                consistency: Default::default(),
            },
        )
        .await?;
    let rudder_protocol::messages::store::StoreReply::Get { kv: Some(kv), .. } = stored else {
        anyhow::bail!("widget beta is not in the store: {stored:?}");
    };
    let stored: serde_json::Value = serde_json::from_slice(&kv.value)?;
    assert_eq!(
        stored["apiVersion"], "example.com/v1",
        "stored as the storage version"
    );
    ok(kc, &["delete", "widget", "beta"]);

    // Deleting the CRD deletes its objects; discovery forgets it.
    ok(
        kc,
        &["delete", "crd", "widgets.example.com", "--timeout=60s"],
    );
    let kcp = kc.to_path_buf();
    rudder_tests::eventually(Duration::from_secs(20), || {
        let kc = kcp.clone();
        async move {
            let o = kubectl(
                &kc,
                &["api-resources", "--api-group=example.com", "-o", "name"],
            );
            Ok((!String::from_utf8_lossy(&o.stdout).contains("widgets")).then_some(()))
        }
    })
    .await?;
    let err = fails(kc, &["get", "widgets"]);
    assert!(
        err.contains("the server doesn't have a resource type"),
        "{err}"
    );
    // Defined again, the resource starts empty.
    create_crd(kc);
    wait_served(kc).await?;
    assert_eq!(ok(kc, &["get", "widgets", "-A", "-o", "name"]), "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_invalid_definitions_are_refused() -> anyhow::Result<()> {
    let (_cluster, kc) = solo().await?;
    let kc = kc.as_path();
    let two_storage = CRD.replace("storage: false", "storage: true");
    let o = with_stdin(kc, &["create"], &two_storage);
    let t = text(&o);
    assert!(
        !o.status.success()
            && t.contains("must have exactly one version marked as storage version"),
        "{t}"
    );
    let cel = CRD.replace(
        "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n",
        "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n        x-kubernetes-validations: [{rule: 'self.x.find(\"a\") != \"\"'}]\n",
    );
    let o = with_stdin(kc, &["create"], &cel);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("compilation failed: undeclared reference to 'find'"),
        "{t}"
    );
    // A rule selecting a field the schema does not declare is refused, as Kubernetes'
    // type check refuses it.
    let typo = SCALER_CRD.replace(
        "rule: self.minReplicas <= self.maxReplicas",
        "rule: self.minReplicsa <= self.maxReplicas",
    );
    let o = with_stdin(kc, &["create"], &typo);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("undefined field 'minReplicsa'"),
        "{t}"
    );
    let no_type = CRD.replace(
        "              ready: {type: boolean}",
        "              ready: {}",
    );
    let o = with_stdin(kc, &["create"], &no_type);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("properties[ready].type: Required value"),
        "{t}"
    );
    Ok(())
}

/// `kubectl get crd NAME` of one condition: `status reason: message`.
fn condition(kc: &Path, crd: &str, ty: &str) -> String {
    let path = format!(
        "jsonpath={{range .status.conditions[?(@.type==\"{ty}\")]}}{{.status}} {{.reason}}: {{.message}}{{end}}"
    );
    ok(kc, &["get", "crd", crd, "-o", &path])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_names_another_crd_holds_are_not_accepted_until_it_goes() -> anyhow::Result<()> {
    let (_cluster, kc) = solo().await?;
    let kc = kc.as_path();
    create_crd(kc);
    wait_served(kc).await?;
    // Another CRD of the group asking for the kind `Widget`, then one for the short
    // name `wd`: neither is accepted, established or served.
    let rival = |name: &str, plural: &str, kind: &str, short: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
             metadata: {{name: {name}}}\nspec:\n  group: example.com\n  scope: Namespaced\n  \
             names: {{plural: {plural}, kind: {kind}, shortNames: [{short}]}}\n  versions:\n  \
             - name: v1\n    served: true\n    storage: true\n    schema:\n      \
             openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
        )
    };
    let o = with_stdin(
        kc,
        &["create"],
        &rival("gadgets.example.com", "gadgets", "Widget", "gd"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = with_stdin(
        kc,
        &["create"],
        &rival("gizmos.example.com", "gizmos", "Gizmo", "wd"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        condition(kc, "gadgets.example.com", "NamesAccepted"),
        r#"False ListKindConflict: "WidgetList" is already in use"#
    );
    assert_eq!(
        condition(kc, "gadgets.example.com", "Established"),
        "False NotAccepted: not all names are accepted"
    );
    assert_eq!(
        condition(kc, "gizmos.example.com", "NamesAccepted"),
        r#"False ShortNamesConflict: "wd" is already in use"#
    );
    let accepted = ok(
        kc,
        &[
            "get",
            "crd",
            "gadgets.example.com",
            "-o",
            "jsonpath={.status.acceptedNames}",
        ],
    );
    // Names nobody else holds are accepted; the kind is not.
    let accepted: serde_json::Value = serde_json::from_str(&accepted)?;
    assert_eq!(accepted["plural"], "gadgets", "{accepted}");
    assert!(accepted.get("kind").is_none(), "{accepted}");
    let out = fails(kc, &["get", "gadgets.example.com"]);
    assert!(
        out.contains("the server doesn't have a resource type"),
        "{out}"
    );
    // The first CRD keeps its names and is still served.
    assert_eq!(
        condition(kc, "widgets.example.com", "NamesAccepted"),
        "True NoConflicts: no conflicts found"
    );
    ok(kc, &["get", "wd"]);
    // Once the first CRD is gone, both rivals are accepted and served.
    ok(kc, &["delete", "crd", "widgets.example.com"]);
    let kc_owned = kc.to_path_buf();
    rudder_tests::eventually(Duration::from_secs(30), || {
        let kc = kc_owned.clone();
        async move {
            let served = ["gadgets.example.com", "gizmos.example.com"]
                .iter()
                .all(|r| {
                    kubectl(&kc, &["get", r, "-A", "-o", "name"])
                        .status
                        .success()
                });
            Ok(served.then_some(()))
        }
    })
    .await?;
    assert_eq!(
        condition(kc, "gadgets.example.com", "Established"),
        "True InitialNamesAccepted: the initial names have been accepted"
    );
    Ok(())
}

fn widget_api(client: kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    Api::namespaced_with(
        client,
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "widgets"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_watch_sees_custom_resource_events() -> anyhow::Result<()> {
    let (_cluster, kc) = solo().await?;
    create_crd(&kc);
    wait_served(&kc).await?;
    let client = common::kube_client(&kc).await?;
    let api = widget_api(client, "default");
    let watch = api
        .watch(&WatchParams::default().timeout(30), "0")
        .await?
        .boxed();
    let w: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "watched"},
        "spec": {"size": 2},
    }))?;
    api.create(&PostParams::default(), &w).await?;
    ok(
        &kc,
        &[
            "patch",
            "widget",
            "watched",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ],
    );
    ok(&kc, &["delete", "widget", "watched"]);
    let events: Vec<String> = watch
        .try_filter(|e| futures::future::ready(!matches!(e, WatchEvent::Bookmark(_))))
        .take(3)
        .map_ok(|e| match e {
            WatchEvent::Added(o) => format!("ADDED {}", o.data["spec"]["size"]),
            WatchEvent::Modified(o) => format!("MODIFIED {}", o.data["spec"]["size"]),
            WatchEvent::Deleted(o) => format!("DELETED {}", o.data["spec"]["size"]),
            other => format!("{other:?}"),
        })
        .try_collect()
        .await?;
    assert_eq!(events, ["ADDED 2", "MODIFIED 3", "DELETED 3"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_is_served_by_every_api_server() -> anyhow::Result<()> {
    let mut c = Cluster::new()?;
    for i in 1..=2 {
        let spec = c.spec(&format!("three-node/cp-{i}.toml"), &format!("cp-{i}"));
        c.nodes.push(NodeProc::start(spec).await?);
    }
    c.wait_store_in_step(Duration::from_secs(60)).await?;
    let first = c.nodes[0].kubeconfig();
    let second = c.nodes[1].kubeconfig();
    wait_default_namespace(&first).await?;
    wait_default_namespace(&second).await?;
    create_crd(&first);
    wait_served(&second).await?;
    let o = with_stdin(&second, &["create"], &widget("remote", "{size: 5}"));
    assert!(o.status.success(), "{}", text(&o));
    let got = ok(
        &first,
        &[
            "get",
            "widget",
            "remote",
            "-o",
            "jsonpath={.spec.size} {.spec.color}",
        ],
    );
    assert_eq!(got, "5 red");
    // Validation runs on the second server too.
    let o = with_stdin(&second, &["create"], &widget("wrong", "{size: 50}"));
    assert!(
        !o.status.success() && text(&o).contains("spec.size"),
        "{}",
        text(&o)
    );
    Ok(())
}

const SCALER_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: scalers.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: scalers, singular: scaler, kind: Scaler}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: self.minReplicas <= self.maxReplicas
              message: minReplicas must not exceed maxReplicas
            - rule: self.mode == oldSelf.mode
              message: mode is immutable
              reason: FieldValueForbidden
            - rule: oldSelf.hasValue() || self.mode != 'legacy'
              optionalOldSelf: true
              message: legacy mode cannot be chosen for a new scaler
            - rule: "!has(self.targets) || self.targets.all(t, t.matches('^[a-z]+$'))"
              messageExpression: "'targets must be lower-case words, got ' + self.targets.join(', ')"
              fieldPath: .targets
            properties:
              minReplicas: {type: integer}
              maxReplicas: {type: integer}
              mode: {type: string}
              targets: {type: array, items: {type: string}}
              address:
                type: string
                x-kubernetes-validations:
                - rule: isIP(self) && ip(self).family() == 4
                  message: address must be an IPv4 address
              memory:
                type: string
                x-kubernetes-validations:
                - rule: quantity(self).isLessThan(quantity('1Gi'))
                  message: memory must be under 1Gi
"#;

fn scaler(name: &str, spec: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Scaler\nmetadata:\n  name: {name}\nspec: {spec}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_cel_rules_hold_custom_resources_to_them() -> anyhow::Result<()> {
    let (_cluster, kc) = solo().await?;
    let kc = kc.as_path();
    let o = with_stdin(kc, &["apply"], SCALER_CRD);
    assert!(o.status.success(), "CRD apply: {}", text(&o));
    let kc_buf = kc.to_path_buf();
    rudder_tests::eventually(Duration::from_secs(20), || {
        let kc = kc_buf.clone();
        async move {
            let o = kubectl(&kc, &["get", "scalers", "-o", "name"]);
            Ok(o.status.success().then_some(()))
        }
    })
    .await?;

    let o = with_stdin(
        kc,
        &["create"],
        &scaler("s1", "{minReplicas: 5, maxReplicas: 2, mode: fast}"),
    );
    let t = text(&o);
    assert!(
        !o.status.success()
            && t.contains("The Scaler \"s1\" is invalid: spec: Invalid value: \"object\": minReplicas must not exceed maxReplicas"),
        "{t}"
    );
    let o = with_stdin(
        kc,
        &["create"],
        &scaler(
            "s1",
            "{minReplicas: 1, maxReplicas: 3, mode: fast, targets: [web, DB]}",
        ),
    );
    let t = text(&o);
    assert!(
        !o.status.success()
            && t.contains("spec.targets: Invalid value: \"object\": targets must be lower-case words, got web, DB"),
        "{t}"
    );
    // An optionalOldSelf rule runs on creates.
    let o = with_stdin(
        kc,
        &["create"],
        &scaler("s0", "{minReplicas: 1, maxReplicas: 3, mode: legacy}"),
    );
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains("legacy mode cannot be chosen for a new scaler"),
        "{t}"
    );
    // Kubernetes' IP and quantity libraries.
    for (spec, want) in [
        (
            "{minReplicas: 1, maxReplicas: 3, mode: fast, address: 10.0.0.300}",
            "spec.address: Invalid value: \"string\": address must be an IPv4 address",
        ),
        (
            "{minReplicas: 1, maxReplicas: 3, mode: fast, address: 'fd00::1'}",
            "address must be an IPv4 address",
        ),
        (
            "{minReplicas: 1, maxReplicas: 3, mode: fast, memory: 2Gi}",
            "spec.memory: Invalid value: \"string\": memory must be under 1Gi",
        ),
    ] {
        let o = with_stdin(kc, &["create"], &scaler("s2", spec));
        let t = text(&o);
        assert!(!o.status.success() && t.contains(want), "{spec}: {t}");
    }
    let o = with_stdin(
        kc,
        &["create"],
        &scaler(
            "s2",
            "{minReplicas: 1, maxReplicas: 3, mode: fast, address: 10.0.0.3, memory: 512Mi}",
        ),
    );
    assert!(o.status.success(), "{}", text(&o));
    // Valid: created (a transition rule does not apply to a create).
    let o = with_stdin(
        kc,
        &["create"],
        &scaler(
            "s1",
            "{minReplicas: 1, maxReplicas: 3, mode: fast, targets: [web]}",
        ),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The transition rule holds the update to the stored object.
    let t = fails(
        kc,
        &[
            "patch",
            "scaler",
            "s1",
            "--type=merge",
            "-p",
            r#"{"spec":{"mode":"slow"}}"#,
        ],
    );
    assert!(t.contains("spec: Forbidden: mode is immutable"), "{t}");
    ok(
        kc,
        &[
            "patch",
            "scaler",
            "s1",
            "--type=merge",
            "-p",
            r#"{"spec":{"maxReplicas":5}}"#,
        ],
    );
    let got = ok(
        kc,
        &[
            "get",
            "scaler",
            "s1",
            "-o",
            "jsonpath={.spec.mode}/{.spec.maxReplicas}",
        ],
    );
    assert_eq!(got, "fast/5");
    Ok(())
}
