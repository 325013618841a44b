//! Byte streams between actors (see [`rudder_protocol::stream`] for the rules): opening
//! one with [`Bus::open_stream`], and handing a stream that arrives to the actor it is
//! for as an [`OpenStream`] message.
//!
//! An actor takes streams by registering a `Recipient<OpenStream>` under its name
//! ([`Bus::register_streams`]; the supervisor does it for components whose
//! [`crate::supervisor::Started`] has one). A stream to an actor of this node is joined
//! in memory; to another node, it is multiplexed on the direct link to that node
//! (streams are not forwarded: the API server, which opens them, runs on control-plane
//! nodes, which link to every node). The opener's call returns once the actor's mailbox
//! took the stream; a missing or stopped actor is an error then.

use std::sync::Arc;
use std::time::Duration;

use actix::{Message, Recipient};
use rudder_protocol::actor::ActorRef;
use rudder_protocol::messages::{BusError, StreamOpen};
use rudder_protocol::net::StreamAccept;
use rudder_protocol::stream::{self, StreamReader, StreamWriter, DEFAULT_WINDOW};

use super::{lock, Bus, Inner, Origin};

/// A stream for a local actor: the open message, who opened it, and this end's halves.
#[derive(Debug)]
pub struct OpenStream {
    /// The typed open message.
    pub open: StreamOpen,
    /// Who opened it.
    pub origin: Origin,
    /// Bytes to the opener.
    pub writer: StreamWriter,
    /// Bytes from the opener.
    pub reader: StreamReader,
}

impl Message for OpenStream {
    type Result = ();
}

/// Where streams for one actor go.
pub type StreamRecipient = Recipient<OpenStream>;

impl Bus {
    /// Registers where streams to the local actor `name` are delivered.
    pub fn register_streams(&self, name: &str, recipient: StreamRecipient) {
        self.inner
            .stream_registry_mut()
            .insert(name.to_owned(), recipient);
    }

    /// Removes a local actor's stream registration.
    pub fn unregister_streams(&self, name: &str) {
        self.inner.stream_registry_mut().remove(name);
    }

    /// Opens a byte stream to the actor `to`, waiting up to `timeout` for it to take it.
    pub async fn open_stream(
        &self,
        to: ActorRef,
        open: StreamOpen,
        timeout: Duration,
    ) -> Result<(StreamWriter, StreamReader), BusError> {
        if to.node == self.inner.me.name {
            let (mine, theirs) = stream::local_pair(DEFAULT_WINDOW);
            let (writer, reader) = stream::halves(theirs);
            deliver(
                &self.inner,
                to,
                open,
                Origin::Local,
                writer,
                reader,
                timeout,
            )
            .await?;
            return Ok(stream::halves(mine));
        }
        let link = lock(&self.inner.links)
            .get(&to.node)
            .filter(|l| !l.is_closed())
            .cloned();
        match link {
            Some(link) => link.open_stream(to, open, DEFAULT_WINDOW, timeout).await,
            None => Err(BusError::Unreachable {
                node: to.node,
                reason: "no direct link to it from this node (streams are not forwarded)".into(),
            }),
        }
    }
}

/// Where streams to the local actor `to` go, or why there is nowhere.
fn recipient_for(
    inner: &Inner,
    to: &ActorRef,
    open: &StreamOpen,
) -> Result<StreamRecipient, BusError> {
    let recipient = inner.stream_registry().get(&to.name).cloned();
    recipient.ok_or_else(|| {
        if inner.registry().contains_key(&to.name) {
            BusError::WrongProtocol {
                actor: to.clone(),
                protocol: format!("{} stream", open.protocol()),
            }
        } else {
            BusError::NoSuchActor { actor: to.clone() }
        }
    })
}

/// Hands a stream to a local actor; an error when it has no stream mailbox or stopped.
async fn deliver(
    inner: &Arc<Inner>,
    to: ActorRef,
    open: StreamOpen,
    origin: Origin,
    writer: StreamWriter,
    reader: StreamReader,
    timeout: Duration,
) -> Result<(), BusError> {
    let recipient = recipient_for(inner, &to, &open)?;
    send(recipient, to, open, origin, writer, reader, timeout).await
}

async fn send(
    recipient: StreamRecipient,
    to: ActorRef,
    open: StreamOpen,
    origin: Origin,
    writer: StreamWriter,
    reader: StreamReader,
    timeout: Duration,
) -> Result<(), BusError> {
    let msg = OpenStream {
        open,
        origin,
        writer,
        reader,
    };
    match tokio::time::timeout(timeout, recipient.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(BusError::ActorStopped { actor: to }),
        Err(_) => Err(BusError::Timeout {
            actor: to,
            after_ms: timeout.as_millis() as u64,
        }),
    }
}

/// A stream that arrived on a link: deliver it, then accept or refuse it.
pub(super) fn arrived(
    inner: Arc<Inner>,
    to: ActorRef,
    open: StreamOpen,
    origin: Origin,
    accept: StreamAccept,
) {
    tokio::spawn(async move {
        if to.node != inner.me.name {
            accept.refuse(BusError::Unreachable {
                node: to.node,
                reason: "streams are not forwarded".into(),
            });
            return;
        }
        if let Origin::User { user, .. } = &origin {
            if let Err(e) = super::clients::admit_stream(&inner, user, &to) {
                return accept.refuse(e);
            }
        }
        let recipient = match recipient_for(&inner, &to, &open) {
            Ok(r) => r,
            Err(e) => return accept.refuse(e),
        };
        // The opener hears of the acceptance by the first credit; the data it sends
        // meanwhile waits in this end's window.
        let (writer, reader) = accept.accept();
        let sent = send(recipient, to, open, origin, writer, reader, ACCEPT_TIMEOUT).await;
        if let Err(e) = sent {
            // The halves were dropped with the message, which reset the stream; say why.
            tracing::debug!(error = %e, "stream refused");
        }
    });
}

/// How long an arriving stream may wait for its actor's mailbox.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
