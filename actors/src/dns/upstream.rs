//! Forwarding of names outside the cluster zone to the upstream resolvers (the host's
//! `resolv.conf` nameservers by default), with a small cache that honours TTLs.
//!
//! Upstreams are tried in order over UDP, each for [`TRY_TIMEOUT`]; the first answer
//! wins. A truncated UDP answer (TC set) is asked again over TCP from the same upstream
//! (RFC 7766), so a pod gets the whole answer; if TCP fails, the truncated answer
//! stands (the pod's resolver may retry over TCP itself). A failing or silent set of upstreams gives SERVFAIL. The cache holds at most
//! its configured number of answers, keyed by question (lower-cased name, type, class),
//! each for the smallest TTL in it (SOA minimum for negative answers, capped at
//! [`MAX_CACHE_TTL`]); when full, expired entries go first, then the one closest to
//! expiry.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use tokio::net::UdpSocket;

/// How long one upstream gets to answer.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest an answer is cached, whatever its TTL.
pub const MAX_CACHE_TTL: u32 = 300;

type Key = (String, RecordType, DNSClass);

/// The upstream resolvers and the cache of their answers.
pub struct Upstream {
    servers: Vec<SocketAddr>,
    capacity: usize,
    cache: Mutex<HashMap<Key, (Message, Instant, Instant)>>,
}

fn key(m: &Message) -> Option<Key> {
    let q = m.queries().first()?;
    Some((
        q.name().to_ascii().to_ascii_lowercase(),
        q.query_type(),
        q.query_class(),
    ))
}

/// The TTL an answer may be cached for (`None`: not at all).
fn cache_ttl(m: &Message) -> Option<u32> {
    if m.truncated() {
        return None;
    }
    match m.response_code() {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        _ => return None,
    }
    let ttl = if m.answers().is_empty() {
        m.name_servers().iter().find_map(|r| match r.data() {
            RData::SOA(soa) => Some(soa.minimum().min(r.ttl())),
            _ => None,
        })?
    } else {
        m.answers().iter().map(|r| r.ttl()).min()?
    };
    Some(ttl.min(MAX_CACHE_TTL)).filter(|t| *t > 0)
}

impl Upstream {
    /// Forwarding to `servers`, caching at most `capacity` answers (0: no cache).
    pub fn new(servers: Vec<SocketAddr>, capacity: usize) -> Upstream {
        Upstream {
            servers,
            capacity,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A cached answer to `query`, its TTLs lowered by the time it has been kept.
    fn cached(&self, query: &Message, now: Instant) -> Option<Message> {
        let k = key(query)?;
        let cache = self.cache.lock().ok()?;
        let (m, stored, expires) = cache.get(&k)?;
        if *expires <= now {
            return None;
        }
        let age = u32::try_from(now.duration_since(*stored).as_secs()).unwrap_or(u32::MAX);
        let mut m = m.clone();
        m.set_id(query.id());
        for r in m.answers_mut().iter_mut() {
            r.set_ttl(r.ttl().saturating_sub(age));
        }
        Some(m)
    }

    fn store(&self, query: &Message, answer: &Message, now: Instant) {
        let (Some(k), Some(ttl)) = (key(query), cache_ttl(answer)) else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= self.capacity && !cache.contains_key(&k) {
            cache.retain(|_, (_, _, exp)| *exp > now);
            if cache.len() >= self.capacity {
                if let Some(victim) = cache
                    .iter()
                    .min_by_key(|(_, (_, _, exp))| *exp)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&victim);
                }
            }
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        cache.insert(k, (answer.clone(), now, expires));
    }

    /// Answers `query` from the cache or the upstreams; SERVFAIL when none answers.
    pub async fn resolve(&self, query: Message) -> Message {
        let now = Instant::now();
        if let Some(m) = self.cached(&query, now) {
            return m;
        }
        let Ok(bytes) = query.to_vec() else {
            return super::wire::response_to(&query, ResponseCode::FormErr);
        };
        for server in &self.servers {
            let exchange = async {
                let answer = ask(*server, &bytes, query.id()).await?;
                if !answer.truncated() {
                    return Ok::<_, std::io::Error>(answer);
                }
                match ask_tcp(*server, &bytes, query.id()).await {
                    Ok(full) => Ok(full),
                    Err(e) => {
                        tracing::debug!(upstream = %server, error = %e, "TCP retry of a truncated answer failed");
                        Ok(answer)
                    }
                }
            };
            match tokio::time::timeout(TRY_TIMEOUT, exchange).await {
                Ok(Ok(answer)) => {
                    self.store(&query, &answer, Instant::now());
                    return answer;
                }
                Ok(Err(e)) => tracing::debug!(upstream = %server, error = %e, "upstream failed"),
                Err(_) => tracing::debug!(upstream = %server, "upstream timed out"),
            }
        }
        super::wire::response_to(&query, ResponseCode::ServFail)
    }
}

/// One exchange with `server` over UDP.
async fn ask(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Message> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 4096];
    // Bounded: a stray datagram with another id is skipped, a few times at most.
    for _ in 0..8 {
        let n = sock.recv(&mut buf).await?;
        if let Ok(m) = Message::from_vec(&buf[..n]) {
            if m.id() == id {
                return Ok(m);
            }
        }
    }
    Err(std::io::Error::other("no matching answer"))
}

/// One exchange with `server` over TCP (two-byte length prefixes, RFC 1035 4.2.2).
async fn ask_tcp(server: SocketAddr, query: &[u8], id: u16) -> std::io::Result<Message> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let len = u16::try_from(query.len()).map_err(|_| std::io::Error::other("query too long"))?;
    let mut stream = tokio::net::TcpStream::connect(server).await?;
    let mut out = Vec::with_capacity(query.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(query);
    stream.write_all(&out).await?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut buf).await?;
    let m = Message::from_vec(&buf).map_err(std::io::Error::other)?;
    if m.id() == id {
        Ok(m)
    } else {
        Err(std::io::Error::other("no matching answer"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::{rdata::A, Name, Record};

    fn q(id: u16) -> Message {
        let mut m = Message::new();
        m.set_id(id);
        m.add_query(Query::query(
            Name::from_ascii("a.test.").unwrap(),
            RecordType::A,
        ));
        m
    }

    fn answer(ttl: u32) -> Message {
        let mut m = super::super::wire::response_to(&q(1), ResponseCode::NoError);
        m.add_answer(Record::from_rdata(
            Name::from_ascii("a.test.").unwrap(),
            ttl,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        m
    }

    #[test]
    fn cache_honours_ttl_and_capacity() {
        let up = Upstream::new(vec![], 1);
        let t0 = Instant::now();
        up.store(&q(1), &answer(30), t0);
        let hit = up.cached(&q(7), t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(hit.id(), 7, "the client's id");
        assert_eq!(hit.answers()[0].ttl(), 20, "TTL lowered by the age");
        assert!(
            up.cached(&q(7), t0 + Duration::from_secs(31)).is_none(),
            "expired"
        );
        assert_eq!(cache_ttl(&answer(0)), None, "TTL 0 is not cached");
        assert_eq!(cache_ttl(&answer(100_000)), Some(MAX_CACHE_TTL));
        let mut other = q(2);
        other.queries_mut()[0].set_name(Name::from_ascii("b.test.").unwrap());
        up.store(&other, &answer(60), t0);
        assert_eq!(up.cache.lock().unwrap().len(), 1, "bounded");
    }

    #[tokio::test]
    async fn no_upstream_is_servfail() {
        let up = Upstream::new(vec![], 4);
        assert_eq!(
            up.resolve(q(3)).await.response_code(),
            ResponseCode::ServFail
        );
    }

    /// A fake upstream on loopback: over UDP every answer is truncated (TC set, no
    /// records), over TCP it is whole.
    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let full = |query: &Message| {
            let mut a = answer(60);
            a.set_id(query.id());
            a
        };
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            for _ in 0..4 {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    return;
                };
                let query = Message::from_vec(&buf[..n]).unwrap();
                let mut cut = super::super::wire::response_to(&query, ResponseCode::NoError);
                cut.set_truncated(true);
                let _ = udp.send_to(&cut.to_vec().unwrap(), peer).await;
            }
        });
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((mut s, _)) = tcp.accept().await else {
                    return;
                };
                let mut len = [0u8; 2];
                s.read_exact(&mut len).await.unwrap();
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                s.read_exact(&mut q).await.unwrap();
                let bytes = full(&Message::from_vec(&q).unwrap()).to_vec().unwrap();
                let mut out = (bytes.len() as u16).to_be_bytes().to_vec();
                out.extend(bytes);
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.write_all(&out).await.unwrap();
            }
        });
        let up = Upstream::new(vec![addr], 0);
        let got = up.resolve(q(42)).await;
        assert_eq!(got.id(), 42);
        assert!(!got.truncated(), "the whole answer, from TCP");
        assert_eq!(got.answers().len(), 1);
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
