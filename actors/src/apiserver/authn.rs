//! Authentication of bearer tokens, and the `serviceaccounts/token` subresource
//! (TokenRequest) that issues service-account tokens.
//!
//! Which bearer tokens are accepted ([`ApiCore::authenticate_bearer`]):
//! - the cluster's admin token (the kubeconfig `rudderd` writes): `kubernetes-admin` in
//!   `system:masters`, compared in constant time;
//! - a service-account JWT signed by the cluster's key ([`super::satoken`]) for the API's
//!   audience, whose service account still exists with the UID it names and whose bound
//!   object (a pod, a Secret, a node) still exists with its UID and, for a pod, is not
//!   past its deletion time (Kubernetes' rule: a token dies with its pod). The user is
//!   `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts`,
//!   `system:serviceaccounts:<ns>` and `system:authenticated`.
//!
//! Objects are looked up in the watch cache first and in the store only when the cache
//! does not hold them, so a valid token costs no store round trip and a token whose pod
//! is gone is refused even by a cache that lags.
//!
//! The signing key lives in the store (`kube-system/rudder-serviceaccount-key`), created
//! by whichever API server needs it first (bootstrap does) and read once per process.

use std::sync::Arc;

use base64::Engine as _;
use rudder_protocol::resources::{Status, StatusCause, StatusDetails, Time};
use serde_json::{json, Value};

use super::core::{fail, key, served, ApiCore, ApiError, ApiResult, WriteOptions};
use super::request::UserInfo;
use super::satoken::{self, BoundRef, Claims, SigningKey};

/// The audiences the API accepts (Kubernetes' default: the issuer).
pub const API_AUDIENCES: &[&str] = &[satoken::ISSUER];
/// A token's lifetime when the request names none (Kubernetes' one hour).
const DEFAULT_EXPIRATION_SECS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for.
const MIN_EXPIRATION_SECS: i64 = 600;
/// The longest (2^32 seconds, as Kubernetes bounds it).
const MAX_EXPIRATION_SECS: i64 = 1 << 32;
/// The namespace of the signing key's Secret.
const KEY_NAMESPACE: &str = "kube-system";

/// The group of every service account.
const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// The user a service account's token authenticates as.
pub fn service_account_user(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        name: satoken::subject(namespace, name),
        groups: vec![
            SERVICE_ACCOUNTS.to_owned(),
            format!("{SERVICE_ACCOUNTS}:{namespace}"),
            "system:authenticated".to_owned(),
        ],
        ..UserInfo::default()
    }
}

/// The prefix of what a service-account token adds to its user's `extra`.
const EXTRA_PREFIX: &str = "authentication.kubernetes.io/";

/// The user a verified token of the service account `namespace/name` authenticates as:
/// the account's UID, and in `extra` the pod and node it is bound to and the token's
/// id, under the keys Kubernetes uses.
fn token_user(namespace: &str, name: &str, claims: &satoken::Claims) -> UserInfo {
    let mut user = service_account_user(namespace, name);
    let k = &claims.kubernetes;
    if let Some(sa) = &k.serviceaccount {
        user.uid = sa.uid.clone();
    }
    let mut extra = |key: &str, value: &str| {
        if !value.is_empty() {
            user.extra
                .insert(format!("{EXTRA_PREFIX}{key}"), vec![value.to_owned()]);
        }
    };
    if let Some(pod) = &k.pod {
        extra("pod-name", &pod.name);
        extra("pod-uid", &pod.uid);
    }
    if let Some(node) = &k.node {
        extra("node-name", &node.name);
        extra("node-uid", &node.uid);
    }
    if !claims.jti.is_empty() {
        extra("credential-id", &format!("JTI={}", claims.jti));
    }
    user
}

/// Equality of a presented secret and the expected one without an early exit on the
/// first differing byte.
pub fn constant_time_eq(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A JWS in compact form (`header.payload.signature`, the header starting `{"`).
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

fn uid_of(obj: &Value) -> &str {
    obj["metadata"]["uid"].as_str().unwrap_or_default()
}

/// A 422 for a TokenRequest, worded as Kubernetes words its field errors.
fn invalid(name: &str, field: &str, message: String) -> ApiError {
    let mut s = Status::failure(
        422,
        "Invalid",
        format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: {field}: {message}"),
    );
    s.details = Some(StatusDetails {
        name: name.to_owned(),
        group: "authentication.k8s.io".into(),
        kind: "TokenRequest".into(),
        causes: vec![StatusCause {
            reason: "FieldValueInvalid".into(),
            message,
            field: field.to_owned(),
        }],
        ..StatusDetails::default()
    });
    Box::new(s)
}

impl ApiCore {
    /// The cluster's signing key: read from the store, or made and stored by the first
    /// API server that needs it.
    pub(super) async fn signing_key(&self) -> ApiResult<Arc<SigningKey>> {
        self.sa_key
            .get_or_try_init(|| async {
                let secrets = served("", "secrets")?;
                for _ in 0..3 {
                    match self
                        .get(secrets, Some(KEY_NAMESPACE), satoken::KEY_SECRET)
                        .await
                    {
                        Ok(secret) => return decode_key(&secret).map(Arc::new),
                        Err(e) if e.code != 404 => return Err(e),
                        Err(_) => {}
                    }
                    let made = SigningKey::generate()
                        .map_err(|e| fail(500, "InternalError", e.to_string()))?;
                    let obj = json!({
                        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                        "metadata": {"name": satoken::KEY_SECRET, "namespace": KEY_NAMESPACE},
                        "data": {satoken::KEY_DATA:
                            base64::engine::general_purpose::STANDARD.encode(made.pkcs8())},
                    });
                    match self
                        .create(secrets, Some(KEY_NAMESPACE), obj, WriteOptions::default())
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(
                                kid = made.kid(),
                                "created the service account signing key"
                            );
                            return Ok(Arc::new(made));
                        }
                        // Another API server made it first: read theirs.
                        Err(e) if e.code == 409 => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(fail(
                    500,
                    "InternalError",
                    "the service account signing key could not be read or created",
                ))
            })
            .await
            .cloned()
    }

    /// The user a bearer token stands for, or `None` when it is not accepted.
    pub async fn authenticate_bearer(&self, token: &str, admin_token: &str) -> Option<UserInfo> {
        if constant_time_eq(token, admin_token) {
            return Some(UserInfo::admin());
        }
        if !looks_like_jwt(token) {
            return None;
        }
        match self.service_account_token(token).await {
            Ok(user) => Some(user),
            Err(why) => {
                tracing::debug!(%why, "service account token refused");
                None
            }
        }
    }

    /// Checks a service-account token against the key and the cluster's state.
    async fn service_account_token(&self, token: &str) -> Result<UserInfo, String> {
        let key = self.signing_key().await.map_err(|e| e.message.clone())?;
        let claims = key
            .verify(token, API_AUDIENCES, Time::now().unix())
            .map_err(|e| e.to_string())?;
        let (ns, name) = claims
            .service_account()
            .ok_or("the subject is not a service account")?;
        let k = &claims.kubernetes;
        if k.namespace != ns {
            return Err("the namespace claim does not match the subject".into());
        }
        self.still_there(
            "",
            "serviceaccounts",
            Some(ns),
            k.serviceaccount.as_ref(),
            name,
        )
        .await?;
        if let Some(pod) = &k.pod {
            let obj = self
                .still_there("", "pods", Some(ns), Some(pod), &pod.name)
                .await?;
            let deleted = obj["metadata"]["deletionTimestamp"]
                .as_str()
                .and_then(|t| Time::parse(t).ok());
            if deleted.is_some_and(|t| t.unix() < Time::now().unix()) {
                return Err(format!("pod {ns}/{} has been deleted", pod.name));
            }
        }
        if let Some(secret) = &k.secret {
            self.still_there("", "secrets", Some(ns), Some(secret), &secret.name)
                .await?;
        }
        if k.pod.is_none() {
            // A node claim is checked only for tokens bound to the node itself (a pod's
            // node is named for information, as Kubernetes does).
            if let Some(node) = &k.node {
                self.still_there("", "nodes", None, Some(node), &node.name)
                    .await?;
            }
        }
        Ok(token_user(ns, name, &claims))
    }

    /// The object a claim names, if it exists with the UID the claim names (any UID
    /// when the claim names none).
    async fn still_there(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        bound: Option<&BoundRef>,
        name: &str,
    ) -> Result<Arc<Value>, String> {
        let info = served(group, plural).map_err(|e| e.message.clone())?;
        let want_uid = bound.map(|b| b.uid.as_str()).filter(|u| !u.is_empty());
        let matches = |obj: &Value| want_uid.is_none_or(|u| uid_of(obj) == u);
        // The cache first; a miss or a stale UID is settled by the store.
        if let Some(obj) = self.cached(info, &key(info, namespace, name)) {
            if matches(&obj) {
                return Ok(obj);
            }
        }
        match self.get(info, namespace, name).await {
            Ok(obj) if matches(&obj) => Ok(Arc::new(obj)),
            Ok(_) => Err(format!("{plural} {name} has a different UID")),
            Err(e) if e.code == 404 => Err(format!("{plural} {name} not found")),
            Err(e) => Err(e.message.clone()),
        }
    }

    /// `POST .../serviceaccounts/<name>/token`: a signed token for the service account,
    /// bound to the object the request names.
    pub(super) async fn request_token(
        &self,
        namespace: &str,
        name: &str,
        body: &Value,
        _opts: WriteOptions,
    ) -> ApiResult<Value> {
        let accounts = served("", "serviceaccounts")?;
        let account = self.get(accounts, Some(namespace), name).await?;
        let spec = &body["spec"];
        let audiences: Vec<String> = match spec["audiences"].as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => API_AUDIENCES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let seconds = match &spec["expirationSeconds"] {
            Value::Null => DEFAULT_EXPIRATION_SECS,
            v => v.as_i64().ok_or_else(|| {
                invalid(
                    name,
                    "spec.expirationSeconds",
                    format!("Invalid value: {v}: must be an integer"),
                )
            })?,
        };
        if seconds < MIN_EXPIRATION_SECS {
            return Err(invalid(
                name,
                "spec.expirationSeconds",
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            ));
        }
        if seconds > MAX_EXPIRATION_SECS {
            return Err(invalid(
                name,
                "spec.expirationSeconds",
                format!(
                    "Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"
                ),
            ));
        }
        let now = Time::now().unix();
        let mut claims = Claims::new(
            namespace,
            name,
            uid_of(&account),
            audiences.clone(),
            now,
            seconds,
        );
        let bound = &spec["boundObjectRef"];
        if bound.is_object() {
            self.bind_claims(&mut claims, namespace, name, bound)
                .await?;
        }
        let key = self.signing_key().await?;
        let token = key
            .sign(&claims)
            .map_err(|e| fail(500, "InternalError", e.to_string()))?;
        let mut spec_out = json!({"audiences": audiences, "expirationSeconds": seconds});
        if bound.is_object() {
            spec_out["boundObjectRef"] = bound.clone();
        }
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": Time::from_unix(now).to_string()},
            "spec": spec_out,
            "status": {"token": token,
                       "expirationTimestamp": Time::from_unix(claims.exp).to_string()},
        }))
    }

    /// Adds the bound object (a Pod, a Secret or a Node of the request's
    /// `boundObjectRef`) to the claims, checking that it exists with the UID named.
    async fn bind_claims(
        &self,
        claims: &mut Claims,
        namespace: &str,
        name: &str,
        bound: &Value,
    ) -> ApiResult<()> {
        let kind = bound["kind"].as_str().unwrap_or_default();
        let (plural, ns) = match kind {
            "Pod" => ("pods", Some(namespace)),
            "Secret" => ("secrets", Some(namespace)),
            "Node" => ("nodes", None),
            other => {
                return Err(invalid(
                    name,
                    "spec.boundObjectRef.kind",
                    format!("Unsupported value: \"{other}\": supported values: \"Pod\", \"Secret\", \"Node\""),
                ))
            }
        };
        let info = served("", plural)?;
        let target = bound["name"].as_str().unwrap_or_default();
        let obj = self.get(info, ns, target).await?;
        let uid = uid_of(&obj).to_owned();
        if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty()) {
            if want != uid {
                return Err(fail(
                    409,
                    "Conflict",
                    format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"),
                ));
            }
        }
        let this = Some(BoundRef {
            name: target.to_owned(),
            uid,
        });
        match kind {
            "Pod" => {
                claims.kubernetes.pod = this;
                // The pod's node, for information (Kubernetes adds it since 1.30).
                if let Some(node) = obj["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                    let nodes = served("", "nodes")?;
                    if let Ok(n) = self.get(nodes, None, node).await {
                        claims.kubernetes.node = Some(BoundRef {
                            name: node.to_owned(),
                            uid: uid_of(&n).to_owned(),
                        });
                    }
                }
            }
            "Secret" => claims.kubernetes.secret = this,
            _ => claims.kubernetes.node = this,
        }
        Ok(())
    }
}

/// The signing key in its Secret.
fn decode_key(secret: &Value) -> ApiResult<SigningKey> {
    let broken = |why: String| {
        fail(
            500,
            "InternalError",
            format!("secret {KEY_NAMESPACE}/{}: {why}", satoken::KEY_SECRET),
        )
    };
    let data = secret["data"][satoken::KEY_DATA]
        .as_str()
        .ok_or_else(|| broken(format!("no {}", satoken::KEY_DATA)))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| broken(e.to_string()))?;
    SigningKey::from_pkcs8(&der).map_err(|e| broken(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_shapes() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.e30.sig"));
        assert!(!looks_like_jwt("0123456789abcdef"));
        assert!(!looks_like_jwt("eyJ.a.b.c"));
        let u = service_account_user("team", "builder");
        assert_eq!(u.name, "system:serviceaccount:team:builder");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn a_bound_token_names_its_account_pod_node_and_credential() {
        let mut claims = satoken::Claims::new("team", "builder", "sa-uid", vec![], 0, 600);
        claims.kubernetes.pod = Some(satoken::BoundRef {
            name: "web-0".into(),
            uid: "pod-uid".into(),
        });
        claims.kubernetes.node = Some(satoken::BoundRef {
            name: "n1".into(),
            uid: String::new(),
        });
        let u = token_user("team", "builder", &claims);
        assert_eq!(u.uid, "sa-uid");
        let extra: Vec<(&str, &str)> = u
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v[0].as_str()))
            .collect();
        let jti = format!("JTI={}", claims.jti);
        assert_eq!(
            extra,
            [
                ("authentication.kubernetes.io/credential-id", jti.as_str()),
                ("authentication.kubernetes.io/node-name", "n1"),
                ("authentication.kubernetes.io/pod-name", "web-0"),
                ("authentication.kubernetes.io/pod-uid", "pod-uid"),
            ]
        );
    }
}
