//! Every served kind, generically: the tests loop over the API server's one registry of
//! resources (`RESOURCES`, what discovery serves) and drive each kind through the Rust
//! client's dynamic API (`Api<DynamicObject>` over the `apiserver` actor), with no
//! per-kind test code. A kind added to the registry is covered here at once; the objects
//! are the examples of the kinds' modules (`Strategy::example`).
//!
//! - `crud_and_watch_for_every_kind`: create, get, list, watch (ADDED, MODIFIED,
//!   DELETED), update and delete.
//! - `namespace_deletion_removes_every_namespaced_kind`: one object of every namespaced
//!   kind in a namespace; deleting the namespace removes them all, then the namespace.
//! - `owned_objects_of_every_kind_are_collected`: an object of every kind, owned by an
//!   object of another kind (namespaced dependents by namespaced owners, cluster-scoped
//!   ones by cluster-scoped owners, so every kind is both an owner and a dependent), is
//!   collected by the garbage collector once its owner is deleted.
//!
//! - `rest_crud_and_watch_for_every_discovered_kind`: the same life cycle over the REST
//!   API with kube-rs's dynamic client, for every kind the server's discovery lists
//!   (which must be exactly the registry's kinds).
//!
//! The node runs the control-plane role only: no kubelet, so Pods stay unbound and go
//! at once when deleted, and the sample Node is marked unschedulable.

mod common;

use std::time::Duration;

use rudder_actors::apiserver::kinds;
use rudder_actors::apiserver::registry::RESOURCES;
use rudder_protocol::client::{Api, ApiError, ApiResource, Client, DynamicObject, WatchEvent};
use rudder_protocol::messages::api::ListParams;
use rudder_tests::{eventually, Cluster};

/// How long a controller (namespace, garbage collector) gets to converge.
const CONVERGE: Duration = Duration::from_secs(60);

/// Every registered kind that can be created (the registry lists top-level resources
/// only: subresource kinds such as Binding and Scale are not in it).
fn kinds() -> Vec<ApiResource> {
    RESOURCES
        .iter()
        .filter(|r| r.verbs.contains(&"create"))
        .map(ApiResource::from)
        .collect()
}

/// What must exist before the sample of `kind` named `name` can live: the endpoints
/// controller removes an Endpoints object that has no Service of the same name, so the
/// sample Endpoints comes with a selector-less Service (whose Endpoints are the user's).
fn companion(
    client: &Client,
    kind: &str,
    name: &str,
    namespace: &str,
) -> Option<(Api<DynamicObject>, DynamicObject)> {
    if kind != "Endpoints" {
        return None;
    }
    let svc = ApiResource::of::<rudder_protocol::resources::Service>();
    let obj = object(&svc, name, namespace).ok()?;
    Some((api(client, &svc, namespace), obj))
}

/// Creates the sample of `r` named `name` (after its [`companion`], if any).
async fn create_sample(
    client: &Client,
    r: &ApiResource,
    name: &str,
    namespace: &str,
    edit: impl FnOnce(&mut DynamicObject),
) -> anyhow::Result<DynamicObject> {
    if let Some((a, o)) = companion(client, &r.kind, name, namespace) {
        a.create(&o).await?;
    }
    let mut o = object(r, name, namespace)?;
    edit(&mut o);
    Ok(api(client, r, namespace).create(&o).await?)
}

/// The example object of `r` named `name`, in `namespace` when `r` is namespaced: the
/// kind module's [`KindOps::example`], the one place that knows what each kind needs.
fn object(r: &ApiResource, name: &str, namespace: &str) -> anyhow::Result<DynamicObject> {
    let Some(kind) = kinds::for_kind(&r.kind) else {
        anyhow::bail!("kind {} is served but has no kind module", r.kind);
    };
    Ok(DynamicObject::from_value(kind.example(name, namespace))?)
}

/// The handle on `r`'s objects in `namespace` (or cluster scope).
fn api(client: &Client, r: &ApiResource, namespace: &str) -> Api<DynamicObject> {
    client.dynamic_api(r, r.namespaced.then_some(namespace))
}

/// Creates a namespace through the dynamic API.
async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns = ApiResource::of::<rudder_protocol::resources::Namespace>();
    api(client, &ns, "").create(&object(&ns, name, "")?).await?;
    Ok(())
}

/// Polls `api`'s watch from `rv` until an event of `ty` for `name` arrives; returns the
/// resourceVersion to continue from.
async fn wait_event(
    api: &Api<DynamicObject>,
    mut rv: u64,
    ty: &str,
    name: &str,
) -> anyhow::Result<u64> {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let (events, next) = api
            .watch_poll(&ListParams::default(), rv, Duration::from_secs(2))
            .await?;
        rv = next;
        for e in events {
            let (t, o) = match e {
                WatchEvent::Added(o) => ("ADDED", o),
                WatchEvent::Modified(o) => ("MODIFIED", o),
                WatchEvent::Deleted(o) => ("DELETED", o),
            };
            if t == ty && o.name() == name {
                return Ok(rv);
            }
        }
    }
    anyhow::bail!("no {ty} event for {name} on {:?}", api.resource())
}

/// Reads, changes and writes back `name`, retrying on conflicts (a controller may
/// write the object in between).
async fn relabel(api: &Api<DynamicObject>, name: &str) -> anyhow::Result<DynamicObject> {
    for _ in 0..20 {
        let mut live = api.get(name).await?;
        live.metadata
            .labels
            .insert("generated".into(), "updated".into());
        match api.update(&live).await {
            Ok(o) => return Ok(o),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("{name}: update kept conflicting")
}

/// Waits until `name` no longer exists.
async fn gone(api: &Api<DynamicObject>, name: &str, why: &str) -> anyhow::Result<()> {
    let a = api.clone();
    let n = name.to_owned();
    eventually(CONVERGE, move || {
        let (a, n) = (a.clone(), n.clone());
        async move { Ok(a.get_opt(&n).await?.is_none().then_some(())) }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{:?} {name} not removed ({why}): {e}", api.resource()))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_and_watch_for_every_kind() -> anyhow::Result<()> {
    let (_cluster, client) = Cluster::solo(true).await?;
    create_namespace(&client, "generic").await?;
    let kinds = kinds();
    assert!(kinds.len() >= 11, "registered kinds: {kinds:?}");
    for r in &kinds {
        let what = format!("{}.{}", r.plural, r.group);
        let objects = api(&client, r, "generic");
        let name = format!("gen-{}", r.kind.to_lowercase());
        let listed = objects.list(&ListParams::default()).await?;
        let rv: u64 = listed.metadata.resource_version.parse().unwrap_or(0);

        // Create, then get: the server filled in identity and revision.
        let created = create_sample(&client, r, &name, "generic", |_| {}).await?;
        assert_eq!(created.kind(), r.kind, "{what}: kind");
        assert_eq!(created.api_version(), r.api_version(), "{what}: apiVersion");
        assert!(!created.uid().is_empty(), "{what}: uid set");
        let got = objects.get(&name).await?;
        assert_eq!(got.uid(), created.uid(), "{what}: get");
        assert_eq!(
            (got.kind(), &got.metadata.labels),
            (created.kind(), &created.metadata.labels),
            "{what}: get returns what was created"
        );
        let err = objects
            .create(&object(r, &name, "generic")?)
            .await
            .expect_err("exists");
        assert_eq!(err.code(), Some(409), "{what}: second create");

        // List, in the namespace (or cluster scope).
        let list = objects.list(&ListParams::default()).await?;
        assert!(
            list.items.iter().any(|o| o.uid() == created.uid()),
            "{what}: listed"
        );

        // Watch from before the create: ADDED, then MODIFIED by an update.
        let rv = wait_event(&objects, rv, "ADDED", &name).await?;
        let updated = relabel(&objects, &name).await?;
        assert_ne!(
            updated.resource_version(),
            created.resource_version(),
            "{what}: update moved the resourceVersion"
        );
        assert_eq!(
            objects.get(&name).await?.metadata.labels.get("generated"),
            Some(&"updated".to_owned()),
            "{what}: update stored"
        );
        let rv = wait_event(&objects, rv, "MODIFIED", &name).await?;

        // Delete: gone (a namespace after its finalization), with a DELETED event.
        objects.delete(&name).await?;
        gone(&objects, &name, "deleted").await?;
        wait_event(&objects, rv, "DELETED", &name).await?;
        let err: ApiError = objects.get(&name).await.expect_err("deleted");
        assert!(err.is_not_found(), "{what}: get after delete: {err}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_deletion_removes_every_namespaced_kind() -> anyhow::Result<()> {
    let (_cluster, client) = Cluster::solo(true).await?;
    create_namespace(&client, "doomed").await?;
    let namespaced: Vec<ApiResource> = kinds().into_iter().filter(|r| r.namespaced).collect();
    assert!(!namespaced.is_empty());
    for r in &namespaced {
        let name = format!("in-{}", r.kind.to_lowercase());
        create_sample(&client, r, &name, "doomed", |_| {}).await?;
    }
    let ns = ApiResource::of::<rudder_protocol::resources::Namespace>();
    api(&client, &ns, "").delete("doomed").await?;
    for r in &namespaced {
        let name = format!("in-{}", r.kind.to_lowercase());
        gone(&api(&client, r, "doomed"), &name, "namespace deleted").await?;
    }
    gone(
        &api(&client, &ns, ""),
        "doomed",
        "emptied namespace finalized",
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_objects_of_every_kind_are_collected() -> anyhow::Result<()> {
    let (_cluster, client) = Cluster::solo(true).await?;
    create_namespace(&client, "owned").await?;
    let all = kinds();
    // Owners of each scope, in turn: the dependent of kind i is owned by the next kind
    // of the same scope, so every kind is a dependent once and every kind that may own
    // an owner at least once. Events may not own anything (as in Kubernetes, the API
    // server refuses an Event owner reference), so they are only dependents.
    for namespaced in [true, false] {
        let group: Vec<&ApiResource> = all.iter().filter(|r| r.namespaced == namespaced).collect();
        let owners: Vec<&ApiResource> = group
            .iter()
            .copied()
            .filter(|r| r.kind != "Event")
            .collect();
        if owners.len() < 2 {
            continue;
        }
        let mut pairs = Vec::new();
        for (i, dep) in group.iter().enumerate() {
            let owner_r = owners
                .iter()
                .cycle()
                .skip(i + 1)
                .find(|o| o.kind != dep.kind)
                .copied()
                .ok_or_else(|| anyhow::anyhow!("no owner for {}", dep.kind))?;
            let owner_name = format!("owner-{}-of-{}", owner_r.kind, dep.kind).to_lowercase();
            let owner = create_sample(&client, owner_r, &owner_name, "owned", |_| {}).await?;
            let dep_name = format!("dependent-{}", dep.kind).to_lowercase();
            let reference = rudder_protocol::resources::OwnerReference {
                api_version: owner_r.api_version(),
                kind: owner_r.kind.clone(),
                name: owner_name.clone(),
                uid: owner.uid().to_owned(),
                controller: None,
                block_owner_deletion: None,
            };
            create_sample(&client, dep, &dep_name, "owned", |d| {
                d.metadata.owner_references.push(reference)
            })
            .await?;
            pairs.push((owner_r, owner_name, *dep, dep_name));
        }
        // While their owners exist, the dependents stay.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for (_, _, dep, dep_name) in &pairs {
            assert!(
                api(&client, dep, "owned")
                    .get_opt(dep_name)
                    .await?
                    .is_some(),
                "{} {dep_name} collected while its owner exists",
                dep.kind
            );
        }
        for (owner_r, owner_name, _, _) in &pairs {
            api(&client, owner_r, "owned").delete(owner_name).await?;
        }
        for (owner_r, _, dep, dep_name) in &pairs {
            gone(
                &api(&client, dep, "owned"),
                dep_name,
                &format!("its {} owner was deleted", owner_r.kind),
            )
            .await?;
        }
    }
    Ok(())
}

/// A kube-rs client on the node's REST API (its kubeconfig).
async fn kube_client(cluster: &Cluster) -> anyhow::Result<kube::Client> {
    common::kube_client(&cluster.nodes[0].kubeconfig()).await
}

/// Waits on a REST watch stream for an event of `ty` ("ADDED", "MODIFIED", "DELETED")
/// about `name`.
async fn next_rest_event<S>(stream: &mut S, ty: &str, name: &str) -> anyhow::Result<()>
where
    S: futures::Stream<Item = kube::Result<kube::api::WatchEvent<kube::api::DynamicObject>>>
        + Unpin,
{
    use futures::StreamExt as _;
    use kube::api::WatchEvent as W;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, stream.next()).await {
        let (t, o) = match e? {
            W::Added(o) => ("ADDED", o),
            W::Modified(o) => ("MODIFIED", o),
            W::Deleted(o) => ("DELETED", o),
            W::Bookmark(_) => continue,
            W::Error(e) => anyhow::bail!("watch error: {e:?}"),
        };
        if t == ty && o.metadata.name.as_deref() == Some(name) {
            return Ok(());
        }
    }
    anyhow::bail!("no {ty} event for {name} over REST")
}

/// The same life cycle over the REST API with kube-rs's dynamic client, for every kind
/// the API server's discovery lists (checked to be exactly the registry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_crud_and_watch_for_every_discovered_kind() -> anyhow::Result<()> {
    use futures::StreamExt as _;
    use kube::api::{DeleteParams, ListParams as KubeList, PostParams, WatchParams};
    let (cluster, client) = Cluster::solo(true).await?;
    create_namespace(&client, "rest").await?;
    let kc = kube_client(&cluster).await?;
    let discovery = kube::Discovery::new(kc.clone()).run().await?;
    let mut discovered = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            discovered.push((ar, caps.scope == kube::discovery::Scope::Namespaced));
        }
    }
    // Computed kinds (the resource metrics) are read-only: not created or watched here.
    // CustomResourceDefinitions are served by the API server's own module, not the
    // protocol's registry, and have their own tests (`api_crd.rs`).
    discovered.retain(|(ar, _)| {
        ar.group != "apiextensions.k8s.io"
            && !rudder_protocol::registry::COMPUTED_RESOURCES
                .iter()
                .any(|r| r.group == ar.group && r.kind == ar.kind)
    });
    let mut seen: Vec<(String, String, bool)> = discovered
        .iter()
        .map(|(ar, ns)| (ar.group.clone(), ar.kind.clone(), *ns))
        .collect();
    seen.sort();
    let mut want: Vec<(String, String, bool)> = kinds()
        .into_iter()
        .map(|r| (r.group, r.kind, r.namespaced))
        .collect();
    want.sort();
    assert_eq!(seen, want, "discovery serves exactly the registry's kinds");

    for (ar, namespaced) in &discovered {
        let what = format!("{}.{}", ar.plural, ar.group);
        let api: kube::Api<kube::api::DynamicObject> = if *namespaced {
            kube::Api::namespaced_with(kc.clone(), "rest", ar)
        } else {
            kube::Api::all_with(kc.clone(), ar)
        };
        let r = ApiResource {
            group: ar.group.clone(),
            version: ar.version.clone(),
            kind: ar.kind.clone(),
            plural: ar.plural.clone(),
            namespaced: *namespaced,
        };
        let name = format!("rest-{}", r.kind.to_lowercase());
        if let Some((a, o)) = companion(&client, &r.kind, &name, "rest") {
            a.create(&o).await?;
        }
        let rv = api
            .list(&KubeList::default())
            .await?
            .metadata
            .resource_version
            .unwrap_or_default();
        let mut events = api
            .watch(&WatchParams::default().timeout(60), &rv)
            .await?
            .boxed();
        let body: kube::api::DynamicObject =
            serde_json::from_value(object(&r, &name, "rest")?.to_value())?;
        let created = api.create(&PostParams::default(), &body).await?;
        assert!(created.metadata.uid.is_some(), "{what}: uid set over REST");
        next_rest_event(&mut events, "ADDED", &name).await?;
        let got = api.get(&name).await?;
        assert_eq!(got.metadata.uid, created.metadata.uid, "{what}: get");
        let listed = api.list(&KubeList::default()).await?;
        assert!(
            listed
                .items
                .iter()
                .any(|o| o.metadata.uid == created.metadata.uid),
            "{what}: listed"
        );
        let mut updated = None;
        for _ in 0..20 {
            let mut live = api.get(&name).await?;
            live.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert("generated".into(), "rest".into());
            match api.replace(&name, &PostParams::default(), &live).await {
                Ok(o) => {
                    updated = Some(o);
                    break;
                }
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let updated = updated.ok_or_else(|| anyhow::anyhow!("{what}: update kept conflicting"))?;
        assert_eq!(
            updated
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("generated"))
                .map(String::as_str),
            Some("rest"),
            "{what}: update over REST"
        );
        next_rest_event(&mut events, "MODIFIED", &name).await?;
        api.delete(&name, &DeleteParams::default()).await?;
        gone(&self::api(&client, &r, "rest"), &name, "deleted over REST").await?;
        next_rest_event(&mut events, "DELETED", &name).await?;
    }
    Ok(())
}

/// The system priority classes exist in a new cluster (Kubernetes' scheduling bootstrap),
/// with their values, and cannot be imitated by a user class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_priority_classes_are_bootstrapped() -> anyhow::Result<()> {
    let (_cluster, client) = Cluster::solo(true).await?;
    let pc = ApiResource::of::<rudder_protocol::resources::PriorityClass>();
    let classes = api(&client, &pc, "");
    let (values, _) = eventually(CONVERGE, || {
        let classes = classes.clone();
        async move {
            let got: Vec<(String, i64)> = classes
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .map(|o| {
                    let v = o.to_value();
                    (o.name().to_owned(), v["value"].as_i64().unwrap_or_default())
                })
                .collect();
            Ok((got.len() >= 2).then_some(got))
        }
    })
    .await?;
    assert!(values.contains(&("system-node-critical".to_owned(), 2_000_001_000)));
    assert!(values.contains(&("system-cluster-critical".to_owned(), 2_000_000_000)));
    let mut fake = object(&pc, "system-mine", "")?.to_value();
    fake["value"] = serde_json::json!(5);
    match classes.create(&DynamicObject::from_value(fake)?).await {
        Err(ApiError::Status(s)) => assert_eq!(s.code, 422, "{}", s.message),
        other => anyhow::bail!("a system- name was accepted: {other:?}"),
    }
    Ok(())
}
