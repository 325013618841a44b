//! DNS helpers shared by `tests/tests/dns.rs` and `bench-dns`: one query over UDP
//! ([`query`]), and [`FakeUpstream`], a tiny resolver on 127.0.0.1 that the cluster DNS
//! forwards to in tests (never a real resolver).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// Sends one query for `name`/`rtype` to `server` over UDP from `sock` (a fresh socket
/// when `None`); the answer, if one with the same id comes within `timeout`.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    id: u16,
    timeout: Duration,
) -> anyhow::Result<Message> {
    let sock = UdpSocket::bind(("0.0.0.0", 0)).await?;
    sock.connect(server).await?;
    query_on(&sock, name, rtype, id, timeout).await
}

/// [`query`] over an already connected socket.
pub async fn query_on(
    sock: &UdpSocket,
    name: &str,
    rtype: RecordType,
    id: u16,
    timeout: Duration,
) -> anyhow::Result<Message> {
    let mut m = Message::new();
    m.set_id(id).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name)?, rtype));
    sock.send(&m.to_vec()?).await?;
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(timeout, async {
        loop {
            let n = sock.recv(&mut buf).await?;
            let reply = Message::from_vec(&buf[..n])?;
            if reply.id() == id {
                return Ok(reply);
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no answer for {name} within {timeout:?}"))?
}

/// A resolver on 127.0.0.1 (port chosen by the system) answering A queries for the
/// names it was given, NXDOMAIN for the rest, and counting the queries it saw.
pub struct FakeUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts it with `names` (absolute, lower case, trailing dot) and their addresses.
    pub async fn start(names: Vec<(String, Ipv4Addr)>) -> anyhow::Result<FakeUpstream> {
        let sock = UdpSocket::bind(("127.0.0.1", 0)).await?;
        let addr = sock.local_addr()?;
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let mut r = Message::new();
                r.set_id(q.id())
                    .set_message_type(MessageType::Response)
                    .set_recursion_desired(q.recursion_desired())
                    .set_recursion_available(true);
                r.add_queries(q.queries().iter().cloned());
                let hit = q.queries().first().and_then(|question| {
                    let asked = question.name().to_ascii().to_ascii_lowercase();
                    names
                        .iter()
                        .find(|(n, _)| *n == asked)
                        .map(|(_, ip)| (question.clone(), *ip))
                });
                match hit {
                    Some((question, ip)) if question.query_type() == RecordType::A => {
                        r.add_answer(Record::from_rdata(
                            question.name().clone(),
                            60,
                            RData::A(A(ip)),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        r.set_response_code(ResponseCode::NXDomain);
                    }
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, peer).await;
                }
            }
        });
        Ok(FakeUpstream { addr, seen, task })
    }

    /// How many queries it has answered.
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
