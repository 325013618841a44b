//! The `echo` actor: answers a ping with its payload.
//!
//! Owns nothing. Exists on every node so that any node's reachability can be checked over
//! the bus, and so the bus can be benchmarked without other work in the way:
//! [`EchoRequest::Blast`] makes this node's echo ping another node's echo over the bus
//! and report latencies (what `bench-bus` measures).
//!
//! Streams: [`EchoStream::Echo`] sends every byte back, [`EchoStream::Sink`] counts
//! them; [`EchoRequest::StreamTo`] makes this node's echo stream bytes into another
//! node's sink and report the time (what `bench-stream` measures). Sessions run in the
//! actor's context, so killing the actor cancels them.

use std::time::{Duration, Instant};

use actix::prelude::*;
use rudder_protocol::messages::echo::{
    BlastStats, EchoReply, EchoRequest, EchoStream, MAX_BLAST_COUNT, MAX_BLAST_IN_FLIGHT,
};
use rudder_protocol::messages::{BusError, Reply, Request, StreamOpen};
use rudder_protocol::stream::{StreamReader, StreamWriter, MAX_CHUNK};
use rudder_protocol::ActorRef;

use crate::bus::{Bus, Deliver, OpenStream};
use crate::supervisor::{StartContext, Started};

/// The actor's name on every node.
pub const NAME: &str = rudder_protocol::names::actors::ECHO;

/// The `echo` actor.
pub struct Echo {
    me: ActorRef,
    bus: Bus,
}

impl Echo {
    /// Starts an instance (the component factory).
    pub fn start(ctx: &StartContext) -> Started {
        Started::actor_with_streams(Echo {
            me: ActorRef::new(ctx.bus.node().clone(), NAME),
            bus: ctx.bus.clone(),
        })
    }
}

impl Actor for Echo {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Requests arrive from many links at once; a deep mailbox keeps senders from
        // waiting on each other (the bus bounds what is in flight per link).
        ctx.set_mailbox_capacity(4096);
    }
}

crate::stop_on_request!(Echo);

impl Handler<Deliver> for Echo {
    // `Response` answers pings in place; only a blast needs a future.
    type Result = actix::Response<Result<Reply, BusError>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let me = self.me.clone();
        match msg.0 {
            Request::Echo(EchoRequest::Ping { payload }) => {
                actix::Response::reply(Ok(Reply::Echo(EchoReply::Pong {
                    node: me.node.to_string(),
                    payload,
                })))
            }
            Request::Echo(EchoRequest::Blast {
                to,
                count,
                in_flight,
                payload_len,
            }) => {
                if count > MAX_BLAST_COUNT || in_flight == 0 || in_flight > MAX_BLAST_IN_FLIGHT {
                    return actix::Response::reply(Err(BusError::Failed {
                            actor: me,
                            message: format!(
                                "blast needs count <= {MAX_BLAST_COUNT} and 1 <= in_flight <= {MAX_BLAST_IN_FLIGHT}"
                            ),
                    }));
                }
                let bus = self.bus.clone();
                actix::Response::fut(async move {
                    let stats = blast(bus, to, count, in_flight, payload_len.min(1 << 20)).await;
                    Ok(Reply::Echo(EchoReply::BlastDone(stats)))
                })
            }
            Request::Echo(EchoRequest::StreamTo { to, bytes }) => {
                let bus = self.bus.clone();
                actix::Response::fut(async move {
                    let started = Instant::now();
                    match stream_to(&bus, to, bytes).await {
                        Ok(counted) => Ok(Reply::Echo(EchoReply::Streamed {
                            bytes: counted,
                            elapsed_us: started.elapsed().as_micros() as u64,
                        })),
                        Err(e) => Err(BusError::Failed {
                            actor: me,
                            message: format!("streaming failed: {e}"),
                        }),
                    }
                })
            }
            other => actix::Response::reply(Err(BusError::WrongProtocol {
                actor: me,
                protocol: other.protocol().into(),
            })),
        }
    }
}

async fn blast(bus: Bus, to: ActorRef, count: u32, in_flight: u32, payload_len: u32) -> BlastStats {
    let payload = vec![0xA5u8; payload_len as usize];
    let next = std::cell::Cell::new(0u32);
    let started = Instant::now();
    let workers = (0..in_flight.min(count.max(1))).map(|_| {
        let (bus, to, payload, next) = (&bus, &to, &payload, &next);
        async move {
            let mut lat = Vec::new();
            let mut failed = 0u32;
            loop {
                let i = next.get();
                if i >= count {
                    break;
                }
                next.set(i + 1);
                let t = Instant::now();
                let req = Request::Echo(EchoRequest::Ping {
                    payload: payload.clone(),
                });
                match bus.request(to.clone(), req, Duration::from_secs(10)).await {
                    Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                    Err(_) => failed += 1,
                }
            }
            (lat, failed)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    let mut all = Vec::with_capacity(count as usize);
    let mut failed = 0;
    for (lat, f) in results {
        all.extend(lat);
        failed += f;
    }
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        let idx = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[idx]
    };
    BlastStats {
        ok: all.len() as u32,
        failed,
        elapsed_us,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: all.last().copied().unwrap_or(0),
    }
}

impl Handler<OpenStream> for Echo {
    type Result = ();

    fn handle(&mut self, msg: OpenStream, ctx: &mut Context<Self>) {
        let StreamOpen::Echo(kind) = msg.open else {
            // Dropping the halves resets the stream.
            return;
        };
        let (writer, reader) = (msg.writer, msg.reader);
        ctx.spawn(
            async move {
                let r = match kind {
                    EchoStream::Echo => echo_back(writer, reader).await,
                    EchoStream::Sink => sink(writer, reader).await,
                };
                if let Err(e) = r {
                    tracing::debug!(error = %e, "echo stream ended with an error");
                }
            }
            .into_actor(self),
        );
    }
}

async fn echo_back(mut writer: StreamWriter, mut reader: StreamReader) -> Result<(), BusError> {
    while let Some(chunk) = reader.recv().await? {
        writer.send_chunk(chunk).await?;
    }
    writer.finish().await
}

async fn sink(mut writer: StreamWriter, mut reader: StreamReader) -> Result<(), BusError> {
    let mut n = 0u64;
    while let Some(chunk) = reader.recv().await? {
        n += chunk.len() as u64;
    }
    writer.send(&n.to_be_bytes()).await?;
    writer.finish().await
}

/// Streams `bytes` into the sink `to`; returns the count it reports.
async fn stream_to(bus: &Bus, to: ActorRef, bytes: u64) -> Result<u64, BusError> {
    let (mut writer, mut reader) = bus
        .open_stream(
            to,
            StreamOpen::Echo(EchoStream::Sink),
            Duration::from_secs(10),
        )
        .await?;
    let chunk = vec![0x5Au8; MAX_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(MAX_CHUNK as u64) as usize;
        writer.send_chunk(chunk[..n].to_vec()).await?;
        left -= n as u64;
    }
    writer.finish().await?;
    let answer = reader.read_to_end(64).await?;
    let count: [u8; 8] = answer
        .as_slice()
        .try_into()
        .map_err(|_| BusError::StreamReset {
            reason: format!("the sink answered {} bytes, not 8", answer.len()),
        })?;
    Ok(u64::from_be_bytes(count))
}
