//! The root CA publisher: a `kube-root-ca.crt` ConfigMap in every active namespace whose
//! `ca.crt` verifies the cluster's API servers, as Kubernetes' root-ca-cert-publisher
//! keeps it for the `kube-api-access` volumes of pods.
//!
//! What it owns: the content of `kube-root-ca.crt` (put back when edited, re-created when
//! deleted). Its source is the bundle each API server adds its CA to
//! ([`crate::apiserver::presence::CA_BUNDLE`]): every control-plane node has its own
//! CA, and a pod's requests may reach any of them. [`plan`] decides per namespace.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{ConfigMap, Namespace, NamespacePhase};
use tracing::info;

use super::support::{Controller, Wiring};
use crate::apiserver::admission::ROOT_CA_CONFIG_MAP;
use crate::apiserver::presence::CA_BUNDLE;
use crate::informer::Scope;
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/root-ca-cert-publisher";

/// The annotation Kubernetes puts on the ConfigMap.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The CA bundle: every API server's CA, in the order of their node names.
pub fn bundle(cas: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for pem in cas.values() {
        out.push_str(pem.trim_end());
        out.push('\n');
    }
    out
}

/// What to do in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the ConfigMap.
    Create(ConfigMap),
    /// Replace the ConfigMap (its `ca.crt` differs).
    Update(ConfigMap),
}

/// The action for namespace `ns` given the bundle and its current ConfigMap.
pub fn plan(ns: &Namespace, bundle: &str, current: Option<&ConfigMap>) -> Option<Action> {
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.phase == Some(NamespacePhase::Terminating);
    if terminating || bundle.is_empty() {
        return None;
    }
    match current {
        Some(cm) if cm.data.get("ca.crt").map(String::as_str) == Some(bundle) => None,
        Some(cm) => {
            let mut cm = cm.clone();
            cm.data = BTreeMap::from([("ca.crt".to_owned(), bundle.to_owned())]);
            cm.binary_data.clear();
            Some(Action::Update(cm))
        }
        None => {
            let mut cm = ConfigMap::new(ROOT_CA_CONFIG_MAP);
            cm.metadata.namespace = ns.metadata.name.clone();
            cm.metadata
                .annotations
                .insert("kubernetes.io/description".into(), DESCRIPTION.into());
            cm.data.insert("ca.crt".into(), bundle.to_owned());
            Some(Action::Create(cm))
        }
    }
}

/// The supervised component: Namespaces by name; a change of a `kube-root-ca.crt`
/// queues its namespace, a change of the bundle queues every namespace.
pub fn component() -> ComponentSpec {
    Controller::<Namespace>::new(NAME).component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
        reconcile(&ctx, key.name).await
    })
}

struct Ctx {
    api: ApiHandle,
    namespaces: Cache<Namespace>,
    config_maps: Cache<ConfigMap>,
}

fn wire(w: &mut Wiring<Namespace>) -> Ctx {
    let namespaces = w.primary();
    let all = namespaces.clone();
    let config_maps = w.watches(
        Scope::all(),
        move |c: &Change<ConfigMap>, q: &WorkQueue<ObjectKey>| {
            let cm = c.object();
            let (ns, name) = (cm.metadata.namespace.as_str(), cm.metadata.name.as_str());
            if (ns, name) == CA_BUNDLE {
                for n in all.list() {
                    q.add(ObjectKey::cluster(&n.metadata.name));
                }
            } else if name == ROOT_CA_CONFIG_MAP {
                q.add(ObjectKey::cluster(ns));
            }
        },
    );
    Ctx {
        api: w.api().clone(),
        namespaces,
        config_maps,
    }
}

async fn reconcile(ctx: &Ctx, ns: String) -> Result<Option<Duration>, ApiError> {
    let Some(namespace) = ctx.namespaces.get(&ObjectKey::cluster(&ns)) else {
        return Ok(None);
    };
    let cas = ctx
        .config_maps
        .get(&ObjectKey::namespaced(CA_BUNDLE.0, CA_BUNDLE.1))
        .map(|cm| cm.data.clone())
        .unwrap_or_default();
    let current = ctx
        .config_maps
        .get(&ObjectKey::namespaced(&ns, ROOT_CA_CONFIG_MAP));
    let api = ctx.api.api::<ConfigMap>(Some(&ns));
    let result = match plan(&namespace, &bundle(&cas), current.as_deref()) {
        None => return Ok(None),
        Some(Action::Create(cm)) => api.create(&cm).await.map(|_| "created"),
        Some(Action::Update(cm)) => api.update(&cm).await.map(|_| "updated"),
    };
    match result {
        Ok(what) => {
            info!(namespace = %ns, "{what} {ROOT_CA_CONFIG_MAP}");
            Ok(None)
        }
        // The cache lags, or the namespace is terminating: the next change brings us back.
        Err(e) if e.code() == Some(409) || e.code() == Some(403) || e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_namespace_gets_the_bundle() {
        let cas = BTreeMap::from([
            ("cp-2.crt".to_owned(), "B\n".to_owned()),
            ("cp-1.crt".to_owned(), "A".to_owned()),
        ]);
        let b = bundle(&cas);
        assert_eq!(b, "A\nB\n");
        let ns = Namespace::new("team");
        let mut terminating = Namespace::new("team");
        terminating.status.phase = Some(NamespacePhase::Terminating);
        let Some(Action::Create(cm)) = plan(&ns, &b, None) else {
            panic!("a missing ConfigMap is created");
        };
        assert_eq!(cm.metadata.namespace, "team");
        assert_eq!(cm.data["ca.crt"], b);
        assert_eq!(plan(&ns, &b, Some(&cm)), None, "in step: nothing");
        let mut edited = cm.clone();
        edited.data.insert("ca.crt".into(), "tampered".into());
        edited.data.insert("extra".into(), "x".into());
        assert_eq!(
            plan(&ns, &b, Some(&edited)),
            Some(Action::Update(cm.clone()))
        );
        assert_eq!(plan(&terminating, &b, None), None, "terminating: nothing");
        assert_eq!(plan(&ns, "", None), None, "no CA published yet: nothing");
    }
}
