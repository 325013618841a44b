//! User impersonation, as Kubernetes' impersonation filter: a caller allowed to
//! `impersonate` acts as another user, over HTTP with the `Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>` headers
//! (`kubectl --as`, `--as-group`, `--as-uid`), and over the bus with
//! `ApiRequest::As { caller: Caller::User .. }`.
//!
//! Each part is authorized on its own: the user (`users`, or `serviceaccounts` in its
//! namespace for `system:serviceaccount:<ns>:<name>`), every group (`groups`), the uid
//! (`uids`) and every extra value (`userextras/<key>`, in `authentication.k8s.io`). The
//! impersonated user gets `system:authenticated` (`system:unauthenticated` for
//! `system:anonymous`), and a service account without requested groups the
//! service-account groups. The audit log keeps the caller as `user` and the new
//! identity as `impersonatedUser`.

use std::collections::BTreeMap;

use super::rules::{Check, Target};
use crate::apiserver::core::{ApiCore, ApiResult};
use crate::apiserver::request::{UserInfo, ANONYMOUS_USER, AUTHENTICATED_GROUP};
use rudder_protocol::resources::Status;

/// The group of requests without credentials.
const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The prefix of a service account's user name.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Who a caller asks to act as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Group` (each).
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: String,
    /// `Impersonate-Extra-<key>` (each value).
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The impersonation an HTTP request asks for: `Ok(None)` when it has no
/// `Impersonate-*` header, a 400 when it asks for groups, a uid or extras without a user.
pub fn from_headers(
    headers: &actix_web::http::header::HeaderMap,
) -> ApiResult<Option<Impersonation>> {
    let mut asked = Impersonation::default();
    let mut any = false;
    for (name, value) in headers {
        let name = name.as_str();
        let Some(what) = name.strip_prefix("impersonate-") else {
            continue;
        };
        any = true;
        let value = value.to_str().unwrap_or_default().to_owned();
        match what {
            "user" => asked.user = value,
            "group" => asked.groups.push(value),
            "uid" => asked.uid = value,
            _ => {
                // Header names are case-insensitive; keys are percent-encoded.
                if let Some(key) = what.strip_prefix("extra-") {
                    asked
                        .extra
                        .entry(percent_decode(key))
                        .or_default()
                        .push(value);
                }
            }
        }
    }
    if !any {
        return Ok(None);
    }
    if asked.user.is_empty() {
        return Err(Box::new(Status::failure(
            400,
            "BadRequest",
            "requested impersonation of groups, a uid or extra fields without impersonating a user",
        )));
    }
    Ok(Some(asked))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The service account `(namespace, name)` a user name stands for.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// The API group of `uids` and `userextras`.
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";

/// May `caller` impersonate `name` of `resource`?
fn check<'a>(
    caller: &'a UserInfo,
    group: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
) -> Check<'a> {
    Check {
        user: caller,
        verb: "impersonate",
        target: Target::Resource {
            group,
            resource,
            subresource: None,
            namespace,
            name: Some(name),
        },
    }
}

/// `caller` acting as `asked`, when it may impersonate every part of it; Kubernetes'
/// 403 for the first part it may not.
pub async fn impersonate(
    core: &ApiCore,
    caller: &UserInfo,
    asked: Impersonation,
) -> ApiResult<UserInfo> {
    let Impersonation {
        user: name,
        mut groups,
        uid,
        extra,
    } = asked;
    if name.is_empty() {
        return Err(Box::new(Status::failure(
            400,
            "BadRequest",
            "the impersonated user has no name",
        )));
    }
    let sa = service_account(&name);
    match sa {
        Some((ns, sa_name)) => {
            core.authorize(&check(caller, "", "serviceaccounts", Some(ns), sa_name))
                .await?
        }
        None => {
            core.authorize(&check(caller, "", "users", None, &name))
                .await?
        }
    }
    for g in &groups {
        core.authorize(&check(caller, "", "groups", None, g))
            .await?;
    }
    if !uid.is_empty() {
        core.authorize(&check(caller, AUTHENTICATION_GROUP, "uids", None, &uid))
            .await?;
    }
    for (key, values) in &extra {
        for v in values {
            let mut c = check(caller, AUTHENTICATION_GROUP, "userextras", None, v);
            if let Target::Resource { subresource, .. } = &mut c.target {
                *subresource = Some(key);
            }
            core.authorize(&c).await?;
        }
    }
    if let Some((ns, _)) = sa {
        if groups.is_empty() {
            groups = vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
    }
    let always = if name == ANONYMOUS_USER {
        UNAUTHENTICATED_GROUP
    } else {
        AUTHENTICATED_GROUP
    };
    if !groups.iter().any(|g| g == always) {
        groups.push(always.to_owned());
    }
    Ok(UserInfo {
        name,
        uid,
        groups,
        extra,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn headers_ask_for_an_identity() {
        assert_eq!(from_headers(&headers(&[("Accept", "x")])).unwrap(), None);
        let got = from_headers(&headers(&[
            ("Impersonate-User", "alice"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "u-1"),
            ("Impersonate-Extra-Scopes", "view"),
            ("Impersonate-Extra-Example.com%2Fteam", "blue"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(got.user, "alice");
        assert_eq!(got.groups, ["devs", "ops"]);
        assert_eq!(got.uid, "u-1");
        assert_eq!(got.extra["scopes"], ["view"]);
        assert_eq!(got.extra["example.com/team"], ["blue"]);
        let err = from_headers(&headers(&[("Impersonate-Group", "devs")])).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            service_account("system:serviceaccount:a:b"),
            Some(("a", "b"))
        );
        assert_eq!(service_account("system:serviceaccount:a"), None);
        assert_eq!(service_account("alice"), None);
    }
}
