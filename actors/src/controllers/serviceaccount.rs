//! The service account controller: a `default` ServiceAccount in every active namespace,
//! re-created when it is deleted, as Kubernetes' service account controller does.
//!
//! What it owns: the existence of `default`; nothing of its content (tokens, secrets).
//! A namespace being deleted gets nothing (the API server would refuse it anyway).
//! [`plan`] decides from the namespace and whether its `default` account exists.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{Namespace, NamespacePhase, ServiceAccount};
use tracing::info;

use super::support::{Controller, Wiring};
use crate::informer::{ApiHandle, Cache, Change, ObjectKey, Scope, WorkQueue};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/serviceaccount";

/// The name of the account every namespace gets.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The account to create in `ns`, if one is needed.
pub fn plan(ns: &Namespace, default_exists: bool) -> Option<ServiceAccount> {
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.phase == Some(NamespacePhase::Terminating);
    if terminating || default_exists {
        return None;
    }
    let mut sa = ServiceAccount::new(DEFAULT_ACCOUNT);
    sa.metadata.namespace = ns.metadata.name.clone();
    Some(sa)
}

/// The supervised component: Namespaces by name, and deleted `default` accounts by
/// their namespace's name.
pub fn component() -> ComponentSpec {
    Controller::<Namespace>::new(NAME).component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
        reconcile(&ctx, key.name).await
    })
}

struct Ctx {
    api: ApiHandle,
    namespaces: Cache<Namespace>,
    accounts: Cache<ServiceAccount>,
}

fn wire(w: &mut Wiring<Namespace>) -> Ctx {
    let namespaces = w.primary();
    let accounts = w.watches(
        Scope::all(),
        |c: &Change<ServiceAccount>, q: &WorkQueue<ObjectKey>| {
            if let Change::Deleted(sa) = c {
                if sa.metadata.name == DEFAULT_ACCOUNT {
                    q.add(ObjectKey::cluster(&sa.metadata.namespace));
                }
            }
        },
    );
    Ctx {
        api: w.api().clone(),
        namespaces,
        accounts,
    }
}

async fn reconcile(ctx: &Ctx, ns: String) -> Result<Option<Duration>, ApiError> {
    let Some(namespace) = ctx.namespaces.get(&ObjectKey::cluster(&ns)) else {
        return Ok(None);
    };
    let exists = ctx
        .accounts
        .get(&ObjectKey::namespaced(&ns, DEFAULT_ACCOUNT))
        .is_some();
    let Some(sa) = plan(&namespace, exists) else {
        return Ok(None);
    };
    match ctx.api.api::<ServiceAccount>(Some(&ns)).create(&sa).await {
        Ok(_) => {
            info!(namespace = %ns, "created the default service account");
            Ok(None)
        }
        // Already there (the cache lags) or the namespace is terminating: nothing to do.
        Err(e) if e.code() == Some(409) || e.code() == Some(403) || e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::resources::Time;

    #[test]
    fn default_account_per_namespace() {
        let active = Namespace::new("team");
        let mut deleting = Namespace::new("team");
        deleting.metadata.deletion_timestamp = Some(Time::from_unix(1));
        let mut terminating = Namespace::new("team");
        terminating.status.phase = Some(NamespacePhase::Terminating);
        let cases = [
            ("active without account: create", &active, false, true),
            ("active with account: nothing", &active, true, false),
            ("being deleted: nothing", &deleting, false, false),
            ("terminating phase: nothing", &terminating, false, false),
        ];
        for (name, ns, exists, want) in cases {
            let got = plan(ns, exists);
            assert_eq!(got.is_some(), want, "case {name}");
            if let Some(sa) = got {
                assert_eq!(sa.metadata.name, "default", "case {name}");
                assert_eq!(sa.metadata.namespace, "team", "case {name}");
            }
        }
    }
}
