//! What a client that authenticated with a user's certificate may reach over the bus.
//!
//! Such a link ([`Origin::User`]) is the user, never the node it connected to nor the
//! administrator; every request is decided before it is delivered or forwarded:
//! - the API server of the node it connected to: delivered; the API server decides
//!   each request as the user (RBAC, admission, audit), as for kubectl. Another node's
//!   API server is refused: a request forwarded between nodes arrives as the forwarding
//!   node, so it would no longer be the user's.
//! - anything else (chaos commands, the bus's membership, echo): decided by the node's
//!   [`ClientAuthority`] (the API's RBAC) before it is delivered or forwarded; what it
//!   does not name is refused.
//!
//! Streams (exec, attach, port-forward) go to the local API server only, which decides
//! them as the user too.

use std::sync::Arc;

use rudder_protocol::frame::ClientUser;
use rudder_protocol::messages::{BusError, Request};
use rudder_protocol::names::actors::APISERVER;
use rudder_protocol::net::{BoxFuture, CertificateCheck};
use rudder_protocol::ActorRef;

use super::{lock, Inner};

/// Checks user certificates at the handshake and decides what their links may send
/// besides API requests. The API server implements it.
pub trait ClientAuthority: CertificateCheck {
    /// `Ok` when `user` may send `body` to `to` (any actor but an API server), else
    /// [`BusError::Forbidden`] with the reason.
    fn authorize(
        &self,
        user: &ClientUser,
        to: &ActorRef,
        body: &Request,
    ) -> BoxFuture<Result<(), BusError>>;
}

/// Refuses everything once the user's certificate has expired.
fn unexpired(user: &ClientUser) -> Result<(), BusError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    match user.not_after {
        Some(end) if now > end => Err(BusError::Forbidden {
            message: format!(
                "forbidden: the client certificate of user {:?} expired ({} s ago): connect again with \
                 a valid one",
                user.name,
                now - end
            ),
        }),
        _ => Ok(()),
    }
}

fn local_api_only(inner: &Inner, user: &ClientUser, to: &ActorRef) -> Result<(), BusError> {
    if to.node == inner.me.name {
        return Ok(());
    }
    Err(BusError::Forbidden {
        message: format!(
            "forbidden: user {:?} is served by the API server of node {} (the node it connected to), \
             not by node {}'s",
            user.name, inner.me.name, to.node
        ),
    })
}

/// Decides one request of a user's link (see the module docs).
pub(super) async fn admit(
    inner: &Arc<Inner>,
    user: &ClientUser,
    to: &ActorRef,
    body: &Request,
) -> Result<(), BusError> {
    unexpired(user)?;
    if to.name == APISERVER {
        return local_api_only(inner, user, to);
    }
    let authority = lock(&inner.authority).clone();
    match authority {
        Some(authority) => authority.authorize(user, to, body).await,
        None => Err(BusError::Forbidden {
            message: format!(
                "forbidden: node {} decides no user's requests",
                inner.me.name
            ),
        }),
    }
}

/// Decides a stream a user's link opens: to the local API server only.
pub(super) fn admit_stream(
    inner: &Inner,
    user: &ClientUser,
    to: &ActorRef,
) -> Result<(), BusError> {
    unexpired(user)?;
    if to.name != APISERVER {
        return Err(BusError::Forbidden {
            message: format!(
                "forbidden: user {:?} may open streams to the API server only, not to {to}",
                user.name
            ),
        });
    }
    local_api_only(inner, user, to)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_expired_certificate_stops_its_link() {
        let mut user = ClientUser {
            name: "alice".into(),
            groups: vec![],
            not_after: Some(4_000_000_000),
        };
        assert!(unexpired(&user).is_ok());
        user.not_after = None;
        assert!(unexpired(&user).is_ok());
        user.not_after = Some(1_000_000_000);
        let err = unexpired(&user).unwrap_err().to_string();
        assert!(
            err.contains(r#"client certificate of user "alice" expired"#),
            "{err}"
        );
    }
}
