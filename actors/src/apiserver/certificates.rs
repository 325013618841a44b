//! Client certificates: the cluster's client CA, authentication of the certificate a
//! client presents on the API's TLS listener, and the approval admission of
//! CertificateSigningRequests.
//!
//! **One client CA per cluster.** Every control-plane node makes its own serving CA
//! ([`super::tls`]), but a client certificate must be accepted by whichever API server
//! a client reaches; so client certificates chain to one CA whose certificate and key
//! live in the store (the Secret `kube-system/rudder-client-ca`), made by whichever API
//! server needs it first (bootstrap does), as the service-account signing key is. The
//! CSR signer ([`crate::controllers::csrsigning`]) issues from it.
//!
//! **Requested, not required.** The TLS listener asks every client for a certificate
//! and accepts any it proves the key of ([`RequestClientCert`]); the chain is checked
//! here, per request, as Kubernetes' x509 authenticator does: a certificate of another
//! CA, expired, or not for client auth is answered 401 (not a failed handshake), and a
//! connection without one falls through to bearer tokens. A verified certificate is
//! user = CN, groups = O (plus `system:authenticated`).
//!
//! **Approval.** Writing `certificatesigningrequests/approval` needs, on top of RBAC's
//! `update` on it, `approve` on `signers` (group `certificates.k8s.io`) named after the
//! request's signer or its `<domain>/*` (Kubernetes' CertificateApproval admission);
//! writing a certificate through `/status` needs `sign` on it (CertificateSigning), and
//! no request to `kubernetes.io/kube-apiserver-client` may ask for `system:masters`
//! (CertificateSubjectRestriction).

use std::sync::Arc;

use base64::Engine as _;
use rudder_protocol::resources::{Secret, Time};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{json, Value};

use super::core::{fail, served, ApiCore, ApiResult, WriteOptions};
use super::rbac::rules::{Check, Target};
use super::request::{UserInfo, AUTHENTICATED_GROUP};
use super::x509::{self, Signer};

/// The namespace and name of the Secret holding the client CA.
pub const CLIENT_CA_SECRET: (&str, &str) = ("kube-system", "rudder-client-ca");
/// Its certificate's key in the Secret.
const CERT_KEY: &str = "tls.crt";
/// Its private key's key in the Secret.
const KEY_KEY: &str = "tls.key";

/// The client CA as the API server checks certificates against it.
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
}

/// The peer certificates of a TLS connection (end entity first), as the HTTPS front
/// stores them in the connection's data.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM entry of the client CA's Secret.
fn secret_text(secret: &Secret, key: &str) -> Result<String, String> {
    secret
        .data
        .get(key)
        .map(|b| String::from_utf8_lossy(b.as_bytes()).into_owned())
        .ok_or_else(|| format!("no {key}"))
}

/// The client CA in its Secret (`tls.crt`, `tls.key`), as the signer reads it.
pub fn signer_from_secret(secret: &Secret) -> Result<Signer, String> {
    Signer::from_pem(
        &secret_text(secret, CERT_KEY)?,
        &secret_text(secret, KEY_KEY)?,
    )
    .map_err(|e| e.to_string())
}

/// The client CA's certificate (PEM) from its Secret: what certificate clients check
/// nodes against.
pub fn ca_cert_from_secret(secret: &Secret) -> Result<String, String> {
    secret_text(secret, CERT_KEY)
}

impl ClientCa {
    fn new(cert_pem: &str) -> Result<ClientCa, String> {
        use rustls::pki_types::pem::PemObject;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| e.to_string())?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).map_err(|e| e.to_string())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
        Ok(ClientCa { verifier })
    }

    /// The user a certificate chain (end entity first) stands for, if it chains to
    /// this CA, is valid now and is for client auth.
    pub fn authenticate(&self, chain: &[CertificateDer<'static>]) -> Result<UserInfo, String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map_err(|e| format!("verifying certificate: {e}"))?;
        let subject = x509::certificate_subject(leaf.as_ref())?;
        if subject.common_name.is_empty() {
            return Err("the certificate names no user (empty common name)".into());
        }
        let mut groups = subject.organizations;
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.into());
        }
        Ok(UserInfo {
            name: subject.common_name,
            groups,
            ..UserInfo::default()
        })
    }
}

impl ApiCore {
    /// The cluster's client CA: read from the store, or made and stored by the first
    /// API server that needs it.
    pub(super) async fn client_ca(&self) -> ApiResult<Arc<ClientCa>> {
        self.client_ca
            .get_or_try_init(|| async {
                let internal = |m: String| fail(500, "InternalError", m);
                let secrets = served("", "secrets")?;
                let (ns, name) = CLIENT_CA_SECRET;
                for _ in 0..3 {
                    match self.get(secrets, Some(ns), name).await {
                        Ok(secret) => {
                            let pem = secret["data"][CERT_KEY]
                                .as_str()
                                .and_then(|b| {
                                    base64::engine::general_purpose::STANDARD.decode(b).ok()
                                })
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                                .ok_or_else(|| {
                                    internal(format!("secret {ns}/{name}: no {CERT_KEY}"))
                                })?;
                            return ClientCa::new(&pem).map(Arc::new).map_err(internal);
                        }
                        Err(e) if e.code != 404 => return Err(e),
                        Err(_) => {}
                    }
                    let made = Signer::generate().map_err(|e| internal(e.to_string()))?;
                    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                    let obj = json!({
                        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                        "metadata": {"name": name, "namespace": ns},
                        "data": {CERT_KEY: b64(made.cert_pem()), KEY_KEY: b64(&made.key_pem())},
                    });
                    match self
                        .create(secrets, Some(ns), obj, WriteOptions::default())
                        .await
                    {
                        Ok(_) => {
                            tracing::info!("created the cluster's client CA");
                            return ClientCa::new(made.cert_pem())
                                .map(Arc::new)
                                .map_err(internal);
                        }
                        // Another API server made it first: read theirs.
                        Err(e) if e.code == 409 => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(internal(
                    "the client CA could not be read or created".to_owned(),
                ))
            })
            .await
            .cloned()
    }

    /// The user a client certificate chain stands for; the error says why it is
    /// refused.
    pub async fn authenticate_certificate(
        &self,
        chain: &[CertificateDer<'static>],
    ) -> Result<UserInfo, String> {
        let ca = self.client_ca().await.map_err(|e| e.message.clone())?;
        ca.authenticate(chain)
    }

    /// CertificateApproval admission: the caller of a write of
    /// `certificatesigningrequests/<name>/approval` may approve for the request's
    /// signer.
    pub(super) async fn approval_admission(&self, user: &UserInfo, name: &str) -> ApiResult<()> {
        let info = served("certificates.k8s.io", "certificatesigningrequests")?;
        let csr: Value = self.get(info, None, name).await?;
        self.signer_permission(user, &csr, "approve").await
    }

    /// CertificateSigning admission: a write of `certificatesigningrequests/<name>/status`
    /// that changes `status.certificate` needs `sign` on the request's signer.
    pub(super) async fn signing_admission(
        &self,
        user: &UserInfo,
        name: &str,
        op: &super::request::Operation,
    ) -> ApiResult<()> {
        use super::request::Operation;
        let body = match op {
            Operation::Update { body, .. } => Some(body),
            // A patch that leaves the certificate alone needs no read.
            Operation::Patch { patch, .. } if patch_touches_certificate(patch) => None,
            _ => return Ok(()),
        };
        let info = served("certificates.k8s.io", "certificatesigningrequests")?;
        let csr: Value = self.get(info, None, name).await?;
        if body
            .is_some_and(|b| b.pointer("/status/certificate") == csr.pointer("/status/certificate"))
        {
            return Ok(());
        }
        self.signer_permission(user, &csr, "sign").await
    }

    /// `Ok` when `user` may `verb` (`approve`, `sign`) for `csr`'s signer, named or as
    /// its `<domain>/*`; Kubernetes' 403 otherwise.
    async fn signer_permission(&self, user: &UserInfo, csr: &Value, verb: &str) -> ApiResult<()> {
        let name = csr["metadata"]["name"].as_str().unwrap_or_default();
        let signer = csr["spec"]["signerName"].as_str().unwrap_or_default();
        let wildcard = signer
            .split_once('/')
            .map(|(domain, _)| format!("{domain}/*"));
        for candidate in std::iter::once(signer).chain(wildcard.as_deref()) {
            let check = Check {
                user,
                verb,
                target: Target::Resource {
                    group: "certificates.k8s.io",
                    resource: "signers",
                    subresource: None,
                    namespace: None,
                    name: Some(candidate),
                },
            };
            if self.authorize(&check).await.is_ok() {
                return Ok(());
            }
        }
        Err(fail(
            403,
            "Forbidden",
            format!(
                "certificatesigningrequests.certificates.k8s.io \"{name}\" is forbidden: user not permitted to {verb} requests with signerName \"{signer}\""
            ),
        ))
    }
}

/// Whether a patch (merge, strategic merge or JSON patch) writes `status.certificate`.
fn patch_touches_certificate(patch: &Value) -> bool {
    match patch {
        Value::Array(ops) => ops.iter().any(|op| {
            ["path", "from"].iter().any(|k| {
                op[*k]
                    .as_str()
                    .is_some_and(|p| p == "/status" || p.starts_with("/status/certificate"))
            })
        }),
        other => other
            .get("status")
            .is_some_and(|s| !s.is_object() || s.get("certificate").is_some()),
    }
}

/// The signer whose certificates Kubernetes' API servers accept as client credentials.
const API_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// CertificateSubjectRestriction admission: no request to the API-client signer may ask
/// for the group `system:masters` (whoever holds such a certificate is beyond RBAC).
pub(super) fn subject_restriction(csr: &Value) -> ApiResult<()> {
    if csr["spec"]["signerName"] != API_CLIENT_SIGNER {
        return Ok(());
    }
    // A request that does not parse is refused by validation, with its reason.
    let Some(pem) = csr["spec"]["request"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    else {
        return Ok(());
    };
    let Ok(parsed) = x509::parse_csr_pem(&pem) else {
        return Ok(());
    };
    if parsed
        .subject
        .organizations
        .iter()
        .any(|o| o == super::rbac::MASTERS_GROUP)
    {
        let name = csr["metadata"]["name"].as_str().unwrap_or_default();
        return Err(fail(
            403,
            "Forbidden",
            format!(
                "certificatesigningrequests.certificates.k8s.io \"{name}\" is forbidden: use of {API_CLIENT_SIGNER} signer with {} group is not allowed",
                super::rbac::MASTERS_GROUP
            ),
        ));
    }
    Ok(())
}

/// The TLS side: asks every client for a certificate, takes none as well as any whose
/// key the client proves it holds; the chain is judged per request
/// ([`ApiCore::authenticate_certificate`]).
#[derive(Debug)]
pub struct RequestClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Default for RequestClientCert {
    fn default() -> Self {
        RequestClientCert {
            provider: provider(),
        }
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// How long after `now` a certificate of `expiration_seconds` ends, within the
/// signer's longest duration (`max`), as Kubernetes' signer bounds it; it starts five
/// minutes before `now` (clock skew).
pub fn validity(now: Time, expiration_seconds: Option<i32>, max: i64) -> (i64, i64) {
    let wanted = expiration_seconds.map_or(max, |s| i64::from(s).min(max));
    (now.unix() - 300, now.unix() + wanted)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rustls::pki_types::pem::PemObject;

    use super::*;

    fn issued(
        ca: &Signer,
        user: &str,
        groups: &[String],
        from: i64,
        to: i64,
    ) -> CertificateDer<'static> {
        let (_key, req) = x509::new_client_request(user, groups).unwrap();
        let csr = x509::parse_csr_pem(req.as_bytes()).unwrap();
        let pem = ca
            .issue(
                &csr,
                &["digital signature".into(), "client auth".into()],
                from,
                to,
            )
            .unwrap();
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    #[test]
    fn certificates_are_judged_by_ca_validity_and_subject() {
        let ca = Signer::generate().unwrap();
        let reloaded = Signer::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        let other = Signer::generate().unwrap();
        let client_ca = ClientCa::new(ca.cert_pem()).unwrap();
        let now = Time::now().unix();
        let groups = vec!["dev".to_owned()];
        let user = client_ca
            .authenticate(&[issued(&reloaded, "alice", &groups, now - 60, now + 3600)])
            .unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.groups, ["dev", "system:authenticated"]);
        let refused = [
            (
                "another CA",
                issued(&other, "alice", &groups, now - 60, now + 3600),
            ),
            (
                "expired",
                issued(&ca, "alice", &groups, now - 7200, now - 3600),
            ),
            ("no user", issued(&ca, "", &groups, now - 60, now + 3600)),
        ];
        for (case, cert) in refused {
            assert!(client_ca.authenticate(&[cert]).is_err(), "{case}");
        }
        assert!(client_ca.authenticate(&[]).is_err());
    }

    #[test]
    fn validity_is_bounded_and_backdated() {
        let now = Time(1_000_000);
        assert_eq!(validity(now, None, 3600), (999_700, 1_003_600));
        assert_eq!(validity(now, Some(600), 3600), (999_700, 1_000_600));
        assert_eq!(validity(now, Some(7200), 3600), (999_700, 1_003_600));
    }
}
