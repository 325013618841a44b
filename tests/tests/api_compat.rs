//! The client compatibility suite: the clients people use, against a one-node `rudderd`
//! running pods in real Docker.
//!
//! - **kubectl**, the newest release and the oldest supported minor (`scripts/lib.sh`
//!   installs both): a table of everyday verbs run in order in a namespace of their own
//!   (every `create` generator of the served kinds, `configmap` and `secret` included,
//!   `run`, `expose`, `set image|env`, `label`, `annotate`, `scale`,
//!   `rollout restart|pause|resume|undo|history|status`, `edit` with a scripted editor,
//!   `replace`, `wait --for=condition`, `diff`, `explain`, `api-resources`, `events`,
//!   `delete --cascade=foreground|orphan`), each with the output or the state it must
//!   produce. kubectl 1.37's typed commands write protobuf.
//! - **The Python `kubernetes` client** (`tests/python/compat.py`): typed create, read,
//!   list with selectors, patch, scale, replace, watch with a timeout, status reads and
//!   deletes with propagation.
//! - **kube-rs** with k8s-openapi's types: typed `Api<K>` create, get, list, patch (merge
//!   and strategic), replace, the scale subresource, a watch, and delete.
//!
//! `apply` of edited manifests, dry runs and concurrent patches are in `api_writes.rs`;
//! protobuf compared with JSON in `api_protobuf.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use rudder_tests::services::{self, docker, DockerNode};
use serde_json::Value;

/// One node with both roles running pods in Docker, Ready, the local images built (and
/// `rudder/demo:2`, the same image under a second tag, for rollouts). The node is named
/// after the test, so tests running side by side (nextest runs them in parallel) keep to
/// their own containers.
async fn node(name: &str) -> anyhow::Result<Option<DockerNode>> {
    if !services::docker_available("the client compatibility suite") {
        return Ok(None);
    }
    services::remove_node_leftovers(name);
    let node = DockerNode::start(name, "forwarding").await?;
    docker(&["tag", "rudder/demo:1", "rudder/demo:2"]).context("docker tag")?;
    Ok(Some(node))
}

/// The kubeconfig of a [`DockerNode`].
fn kubeconfig(node: &DockerNode) -> anyhow::Result<PathBuf> {
    let cluster = node.cluster.as_ref().context("the node has stopped")?;
    Ok(cluster.nodes[0].kubeconfig())
}

/// What a step must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit 0 with this text in stdout.
    Prints(&'static str),
    /// Exit with this code (kubectl diff: 1 when there are differences) and this text.
    Exits(i32, &'static str),
}

/// One kubectl invocation of the table. `{ns}` is the step's namespace, `{dir}` a scratch
/// folder; `save` writes stdout to `{dir}/<file>` with one replacement made.
struct Step {
    args: &'static [&'static str],
    expect: Expect,
    /// `(file, from, to)`: save stdout to the file, with `from` replaced by `to`.
    save: Option<(&'static str, &'static str, &'static str)>,
    /// Set `KUBE_EDITOR` to the scripted editor.
    editor: bool,
}

const fn step(args: &'static [&'static str], expect: Expect) -> Step {
    Step {
        args,
        expect,
        save: None,
        editor: false,
    }
}

const fn prints(args: &'static [&'static str], text: &'static str) -> Step {
    step(args, Expect::Prints(text))
}

/// The verbs, in the order a user would run them.
const STEPS: &[Step] = &[
    // Every `create` generator of a served kind (typed commands: protobuf bodies).
    prints(&["create", "namespace", "{ns}"], "namespace/{ns} created"),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "deployment",
            "web",
            "--image=rudder/demo:1",
            "--replicas=1",
            "--port=8080",
        ],
        "deployment.apps/web created",
    ),
    prints(
        &["-n", "{ns}", "create", "serviceaccount", "bot"],
        "serviceaccount/bot created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "service",
            "clusterip",
            "svc-c",
            "--tcp=80:8080",
        ],
        "service/svc-c created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "service",
            "nodeport",
            "svc-n",
            "--tcp=80:8080",
        ],
        "service/svc-n created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "service",
            "loadbalancer",
            "svc-l",
            "--tcp=80:8080",
        ],
        "service/svc-l created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "service",
            "externalname",
            "svc-e",
            "--external-name=db.example.invalid",
        ],
        "service/svc-e created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "service",
            "svc-n",
            "-o",
            "jsonpath={.spec.type} {.spec.ports[0].targetPort}",
        ],
        "NodePort 8080",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "--from-literal=level=3",
        ],
        "configmap/settings created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=hunter2",
        ],
        "secret/creds created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--docker-server=registry.example.invalid",
            "--docker-username=u",
            "--docker-password=p",
        ],
        "secret/pull created",
    ),
    // Base64 of "hunter2", as stored in `data`.
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.type} {.data.password}",
        ],
        "Opaque aHVudGVyMg==",
    ),
    prints(
        &["-n", "{ns}", "get", "configmap", "settings"],
        "settings   2 ",
    ),
    prints(
        &["-n", "{ns}", "get", "secret", "pull"],
        "pull   kubernetes.io/dockerconfigjson   1 ",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "run",
            "solo",
            "--image=rudder/demo:1",
            "--restart=Never",
            "--labels=run=solo",
        ],
        "pod/solo created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "expose",
            "deployment",
            "web",
            "--port=80",
            "--target-port=8080",
        ],
        "service/web exposed",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "service",
            "web",
            "-o",
            "jsonpath={.spec.selector.app}",
        ],
        "web",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "wait",
            "--for=condition=Ready",
            "pod/solo",
            "--timeout=90s",
        ],
        "condition met",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
        "successfully rolled out",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
        "condition met",
    ),
    // Changes to the Deployment.
    prints(
        &[
            "-n",
            "{ns}",
            "set",
            "image",
            "deployment/web",
            "demo=rudder/demo:2",
        ],
        "image updated",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
        "successfully rolled out",
    ),
    prints(
        &["-n", "{ns}", "set", "env", "deployment/web", "MODE=blue"],
        "env updated",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].env[0].value}",
        ],
        "blue",
    ),
    prints(
        &["-n", "{ns}", "label", "deployment", "web", "tier=front"],
        "labeled",
    ),
    prints(
        &["-n", "{ns}", "annotate", "deployment", "web", "note=hi"],
        "annotated",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.labels.tier} {.metadata.annotations.note}",
        ],
        "front hi",
    ),
    prints(
        &["-n", "{ns}", "scale", "deployment", "web", "--replicas=2"],
        "scaled",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
        "successfully rolled out",
    ),
    prints(
        &["-n", "{ns}", "rollout", "restart", "deployment/web"],
        "restarted",
    ),
    prints(
        &["-n", "{ns}", "rollout", "pause", "deployment/web"],
        "paused",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.paused}",
        ],
        "true",
    ),
    prints(
        &["-n", "{ns}", "rollout", "resume", "deployment/web"],
        "resumed",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
        "successfully rolled out",
    ),
    prints(
        &["-n", "{ns}", "rollout", "history", "deployment/web"],
        "REVISION",
    ),
    prints(
        &["-n", "{ns}", "rollout", "undo", "deployment/web"],
        "rolled back",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
        "successfully rolled out",
    ),
    // edit, replace, diff.
    Step {
        editor: true,
        ..prints(&["-n", "{ns}", "edit", "deployment", "web"], "edited")
    },
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.note}",
        ],
        "edited",
    ),
    Step {
        save: Some(("web.yaml", "note: edited", "note: replaced")),
        ..prints(
            &["-n", "{ns}", "get", "deployment", "web", "-o", "yaml"],
            "kind: Deployment",
        )
    },
    prints(&["replace", "-f", "{dir}/web.yaml"], "replaced"),
    Step {
        save: Some(("web-diff.yaml", "note: replaced", "note: diffed")),
        ..prints(
            &["-n", "{ns}", "get", "deployment", "web", "-o", "yaml"],
            "note: replaced",
        )
    },
    step(
        &["diff", "-f", "{dir}/web-diff.yaml"],
        Expect::Exits(1, "+    note: diffed"),
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.note}",
        ],
        "replaced",
    ),
    // What kubectl reads to learn the API, and the events.
    prints(&["explain", "deployment.spec.replicas"], "replicas"),
    prints(&["api-resources"], "deployments"),
    prints(&["-n", "{ns}", "events"], "ScalingReplicaSet"),
    // Deletion with each propagation.
    prints(
        &[
            "-n",
            "{ns}",
            "delete",
            "deployment",
            "web",
            "--cascade=orphan",
        ],
        "deleted",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "replicasets",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.ownerReferences}",
        ],
        "",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "create",
            "deployment",
            "fg",
            "--image=rudder/demo:1",
        ],
        "deployment.apps/fg created",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "delete",
            "deployment",
            "fg",
            "--cascade=foreground",
            "--timeout=60s",
        ],
        "deleted",
    ),
    prints(
        &[
            "-n",
            "{ns}",
            "get",
            "replicasets",
            "-l",
            "app=fg",
            "-o",
            "name",
        ],
        "",
    ),
    prints(
        &["delete", "namespace", "{ns}", "--timeout=120s"],
        "deleted",
    ),
];

fn fill(arg: &str, ns: &str, dir: &Path) -> String {
    arg.replace("{ns}", ns)
        .replace("{dir}", &dir.to_string_lossy())
}

/// Runs the table with one kubectl; the first failing step fails the test.
fn run_table(
    label: &str,
    kubectl: &Path,
    kubeconfig: &Path,
    dir: &Path,
    ns: &str,
) -> anyhow::Result<()> {
    let editor = dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/note: hi/note: edited/' \"$1\"\n",
    )?;
    std::process::Command::new("chmod")
        .args(["+x", &editor.to_string_lossy()])
        .status()?;
    for (i, s) in STEPS.iter().enumerate() {
        let args: Vec<String> = s.args.iter().map(|a| fill(a, ns, dir)).collect();
        let mut cmd = std::process::Command::new(kubectl);
        cmd.env("KUBECONFIG", kubeconfig).args(&args);
        if s.editor {
            cmd.env("KUBE_EDITOR", &editor);
        }
        let started = std::time::Instant::now();
        let out = cmd
            .output()
            .with_context(|| format!("{} could not run", kubectl.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (code, text) = match s.expect {
            Expect::Prints(t) => (0, t),
            Expect::Exits(c, t) => (c, t),
        };
        let text = fill(text, ns, dir);
        let ok = out.status.code() == Some(code)
            && if text.is_empty() {
                stdout.trim().is_empty()
            } else {
                stdout.contains(&text)
            };
        if !ok {
            bail!(
                "{label} kubectl, step {i} `kubectl {}` (exit {:?}, {:?}): wanted exit {code} and {text:?}\nstdout: {stdout}\nstderr: {stderr}",
                args.join(" "),
                out.status.code(),
                started.elapsed(),
            );
        }
        if let Some((file, from, to)) = s.save {
            // Without its resourceVersion the manifest replaces whatever is current (a
            // controller may have written status since it was read).
            let manifest: Vec<&str> = stdout
                .lines()
                .filter(|l| !l.trim_start().starts_with("resourceVersion:"))
                .collect();
            std::fs::write(dir.join(file), manifest.join("\n").replace(from, to))?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_verbs_newest_and_oldest() -> anyhow::Result<()> {
    let Some(node) = node("compat-kubectl").await? else {
        return Ok(());
    };
    let kc = kubeconfig(&node)?;
    let dir_root = node
        .cluster
        .as_ref()
        .context("stopped")?
        .dir
        .path()
        .to_owned();
    for (label, kubectl) in rudder_tests::kubectl_bins() {
        let dir = dir_root.join(format!("kubectl-{label}"));
        std::fs::create_dir_all(&dir)?;
        if let Err(e) = run_table(label, &kubectl, &kc, &dir, &format!("compat-{label}")) {
            let log = node.log_text();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{e:#}\nthe node's log ends:\n{}", tail.join("\n"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client() -> anyhow::Result<()> {
    let Some(node) = node("compat-python").await? else {
        return Ok(());
    };
    let kc = kubeconfig(&node)?;
    let script = rudder_tests::repo_root().join("tests/python/compat.py");
    let out = rudder_tests::python_with_client()
        .env("KUBECONFIG", &kc)
        .arg(&script)
        .output()
        .context("python3 could not run; scripts/test.sh installs the kubernetes client")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} failed:\n{stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the script printed {stdout}"))?;
    // What the script saw, checked here so a script that silently skipped fails.
    assert_eq!(report["created"], "shop-api");
    assert_eq!(report["listed"], serde_json::json!(["shop-api"]));
    assert_eq!(report["scaled"], 3);
    assert_eq!(report["patched_label"], "blue");
    assert_eq!(report["replaced_annotation"], "replaced");
    assert!(
        report["watched"]
            .as_array()
            .is_some_and(|w| w.iter().any(|e| e == "ADDED shop-api")),
        "{report}"
    );
    assert!(
        report["ready_replicas"].as_i64().is_some_and(|r| r >= 1),
        "{report}"
    );
    assert_eq!(report["service_type"], "ClusterIP");
    assert!(
        report["cluster_ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.")),
        "{report}"
    );
    assert_eq!(report["not_found"], 404);
    assert_eq!(report["deleted"], true);
    Ok(())
}

mod kube_rs {
    use std::collections::BTreeMap;

    use futures::{StreamExt as _, TryStreamExt as _};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
    use kube::api::{
        Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
    };
    use serde_json::json;

    use super::*;

    fn deployment(name: &str) -> anyhow::Result<Deployment> {
        Ok(serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"suite": "kube-rs"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "demo", "image": "rudder/demo:1"}]},
                },
            },
        }))?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kube_rs_typed_api() -> anyhow::Result<()> {
        let Some(node) = node("compat-kube-rs").await? else {
            return Ok(());
        };
        let kc = kubeconfig(&node)?;
        let client = super::common::kube_client(&kc).await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "krs"}}))?,
            )
            .await?;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "krs");

        // A watch opened first sees the Deployment arrive.
        let watch = deployments
            .watch(
                &WatchParams::default().labels("suite=kube-rs").timeout(20),
                "0",
            )
            .await?
            .boxed();

        let created = deployments
            .create(&PostParams::default(), &deployment("web")?)
            .await?;
        assert!(created.metadata.uid.is_some());
        assert_eq!(
            deployments.get("web").await?.metadata.uid,
            created.metadata.uid
        );
        let listed = deployments
            .list(&ListParams::default().labels("suite=kube-rs"))
            .await?;
        let names: Vec<String> = listed
            .items
            .iter()
            .filter_map(|d| d.metadata.name.clone())
            .collect();
        assert_eq!(names, ["web"]);
        assert!(listed.metadata.resource_version.is_some());

        // (A watch from "0" is a streaming list: its initial-events-end bookmark comes
        // first, as kube-apiserver sends it.)
        let events: Vec<String> = watch
            .try_filter(|e| futures::future::ready(!matches!(e, WatchEvent::Bookmark(_))))
            .take(1)
            .map_ok(|e| match e {
                WatchEvent::Added(d) => format!("ADDED {}", d.metadata.name.unwrap_or_default()),
                other => format!("{other:?}"),
            })
            .try_collect()
            .await?;
        assert_eq!(events, ["ADDED web"]);

        // Patches: merge and strategic (a container's env merged by name).
        let merged = deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"color": "blue"}}})),
            )
            .await?;
        assert_eq!(
            merged
                .metadata
                .labels
                .unwrap_or_default()
                .get("color")
                .map(String::as_str),
            Some("blue")
        );
        let strategic = deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "demo", "env": [{"name": "MODE", "value": "x"}]}
                ]}}}})),
            )
            .await?;
        let containers = strategic
            .spec
            .template
            .spec
            .map(|s| s.containers)
            .unwrap_or_default();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].image.as_deref(), Some("rudder/demo:1"));
        assert_eq!(
            containers[0]
                .env
                .as_ref()
                .and_then(|e| e[0].value.as_deref()),
            Some("x")
        );

        // Replace from what was read (again on a conflict: a controller may write in
        // between, as with client-go's RetryOnConflict); a stale resourceVersion is a
        // conflict.
        let stale = deployments.get("web").await?;
        for attempt in 0.. {
            let mut current = deployments.get("web").await?;
            current
                .metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert("note".into(), "replaced".into());
            match deployments
                .replace("web", &PostParams::default(), &current)
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < 10 => {}
                Err(e) => return Err(e.into()),
            }
        }
        let err = deployments
            .replace("web", &PostParams::default(), &stale)
            .await
            .expect_err("stale");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 409),
            "{err:?}"
        );

        // The scale subresource.
        let scale = deployments.get_scale("web").await?;
        assert_eq!(scale.spec.and_then(|s| s.replicas), Some(1));
        deployments
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 2}})),
            )
            .await?;
        assert_eq!(deployments.get("web").await?.spec.replicas, Some(2));

        // Pods the Deployment made, found by label; a kind Rudder does not serve is a 404.
        let pods: Api<Pod> = Api::namespaced(client.clone(), "krs");
        let (pod_names, _) = rudder_tests::eventually(Duration::from_secs(30), || {
            let pods = pods.clone();
            async move {
                // The first ReplicaSet's pod may still be stopping (busybox as PID 1
                // ignores SIGTERM: it goes after its grace period); it is not counted.
                let list = pods.list(&ListParams::default().labels("app=web")).await?;
                let live = list
                    .items
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .count();
                Ok((live == 2).then_some(live))
            }
        })
        .await?;
        assert_eq!(pod_names, 2);
        // A ConfigMap with text and binary data reads back as k8s-openapi wrote it.
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "krs");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("settings".into());
        cm.data = Some([("greeting".to_owned(), "hello".to_owned())].into());
        cm.binary_data = Some(
            [(
                "blob".to_owned(),
                k8s_openapi::ByteString(vec![0, 159, 146, 150]),
            )]
            .into(),
        );
        maps.create(&PostParams::default(), &cm).await?;
        let back = maps.get("settings").await?;
        assert_eq!(back.data, cm.data);
        assert_eq!(back.binary_data, cm.binary_data);
        let listed = maps.list(&ListParams::default()).await?;
        // Besides the root CA every namespace gets (as on Kubernetes).
        let names: Vec<_> = listed
            .items
            .iter()
            .map(|c| c.metadata.name.clone())
            .collect();
        assert_eq!(
            names,
            [
                Some("kube-root-ca.crt".to_owned()),
                Some("settings".to_owned())
            ]
        );

        // Delete in the foreground: the Deployment goes once its ReplicaSet has.
        deployments
            .delete("web", &DeleteParams::foreground())
            .await?;
        rudder_tests::eventually(Duration::from_secs(60), || {
            let deployments = deployments.clone();
            async move { Ok(deployments.get_opt("web").await?.is_none().then_some(())) }
        })
        .await?;
        Ok(())
    }
}
