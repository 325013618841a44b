//! The API's side of bus clients that authenticate with a user's certificate
//! ([`crate::bus::clients`]): the certificate checked at the handshake, and what such a
//! client may send besides API requests, decided by RBAC.
//!
//! **Authentication.** The chain must verify against the cluster's client CA exactly as
//! on the HTTPS front ([`ApiCore::authenticate_certificate`]: valid now, for client
//! auth; user = CN, groups = O), and the handshake transcript's signature must verify
//! with the certificate's key, which proves the client holds it. The link outlives no
//! certificate: past its `notAfter` every request is refused ([`crate::bus::clients`]).
//!
//! **Authorization.** Chaos commands, membership and echo are authorized as the
//! dashboard's endpoints that do the same ([`super::dashboard`]), so one role grants
//! both: looking (listing actors and faults, members, echo) is `get` on
//! `/dashboard/api/cluster`; killing an actor or a process is `post` on
//! `/dashboard/api/kill`; a fault rule is `post` on `/dashboard/api/partition`;
//! clearing them is `post` on `/dashboard/api/heal`. Nothing else (the store, kubelets,
//! controllers) is for users: refused.
//!
//! **The node proves itself too.** Such a client holds no token to check the node
//! with, so the node answers with a certificate of its own: a key made in memory and a
//! certificate for it from the same client CA (its key is in the store), for server
//! auth and naming the node, valid [`BUS_CERTIFICATE_DAYS`] and made again past half of
//! that. A user's certificate request can get neither server auth nor so a node's
//! proof; the client checks chain, name and signature against the CA in its config.

use std::sync::Arc;

use rudder_protocol::frame::{CertificateProof, ClientUser};
use rudder_protocol::keys::PrivateKey;
use rudder_protocol::messages::chaos::ChaosRequest;
use rudder_protocol::messages::{BusError, Request};
use rudder_protocol::names::actors::{BUS, CHAOS, ECHO};
use rudder_protocol::net::{BoxFuture, CertificateCheck, TranscriptSigner as _};
use rudder_protocol::resources::{Secret, Time};
use rudder_protocol::ActorRef;
use rustls::pki_types::CertificateDer;

use super::certificates::{signer_from_secret, CLIENT_CA_SECRET};
use super::core::{served, ApiCore};
use super::rbac::rules::{Check, Target};
use super::request::UserInfo;
use super::x509;

/// The dashboard path and verb a request of a user's bus client is authorized as, or
/// `None` when no user may send it.
pub fn attributes(to: &ActorRef, body: &Request) -> Option<(&'static str, &'static str)> {
    const LOOK: (&str, &str) = ("get", "/dashboard/api/cluster");
    match (to.name.as_str(), body) {
        (CHAOS, Request::Chaos(c)) => Some(match c {
            ChaosRequest::ListActors | ChaosRequest::ListFaults => LOOK,
            ChaosRequest::KillActor { .. }
            | ChaosRequest::KillMatching { .. }
            | ChaosRequest::KillProcess => ("post", "/dashboard/api/kill"),
            ChaosRequest::SetFault(_) => ("post", "/dashboard/api/partition"),
            ChaosRequest::ClearFaults => ("post", "/dashboard/api/heal"),
        }),
        (BUS, Request::Bus(_)) | (ECHO, Request::Echo(_)) => Some(LOOK),
        _ => None,
    }
}

/// The API's user for a bus client's certificate user.
pub fn user_info(user: &ClientUser) -> UserInfo {
    UserInfo {
        name: user.name.clone(),
        groups: user.groups.clone(),
        ..UserInfo::default()
    }
}

/// How long a node's bus certificate is valid, in days.
pub const BUS_CERTIFICATE_DAYS: i64 = 30;

/// A node's bus certificate and its key.
pub struct BusCertificate {
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
    /// When to make a new one (Unix seconds): half way through its validity.
    renew_at: i64,
}

/// Where the API server keeps its bus certificate.
pub type BusCertificateSlot = Arc<tokio::sync::Mutex<Option<Arc<BusCertificate>>>>;

impl ApiCore {
    /// This node's bus certificate, made (or made again, past half its validity) from
    /// the cluster's client CA.
    async fn bus_certificate(&self) -> Result<Arc<BusCertificate>, String> {
        let mut slot = self.bus_certificate.lock().await;
        let now = Time::now().unix();
        if let Some(cert) = slot.as_ref().filter(|c| c.renew_at > now) {
            return Ok(cert.clone());
        }
        // Made by the first API server that needs it.
        self.client_ca().await.map_err(|e| e.message.clone())?;
        let (ns, name) = CLIENT_CA_SECRET;
        let secrets = served("", "secrets").map_err(|e| e.message.clone())?;
        let secret = self
            .get(secrets, Some(ns), name)
            .await
            .map_err(|e| format!("the client CA: {}", e.message))?;
        let secret: Secret =
            serde_json::from_value(secret).map_err(|e| format!("the client CA: {e}"))?;
        let ca = signer_from_secret(&secret).map_err(|e| format!("the client CA: {e}"))?;
        let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let valid = BUS_CERTIFICATE_DAYS * 86_400;
        let node = self.bus().node().as_str().to_owned();
        // An hour back: clocks of clients and nodes differ a little.
        let der = ca
            .issue_node(&node, &key, now - 3600, now + valid)
            .map_err(|e| format!("issuing node {node}'s bus certificate: {e}"))?;
        let cert = Arc::new(BusCertificate {
            chain: vec![der],
            key: PrivateKey::from_pem(&key.serialize_pem())?,
            renew_at: now + valid / 2,
        });
        tracing::info!(node, "made this node's bus certificate");
        *slot = Some(cert.clone());
        Ok(cert)
    }
}

impl CertificateCheck for ApiCore {
    fn check(
        &self,
        proof: CertificateProof,
        transcript: Vec<u8>,
    ) -> BoxFuture<Result<ClientUser, String>> {
        let core = self.clone();
        Box::pin(async move {
            let chain: Vec<CertificateDer<'static>> =
                proof.chain.into_iter().map(CertificateDer::from).collect();
            let user = core.authenticate_certificate(&chain).await?;
            let leaf = chain.first().ok_or("no certificate")?;
            x509::verify_key_signature(leaf.as_ref(), proof.kind, &transcript, &proof.signature)?;
            Ok(ClientUser {
                name: user.name,
                groups: user.groups,
                not_after: Some(x509::certificate_not_after(leaf.as_ref())?),
            })
        })
    }

    fn prove(&self, transcript: Vec<u8>) -> BoxFuture<Result<CertificateProof, String>> {
        let core = self.clone();
        Box::pin(async move {
            let cert = core.bus_certificate().await?;
            Ok(CertificateProof {
                chain: cert.chain.clone(),
                kind: cert.key.kind(),
                signature: cert.key.sign(&transcript)?,
            })
        })
    }
}

impl crate::bus::clients::ClientAuthority for ApiCore {
    fn authorize(
        &self,
        user: &ClientUser,
        to: &ActorRef,
        body: &Request,
    ) -> BoxFuture<Result<(), BusError>> {
        let core = self.clone();
        let user = user_info(user);
        let attributes = attributes(to, body);
        let to = to.clone();
        let protocol = body.protocol();
        Box::pin(async move {
            let Some((verb, path)) = attributes else {
                return Err(BusError::Forbidden {
                    message: format!(
                        "forbidden: User {:?} cannot send {protocol} requests to {to}: a user's client \
                         reaches the API server, and chaos, bus and echo actors as RBAC allows",
                        user.name
                    ),
                });
            };
            let check = Check {
                user: &user,
                verb,
                target: Target::NonResource { path },
            };
            core.authorize(&check)
                .await
                .map_err(|status| BusError::Forbidden {
                    message: status.message.clone(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::messages::bus::BusRequest;
    use rudder_protocol::messages::store::{Consistency, StoreRequest};

    #[test]
    fn each_command_is_authorized_as_its_dashboard_endpoint() {
        let chaos = ActorRef::new("n1", CHAOS);
        let cases = [
            (ChaosRequest::ListActors, ("get", "/dashboard/api/cluster")),
            (ChaosRequest::ListFaults, ("get", "/dashboard/api/cluster")),
            (
                ChaosRequest::KillActor { name: "x".into() },
                ("post", "/dashboard/api/kill"),
            ),
            (ChaosRequest::KillProcess, ("post", "/dashboard/api/kill")),
            (ChaosRequest::ClearFaults, ("post", "/dashboard/api/heal")),
        ];
        for (req, want) in cases {
            assert_eq!(
                attributes(&chaos, &Request::Chaos(req.clone())),
                Some(want),
                "{req:?}"
            );
        }
        let members = Request::Bus(BusRequest::Members);
        assert_eq!(
            attributes(&ActorRef::new("n1", BUS), &members),
            Some(("get", "/dashboard/api/cluster"))
        );
        // A request to an actor that does not speak it, and actors users never reach.
        assert_eq!(attributes(&chaos, &members), None);
        let store = Request::Store(Box::new(StoreRequest::Get {
            key: "k".into(),
            consistency: Consistency::Linearizable,
        }));
        assert_eq!(attributes(&ActorRef::new("n1", "store"), &store), None);
        assert_eq!(attributes(&ActorRef::new("n1", "kubelet"), &members), None);
    }

    /// A proof: the certificate `chain` and `signer`'s signature of `message`.
    fn node_proof(
        chain: Vec<u8>,
        signer: &PrivateKey,
        message: &[u8],
    ) -> Result<CertificateProof, String> {
        Ok(CertificateProof {
            chain: vec![chain],
            kind: signer.kind(),
            signature: signer.sign(message)?,
        })
    }

    #[test]
    fn a_node_certificate_proves_only_the_node_it_names() -> Result<(), String> {
        use rudder_protocol::keys::{pem_blocks, ClusterAuthority};
        use rudder_protocol::net::NodeCertificateCheck as _;
        let e = |e: rcgen::Error| e.to_string();
        let ca = x509::Signer::generate().map_err(e)?;
        let other = x509::Signer::generate().map_err(e)?;
        let trusted = ClusterAuthority::from_pem(ca.cert_pem())?;
        let now = Time::now().unix();
        let key = rcgen::KeyPair::generate().map_err(e)?;
        let signer = PrivateKey::from_pem(&key.serialize_pem())?;
        let n1 = ca.issue_node("n1", &key, now - 60, now + 3600).map_err(e)?;
        trusted.check("n1", &node_proof(n1.clone(), &signer, b"t")?, b"t")?;
        let refused = |node: &str, proof: CertificateProof, message: &[u8]| {
            trusted
                .check(node, &proof, message)
                .err()
                .unwrap_or_default()
        };
        // Another node's name, another transcript, another CA, an expired certificate.
        let err = refused("n2", node_proof(n1.clone(), &signer, b"t")?, b"t");
        assert!(err.contains("not for node n2"), "{err}");
        let err = refused("n1", node_proof(n1, &signer, b"t")?, b"other");
        assert!(err.contains("does not verify"), "{err}");
        let foreign = other
            .issue_node("n1", &key, now - 60, now + 3600)
            .map_err(e)?;
        let err = refused("n1", node_proof(foreign, &signer, b"t")?, b"t");
        assert!(err.contains("not the cluster CA's for a node"), "{err}");
        let expired = ca
            .issue_node("n1", &key, now - 7200, now - 3600)
            .map_err(e)?;
        let err = refused("n1", node_proof(expired, &signer, b"t")?, b"t");
        assert!(err.contains("not the cluster CA's for a node"), "{err}");
        // A user's certificate from the same CA, even one named after the node, is
        // for client auth: it proves no node.
        let (user_key, request) = x509::new_client_request("n1", &[]).map_err(e)?;
        let csr = x509::parse_csr_pem(request.as_bytes())?;
        let usages = ["digital signature".to_owned(), "client auth".to_owned()];
        let user_pem = ca.issue(&csr, &usages, now - 60, now + 3600).map_err(e)?;
        let user_der = pem_blocks(&user_pem)?
            .into_iter()
            .next()
            .map(|(_, der)| der)
            .unwrap_or_default();
        let user_signer = PrivateKey::from_pem(&user_key)?;
        let err = refused("n1", node_proof(user_der, &user_signer, b"t")?, b"t");
        assert!(err.contains("not the cluster CA's for a node"), "{err}");
        Ok(())
    }
}
