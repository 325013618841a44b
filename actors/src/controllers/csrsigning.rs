//! The CSR signer (Kubernetes' `csrsigning` controller) for
//! `kubernetes.io/kube-apiserver-client`: once a CertificateSigningRequest of that signer
//! is Approved (and neither Denied nor Failed) and has no certificate, it issues one from
//! the cluster's client CA ([`crate::apiserver::certificates`]) into
//! `status.certificate`.
//!
//! What it owns: `status.certificate`, and the `Failed` condition of a request its
//! signer refuses (usages other than `digital signature`, `key encipherment` and
//! `client auth`, or without `client auth`, as Kubernetes' signer refuses them; and, a
//! limit of this signer, subjects with more than one organization). Requests
//! for other signers are left pending for their own signers. The certificate is valid
//! from five minutes ago for `spec.expirationSeconds`, at most [`MAX_DURATION_SECS`]
//! (Kubernetes' `--cluster-signing-duration` default, one year).
//!
//! The CA is read from its Secret through the API once per life of the controller.

use std::sync::Arc;
use std::time::Duration;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{
    ByteString, CertificateSigningRequest, CertificateSigningRequestCondition, Secret, Status,
    Time, CSR_APPROVED, CSR_DENIED, CSR_FAILED, KUBE_APISERVER_CLIENT_SIGNER, USAGE_CLIENT_AUTH,
};
use tracing::{info, warn};

use super::support::{Controller, Wiring};
use crate::apiserver::certificates::{signer_from_secret, validity, CLIENT_CA_SECRET};
use crate::apiserver::x509::{self, Signer};
use crate::informer::{ApiHandle, Cache, ObjectKey};
use crate::supervisor::ComponentSpec;

/// The component's name.
pub const NAME: &str = "controller/csrsigning";

/// The longest validity issued.
pub const MAX_DURATION_SECS: i64 = 365 * 24 * 3600;

/// The usages a client certificate of this signer may have.
const CLIENT_USAGES: &[&str] = &["digital signature", "key encipherment", USAGE_CLIENT_AUTH];

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Issue the certificate.
    Sign,
    /// Refuse: add a `Failed` condition with this message.
    Fail(String),
}

/// The action for `csr`, or `None` when it is not this signer's to act on now.
pub fn plan(csr: &CertificateSigningRequest) -> Option<Action> {
    if csr.spec.signer_name != KUBE_APISERVER_CLIENT_SIGNER
        || csr.condition(CSR_APPROVED).is_none()
        || csr.condition(CSR_DENIED).is_some()
        || csr.condition(CSR_FAILED).is_some()
        || !csr.status.certificate.is_empty()
    {
        return None;
    }
    if let Some(bad) = csr
        .spec
        .usages
        .iter()
        .find(|u| !CLIENT_USAGES.contains(&u.as_str()))
    {
        return Some(Action::Fail(format!(
            "invalid usage for client certificate: {bad}"
        )));
    }
    if !csr.spec.usages.iter().any(|u| u == USAGE_CLIENT_AUTH) {
        return Some(Action::Fail("missing required usage: client auth".into()));
    }
    match x509::parse_csr_pem(csr.spec.request.as_bytes()) {
        Err(e) => Some(Action::Fail(e)),
        // Refused rather than issued with groups missing (see `x509::Signer::issue`).
        Ok(parsed) if parsed.subject.organizations.len() > 1 => Some(Action::Fail(
            "this signer issues certificates with at most one organization (group)".into(),
        )),
        Ok(_) => Some(Action::Sign),
    }
}

/// The supervised component: CertificateSigningRequests by name.
pub fn component() -> ComponentSpec {
    Controller::<CertificateSigningRequest>::new(NAME)
        .component(wire, |ctx: Arc<Ctx>, key: ObjectKey| async move {
            reconcile(&ctx, &key.name).await
        })
}

struct Ctx {
    api: ApiHandle,
    requests: Cache<CertificateSigningRequest>,
    signer: tokio::sync::OnceCell<Arc<Signer>>,
}

fn wire(w: &mut Wiring<CertificateSigningRequest>) -> Ctx {
    Ctx {
        requests: w.primary(),
        api: w.api().clone(),
        signer: tokio::sync::OnceCell::new(),
    }
}

impl Ctx {
    async fn signer(&self) -> Result<Arc<Signer>, ApiError> {
        self.signer
            .get_or_try_init(|| async {
                let secret = self
                    .api
                    .api::<Secret>(Some(CLIENT_CA_SECRET.0))
                    .get(CLIENT_CA_SECRET.1)
                    .await?;
                signer_from_secret(&secret)
                    .map(Arc::new)
                    .map_err(|e| internal(format!("the client CA: {e}")))
            })
            .await
            .cloned()
    }
}

/// An error of this controller's own making, retried with backoff.
fn internal(message: String) -> ApiError {
    ApiError::Status(Box::new(Status::failure(500, "InternalError", message)))
}

fn condition(type_: &str, reason: &str, message: String) -> CertificateSigningRequestCondition {
    let now = Time::now();
    CertificateSigningRequestCondition {
        type_: type_.to_owned(),
        status: "True".into(),
        reason: reason.into(),
        message,
        last_transition_time: Some(now),
        last_update_time: Some(now),
    }
}

async fn reconcile(ctx: &Ctx, name: &str) -> Result<Option<Duration>, ApiError> {
    let Some(csr) = ctx.requests.get(&ObjectKey::cluster(name)) else {
        return Ok(None);
    };
    let Some(action) = plan(&csr) else {
        return Ok(None);
    };
    let mut out = (*csr).clone();
    match action {
        Action::Sign => {
            let signer = ctx.signer().await?;
            let parsed = x509::parse_csr_pem(csr.spec.request.as_bytes()).map_err(internal)?;
            let (from, to) = validity(Time::now(), csr.spec.expiration_seconds, MAX_DURATION_SECS);
            let pem = signer
                .issue(&parsed, &csr.spec.usages, from, to)
                .map_err(|e| internal(format!("signing: {e}")))?;
            out.status.certificate = ByteString(pem.into_bytes());
        }
        Action::Fail(why) => {
            warn!(csr = name, %why, "refusing to sign");
            out.status
                .conditions
                .push(condition(CSR_FAILED, "SignerValidationFailure", why));
        }
    }
    match ctx
        .api
        .api::<CertificateSigningRequest>(None)
        .update_status(&out)
        .await
    {
        Ok(_) => {
            info!(csr = name, "certificate signing request handled");
            Ok(None)
        }
        // The cache lags: the next change brings us back.
        Err(e) if e.code() == Some(409) || e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(usages: &[&str], conditions: &[&str]) -> CertificateSigningRequest {
        let (_, pem) = x509::new_client_request("alice", &[]).unwrap();
        let mut csr = CertificateSigningRequest::new("r");
        csr.spec.request = ByteString(pem.into_bytes());
        csr.spec.signer_name = KUBE_APISERVER_CLIENT_SIGNER.into();
        csr.spec.usages = usages.iter().map(|u| (*u).to_owned()).collect();
        csr.status.conditions = conditions
            .iter()
            .map(|t| condition(t, "Test", String::new()))
            .collect();
        csr
    }

    #[test]
    fn plan_table() {
        let client = &["digital signature", "client auth"];
        let cases: Vec<(&str, CertificateSigningRequest, Option<Action>)> = vec![
            ("pending", request(client, &[]), None),
            (
                "approved",
                request(client, &[CSR_APPROVED]),
                Some(Action::Sign),
            ),
            ("denied", request(client, &[CSR_DENIED]), None),
            ("failed", request(client, &[CSR_APPROVED, CSR_FAILED]), None),
            (
                "server usage",
                request(&["server auth", "client auth"], &[CSR_APPROVED]),
                Some(Action::Fail(
                    "invalid usage for client certificate: server auth".into(),
                )),
            ),
            (
                "no client auth",
                request(&["digital signature"], &[CSR_APPROVED]),
                Some(Action::Fail("missing required usage: client auth".into())),
            ),
            (
                "other signer",
                {
                    let mut r = request(client, &[CSR_APPROVED]);
                    r.spec.signer_name = "example.com/other".into();
                    r
                },
                None,
            ),
            (
                "issued",
                {
                    let mut r = request(client, &[CSR_APPROVED]);
                    r.status.certificate = "x".into();
                    r
                },
                None,
            ),
        ];
        for (name, csr, want) in cases {
            assert_eq!(plan(&csr), want, "{name}");
        }
    }
}
