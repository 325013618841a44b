//! An operator written the way Rust operators are written, with kube-rs: a custom
//! resource type from `#[derive(CustomResource)]`, its CRD generated from the type and
//! created through the API, and a `kube::runtime::Controller` that owns Deployments.
//! Run against a real `rudderd` (both roles, the fake container runtime, so pods become
//! ready without Docker): an `Echo` becomes a Deployment owned by it (applied server-side
//! by the operator's field manager), the operator reports the ready replicas in the
//! Echo's status through a server-side apply of the status subresource, a change of the
//! Echo reaches the Deployment, and deleting the Echo garbage-collects the Deployment.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use rudder_tests::{eventually, Cluster, NodeProc};

/// The field manager of everything the operator writes.
const MANAGER: &str = "echo-operator";

/// What a user asks for: `replicas` copies of `image`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "demo.rudder.dev",
    version = "v1",
    kind = "Echo",
    namespaced,
    status = "EchoStatus",
    shortname = "ec",
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EchoSpec {
    /// How many pods.
    pub replicas: i32,
    /// Their image.
    pub image: String,
}

/// What the operator reports.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EchoStatus {
    /// Ready pods of the Echo's Deployment.
    pub ready_replicas: i32,
    /// The Deployment's name.
    pub deployment: String,
}

struct Ctx {
    client: kube::Client,
}

#[derive(Debug)]
struct ReconcileError(String);

impl std::fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReconcileError {}

impl From<kube::Error> for ReconcileError {
    fn from(e: kube::Error) -> Self {
        ReconcileError(e.to_string())
    }
}

/// One reconciliation: the Deployment as the Echo says (applied), then the Echo's status
/// from the Deployment's (applied to the status subresource).
async fn reconcile(echo: Arc<Echo>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = echo
        .namespace()
        .ok_or_else(|| ReconcileError("an Echo without a namespace".into()))?;
    let name = echo.name_any();
    let owner = echo
        .controller_owner_ref(&())
        .ok_or_else(|| ReconcileError("an Echo without a uid".into()))?;
    let labels = json!({"app.kubernetes.io/name": "echo", "demo.rudder.dev/echo": name});
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [owner]},
        "spec": {
            "replicas": echo.spec.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "echo", "image": echo.spec.image}]},
            },
        },
    });
    let params = PatchParams::apply(MANAGER).force();
    let applied = Api::<Deployment>::namespaced(ctx.client.clone(), &ns)
        .patch(&name, &params, &Patch::Apply(&deployment))
        .await?;
    let ready = applied
        .status
        .and_then(|s| s.ready_replicas)
        .unwrap_or_default();
    let status = json!({
        "apiVersion": Echo::api_version(&()),
        "kind": Echo::kind(&()),
        "status": {"readyReplicas": ready, "deployment": name},
    });
    Api::<Echo>::namespaced(ctx.client.clone(), &ns)
        .patch_status(&name, &params, &Patch::Apply(&status))
        .await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(_: Arc<Echo>, e: &ReconcileError, _: Arc<Ctx>) -> Action {
    eprintln!("reconcile failed: {e}");
    Action::requeue(Duration::from_millis(500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kube_rs_operator_reconciles_its_custom_resource_into_a_deployment() -> anyhow::Result<()>
{
    let mut cluster = Cluster::new()?;
    let spec = cluster.spec("single-node.toml", "op");
    cluster.nodes.push(NodeProc::start(spec).await?);
    let kc = cluster.nodes[0].kubeconfig();
    let client = common::kube_client(&kc).await?;

    // The CRD, generated from the Rust type, created and served.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Echo::crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    eventually(Duration::from_secs(30), || async {
        Ok(crds.create(&PostParams::default(), &crd).await.ok())
    })
    .await?;
    eventually(Duration::from_secs(30), || async {
        let c = crds.get(&name).await?;
        let established = c.status.and_then(|s| s.conditions).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        Ok(established.then_some(()))
    })
    .await?;
    let echoes: Api<Echo> = Api::namespaced(client.clone(), "default");
    eventually(Duration::from_secs(15), || async {
        Ok(echoes.list(&Default::default()).await.ok())
    })
    .await?;

    // The operator, as its own binary would run it.
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let controller = Controller::new(Api::<Echo>::all(client.clone()), watcher::Config::default())
        .owns(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default(),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let operator = tokio::spawn(controller);

    let echo = Echo::new(
        "hello",
        EchoSpec {
            replicas: 2,
            image: rudder_actors::kubelet::images::DEMO_IMAGE.into(),
        },
    );
    let created = echoes.create(&PostParams::default(), &echo).await?;
    let uid = created.uid().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");

    // The Deployment, owned by the Echo and applied by the operator.
    let (d, _) = eventually(Duration::from_secs(30), || async {
        Ok(deployments.get_opt("hello").await?)
    })
    .await?;
    assert_eq!(d.spec.replicas, Some(2));
    let owners = d.metadata.owner_references.clone().unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "Echo" && o.uid == uid && o.controller == Some(true)),
        "owned by the Echo: {owners:?}"
    );
    let managers = d.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some(MANAGER)
                && m.operation.as_deref() == Some("Apply")),
        "the operator's apply is recorded: {managers:?}"
    );

    // The status the operator reports through the status subresource.
    let reported = eventually(Duration::from_secs(60), || async {
        let e = echoes.get("hello").await?;
        Ok(e.status
            .filter(|s| s.ready_replicas == 2 && s.deployment == "hello")
            .map(|_| ()))
    })
    .await;
    if let Err(e) = reported {
        let d = deployments.get("hello").await?;
        let echo = echoes.get("hello").await?;
        anyhow::bail!(
            "{e}: the Echo's status {:?}, the Deployment's {:?}",
            echo.status,
            d.status
        );
    }
    let e = echoes.get("hello").await?;
    let managers = e.metadata.managed_fields.unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m.manager.as_deref() == Some(MANAGER)
                && m.subresource.as_deref() == Some("status")),
        "the status apply is recorded against the subresource: {managers:?}"
    );

    // A change of the Echo reaches the Deployment and comes back in the status.
    echoes
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await?;
    eventually(Duration::from_secs(60), || async {
        let d = deployments.get("hello").await?;
        let e = echoes.get("hello").await?;
        let scaled = d.spec.replicas == Some(3) && e.status.is_some_and(|s| s.ready_replicas == 3);
        Ok(scaled.then_some(()))
    })
    .await?;

    // Deleting the Echo garbage-collects what it owns.
    echoes.delete("hello", &DeleteParams::background()).await?;
    eventually(Duration::from_secs(60), || async {
        Ok(deployments.get_opt("hello").await?.is_none().then_some(()))
    })
    .await?;
    operator.abort();
    Ok(())
}
