//! The service account controller: a `default` ServiceAccount in every active namespace,
//! re-created when it is deleted, as Kubernetes' service account controller does.
//!
//! What it owns: the existence of `default`; nothing of its content (tokens, secrets).
//! A namespace being deleted gets nothing (the API server would refuse it anyway).
//! [`plan`] decides from the namespace and whether its `default` account exists.

use rudder_protocol::resources::{Namespace, NamespacePhase, ServiceAccount};

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
