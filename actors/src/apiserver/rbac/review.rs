//! Access reviews: questions about authorization, answered and never stored
//! (`authorization.k8s.io/v1`): SelfSubjectAccessReview ("may I?", what `kubectl auth
//! can-i` sends), SubjectAccessReview ("may this user?"), LocalSubjectAccessReview (the
//! same within one namespace) and SelfSubjectRulesReview ("what may I do here?",
//! `kubectl auth can-i --list`); and SelfSubjectReview (`authentication.k8s.io/v1`,
//! "who am I?", `kubectl auth whoami`).
//!
//! Each is a `create` that is itself authorized (the bootstrap `system:basic-user` role
//! lets every authenticated user ask about themselves; asking about others needs
//! `create` on `subjectaccessreviews`). The answer is the request with its `status`.

use rudder_protocol::resources::PolicyRule;
use serde_json::{json, Value};

use super::super::core::{fail, ApiCore, ApiResult};
use super::super::request::UserInfo;
use super::rules::{Check, Target};
use super::Decision;

/// The review resources: `(group, plural, kind, namespaced)`.
pub const REVIEWS: &[(&str, &str, &str, bool)] = &[
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
    ),
    (
        "authorization.k8s.io",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
    ),
    (
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        true,
    ),
    (
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
    ),
    (
        "authentication.k8s.io",
        "selfsubjectreviews",
        "SelfSubjectReview",
        false,
    ),
];

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn bad(message: impl Into<String>) -> Box<rudder_protocol::resources::Status> {
    fail(400, "BadRequest", message)
}

/// Serves `POST /apis/<group>/v1/[namespaces/<ns>/]<plural>` of a review for `user`, or
/// `None` when the path names no review.
pub async fn serve(
    core: &ApiCore,
    user: &UserInfo,
    group: &str,
    rest: &[&str],
    body: Value,
) -> Option<ApiResult<Value>> {
    let (namespace, plural) = match rest {
        [plural] => (None, *plural),
        ["namespaces", ns, plural] => (Some(*ns), *plural),
        _ => return None,
    };
    let &(_, plural, kind, namespaced) = REVIEWS
        .iter()
        .find(|(g, p, _, _)| *g == group && *p == plural)?;
    if namespaced != namespace.is_some() {
        return None;
    }
    Some(review(core, user, group, plural, kind, namespace, body).await)
}

async fn review(
    core: &ApiCore,
    user: &UserInfo,
    group: &str,
    plural: &str,
    kind: &str,
    namespace: Option<&str>,
    mut body: Value,
) -> ApiResult<Value> {
    let allowed_to_ask = Check {
        user,
        verb: "create",
        target: Target::Resource {
            group,
            resource: plural,
            subresource: None,
            namespace,
            name: None,
        },
    };
    core.authorize(&allowed_to_ask).await?;
    if !body.is_object() {
        return Err(bad(format!("the body must be a {kind}")));
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match kind {
        "SelfSubjectReview" => json!({"userInfo": user_info(user)}),
        "SelfSubjectRulesReview" => {
            let ns = str_at(&spec, "namespace");
            let rules = core
                .rule_index()
                .await?
                .rules_for(user, (!ns.is_empty()).then_some(ns));
            rules_status(&rules)
        }
        "SelfSubjectAccessReview" => access(core, user, &spec, None).await?,
        "LocalSubjectAccessReview" => {
            let about = subject_of(&spec)?;
            let ns = namespace.unwrap_or_default();
            let asked = spec
                .pointer("/resourceAttributes/namespace")
                .and_then(Value::as_str)
                .unwrap_or(ns);
            if asked != ns {
                return Err(bad(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            access(core, &about, &spec, Some(ns)).await?
        }
        _ => {
            let about = subject_of(&spec)?;
            access(core, &about, &spec, None).await?
        }
    };
    body["status"] = status;
    body["apiVersion"] = json!(format!("{group}/v1"));
    body["kind"] = json!(kind);
    if let Some(ns) = namespace {
        body["metadata"]["namespace"] = json!(ns);
    }
    Ok(body)
}

/// A user as `authentication.k8s.io/v1` `UserInfo` (and the audit event) writes one:
/// `uid` and `extra` only when known.
pub fn user_info(user: &UserInfo) -> Value {
    let mut v = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        v["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        v["extra"] = json!(user.extra);
    }
    v
}

/// The user a SubjectAccessReview asks about.
fn subject_of(spec: &Value) -> ApiResult<UserInfo> {
    let name = str_at(spec, "user").to_owned();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(fail(
            422,
            "Invalid",
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    let extra = spec
        .get("extra")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    Ok(UserInfo {
        name,
        uid: str_at(spec, "uid").to_owned(),
        groups,
        extra,
    })
}

/// The `status` of an access review of `spec` for `user`.
async fn access(
    core: &ApiCore,
    user: &UserInfo,
    spec: &Value,
    namespace: Option<&str>,
) -> ApiResult<Value> {
    let decision = if let Some(r) = spec.get("resourceAttributes") {
        let ns = namespace.unwrap_or_else(|| str_at(r, "namespace"));
        let opt = |s: &'static str| Some(str_at(r, s)).filter(|v| !v.is_empty());
        let check = Check {
            user,
            verb: str_at(r, "verb"),
            target: Target::Resource {
                group: str_at(r, "group"),
                resource: str_at(r, "resource"),
                subresource: opt("subresource"),
                namespace: Some(ns).filter(|n| !n.is_empty()),
                name: opt("name"),
            },
        };
        core.decide(&check).await?
    } else if let Some(n) = spec.get("nonResourceAttributes") {
        let check = Check {
            user,
            verb: str_at(n, "verb"),
            target: Target::NonResource {
                path: str_at(n, "path"),
            },
        };
        core.decide(&check).await?
    } else {
        return Err(fail(
            422,
            "Invalid",
            "spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    Ok(match decision {
        Decision::Allow => json!({"allowed": true}),
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false}),
    })
}

/// A SelfSubjectRulesReview's `status`: the resource and non-resource rules.
fn rules_status(rules: &[PolicyRule]) -> Value {
    let mut resource = Vec::new();
    let mut non_resource = Vec::new();
    for r in rules {
        if r.non_resource_urls.is_empty() {
            let mut v =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                v["resourceNames"] = json!(r.resource_names);
            }
            resource.push(v);
        } else {
            non_resource.push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false})
}
