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

use rudder_protocol::frame::{CertificateProof, ClientUser};
use rudder_protocol::messages::chaos::ChaosRequest;
use rudder_protocol::messages::{BusError, Request};
use rudder_protocol::names::actors::{BUS, CHAOS, ECHO};
use rudder_protocol::net::{BoxFuture, CertificateCheck};
use rudder_protocol::ActorRef;
use rustls::pki_types::CertificateDer;

use super::core::ApiCore;
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
}
