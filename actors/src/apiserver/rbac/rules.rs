//! Pure rule matching, as Kubernetes' `rbac/v1` helpers do it: what a request asks
//! ([`Check`]) and whether a [`PolicyRule`] allows it. `*` matches any verb, group,
//! resource or URL; `*/scale` matches the `scale` subresource of any resource; a URL
//! ending in `*` matches every path under it; `resourceNames` limit a rule to those
//! objects (so never to a list or a create, which name none).

use rudder_protocol::resources::PolicyRule;

use super::super::request::{Attributes, UserInfo};

/// `*`: everything in a rule's field.
pub const ALL: &str = "*";

/// What a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A resource request (`/api/...`, `/apis/...`, or the bus).
    Resource {
        /// The API group (`""` for core).
        group: &'a str,
        /// The resource's plural.
        resource: &'a str,
        /// The subresource, if any.
        subresource: Option<&'a str>,
        /// The namespace, if any.
        namespace: Option<&'a str>,
        /// The object's name, if any.
        name: Option<&'a str>,
    },
    /// A path outside the resources (`/healthz`, `/version`, `/apis`, ...).
    NonResource {
        /// The request path.
        path: &'a str,
    },
}

/// One authorization question: may `user` do `verb` on `target`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check<'a> {
    /// Who asks.
    pub user: &'a UserInfo,
    /// The verb (`get`, `list`, ..., `escalate`, `bind`, or an HTTP verb for paths).
    pub verb: &'a str,
    /// What it is about.
    pub target: Target<'a>,
}

impl<'a> Check<'a> {
    /// The check of a request's attributes.
    pub fn of(a: &'a Attributes<'a>) -> Check<'a> {
        Check {
            user: a.user,
            verb: a.verb.as_str(),
            target: Target::Resource {
                group: a.group,
                resource: a.resource,
                subresource: a.subresource,
                namespace: a.namespace,
                name: a.name,
            },
        }
    }

    /// The namespace the request is in, if any.
    pub fn namespace(&self) -> Option<&'a str> {
        match self.target {
            Target::Resource { namespace, .. } => namespace.filter(|n| !n.is_empty()),
            Target::NonResource { .. } => None,
        }
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == ALL || v == want)
}

/// Kubernetes' `ResourceMatches`: `resource/subresource` exactly, `*`, or `*/sub`.
fn resource_matches(rule: &PolicyRule, resource: &str, sub: Option<&str>) -> bool {
    rule.resources.iter().any(|r| {
        if r == ALL {
            return true;
        }
        match sub {
            None => r == resource,
            Some(sub) => {
                r.strip_prefix(resource)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| rest == sub)
                    || r.strip_prefix("*/").is_some_and(|rest| rest == sub)
            }
        }
    })
}

/// Kubernetes' `NonResourceURLMatches`: exact, `*`, or a prefix ending in `*`.
fn url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls.iter().any(|u| {
        u == ALL
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Whether `rule` allows `check`.
pub fn allows(rule: &PolicyRule, check: &Check<'_>) -> bool {
    if !has(&rule.verbs, check.verb) {
        return false;
    }
    match check.target {
        Target::NonResource { path } => url_matches(rule, path),
        Target::Resource {
            group,
            resource,
            subresource,
            name,
            ..
        } => {
            has(&rule.api_groups, group)
                && resource_matches(rule, resource, subresource)
                && (rule.resource_names.is_empty()
                    || name.is_some_and(|n| rule.resource_names.iter().any(|r| r == n)))
        }
    }
}

/// Whether any of `rules` allows `check`.
pub fn any_allows(rules: &[PolicyRule], check: &Check<'_>) -> bool {
    rules.iter().any(|r| allows(r, check))
}

/// A rule from string slices (bootstrap roles and tests).
pub fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        verbs: own(verbs),
        api_groups: own(groups),
        resources: own(resources),
        ..PolicyRule::default()
    }
}

/// A non-resource rule from string slices.
pub fn url_rule(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    PolicyRule {
        verbs: own(verbs),
        non_resource_urls: own(urls),
        ..PolicyRule::default()
    }
}

/// Whether `held` cover `rule`: every (verb, group, resource, name) or (verb, URL) the
/// rule grants, some held rule grants too (Kubernetes' `Covers`, used to refuse
/// escalation). Wildcards in `rule` are covered only by the same wildcards held.
pub fn covers(held: &[PolicyRule], rule: &PolicyRule) -> bool {
    if !rule.non_resource_urls.is_empty() {
        return rule.verbs.iter().all(|verb| {
            rule.non_resource_urls.iter().all(|url| {
                held.iter().any(|h| {
                    has(&h.verbs, verb)
                        && h.non_resource_urls
                            .iter()
                            .any(|u| u == ALL || u == url || prefix_covers(u, url))
                })
            })
        });
    }
    let names: Vec<Option<&str>> = if rule.resource_names.is_empty() {
        vec![None]
    } else {
        rule.resource_names
            .iter()
            .map(|n| Some(n.as_str()))
            .collect()
    };
    rule.verbs.iter().all(|verb| {
        rule.api_groups.iter().all(|group| {
            rule.resources.iter().all(|res| {
                names
                    .iter()
                    .all(|name| held.iter().any(|h| held_covers(h, verb, group, res, *name)))
            })
        })
    })
}

/// Whether one held rule grants `verb` on `group`'s `res` (named `name`, if any).
fn held_covers(h: &PolicyRule, verb: &str, group: &str, res: &str, name: Option<&str>) -> bool {
    let resource_ok = h.resources.iter().any(|r| r == ALL || r == res)
        || match res.split_once('/') {
            Some((r, sub)) if r != ALL && sub != ALL => h
                .resources
                .iter()
                .any(|x| x.strip_prefix("*/") == Some(sub)),
            _ => false,
        };
    has(&h.verbs, verb)
        && has(&h.api_groups, group)
        && resource_ok
        && (h.resource_names.is_empty()
            || name.is_some_and(|n| h.resource_names.iter().any(|r| r == n)))
}

/// Whether a held URL pattern `held` (`/apis/*`) covers the pattern `wanted`.
fn prefix_covers(held: &str, wanted: &str) -> bool {
    held.strip_suffix('*')
        .is_some_and(|prefix| wanted.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods_in(ns: &str, verb: &'static str, user: &'static UserInfo) -> Check<'static> {
        let ns: &'static str = Box::leak(ns.to_owned().into_boxed_str());
        Check {
            user,
            verb,
            target: Target::Resource {
                group: "",
                resource: "pods",
                subresource: None,
                namespace: Some(ns),
                name: None,
            },
        }
    }

    #[test]
    fn matching_table() {
        let user: &'static UserInfo = Box::leak(Box::new(UserInfo::admin()));
        let res = |verb: &'static str,
                   group: &'static str,
                   resource: &'static str,
                   sub: Option<&'static str>,
                   name: Option<&'static str>| Check {
            user,
            verb,
            target: Target::Resource {
                group,
                resource,
                subresource: sub,
                namespace: None,
                name,
            },
        };
        let mut named = rule(&["get"], &[""], &["secrets"]);
        named.resource_names = vec!["token".into()];
        let table: Vec<(&str, PolicyRule, Check<'static>, bool)> = vec![
            (
                "exact",
                rule(&["get"], &[""], &["pods"]),
                res("get", "", "pods", None, None),
                true,
            ),
            (
                "other verb",
                rule(&["get"], &[""], &["pods"]),
                res("list", "", "pods", None, None),
                false,
            ),
            (
                "other group",
                rule(&["get"], &["apps"], &["pods"]),
                res("get", "", "pods", None, None),
                false,
            ),
            (
                "star verb",
                rule(&["*"], &[""], &["pods"]),
                res("delete", "", "pods", None, None),
                true,
            ),
            (
                "star group",
                rule(&["get"], &["*"], &["deployments"]),
                res("get", "apps", "deployments", None, None),
                true,
            ),
            (
                "star resource",
                rule(&["get"], &["apps"], &["*"]),
                res("get", "apps", "deployments", Some("scale"), None),
                true,
            ),
            (
                "subresource needs naming",
                rule(&["get"], &[""], &["pods"]),
                res("get", "", "pods", Some("log"), None),
                false,
            ),
            (
                "subresource named",
                rule(&["get"], &[""], &["pods/log"]),
                res("get", "", "pods", Some("log"), None),
                true,
            ),
            (
                "star subresource",
                rule(&["get"], &["apps"], &["*/scale"]),
                res("get", "apps", "deployments", Some("scale"), None),
                true,
            ),
            (
                "star subresource other",
                rule(&["get"], &["apps"], &["*/scale"]),
                res("get", "apps", "deployments", Some("status"), None),
                false,
            ),
            (
                "resource name",
                named.clone(),
                res("get", "", "secrets", None, Some("token")),
                true,
            ),
            (
                "other name",
                named.clone(),
                res("get", "", "secrets", None, Some("other")),
                false,
            ),
            (
                "names never list",
                named,
                res("get", "", "secrets", None, None),
                false,
            ),
        ];
        for (name, r, check, want) in table {
            assert_eq!(allows(&r, &check), want, "{name}");
        }
        let url = |path: &'static str| Check {
            user,
            verb: "get",
            target: Target::NonResource { path },
        };
        let r = url_rule(&["get"], &["/healthz", "/apis/*"]);
        assert!(allows(&r, &url("/healthz")));
        assert!(allows(&r, &url("/apis/apps/v1")));
        assert!(!allows(&r, &url("/api")));
        assert!(!allows(&rule(&["get"], &["*"], &["*"]), &url("/healthz")));
        assert!(!allows(&r, &pods_in("a", "get", user)));
    }

    #[test]
    fn covers_table() {
        let all = vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])];
        let view = vec![rule(
            &["get", "list", "watch"],
            &[""],
            &["pods", "pods/log"],
        )];
        let table: Vec<(&str, &[PolicyRule], PolicyRule, bool)> = vec![
            (
                "admin covers anything",
                &all,
                rule(&["delete"], &["apps"], &["deployments"]),
                true,
            ),
            (
                "admin covers wildcards",
                &all,
                rule(&["*"], &["*"], &["*"]),
                true,
            ),
            (
                "view covers get pods",
                &view,
                rule(&["get"], &[""], &["pods"]),
                true,
            ),
            (
                "view covers log",
                &view,
                rule(&["get"], &[""], &["pods/log"]),
                true,
            ),
            (
                "view lacks delete",
                &view,
                rule(&["delete"], &[""], &["pods"]),
                false,
            ),
            (
                "view lacks star",
                &view,
                rule(&["get"], &[""], &["*"]),
                false,
            ),
            (
                "view lacks secrets",
                &view,
                rule(&["get"], &[""], &["secrets"]),
                false,
            ),
            (
                "view lacks urls",
                &view,
                url_rule(&["get"], &["/healthz"]),
                false,
            ),
        ];
        for (name, held, r, want) in table {
            assert_eq!(covers(held, &r), want, "{name}");
        }
    }
}
