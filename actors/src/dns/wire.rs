//! DNS messages in and out: a query becomes a question for [`super::lookup`], its
//! [`Answer`] becomes a response, sized for the transport (the TC bit set, answers
//! dropped, when it does not fit in 512 bytes over UDP without EDNS, or the client's
//! EDNS payload size). The wire format is hickory-proto's; nothing here parses bytes.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData as HRData, Record, RecordType};

use super::lookup::{lookup, Answer, Index, QType, RData, Rec};

/// The largest UDP response to a client that did not announce EDNS.
pub const PLAIN_UDP_LIMIT: usize = 512;
/// The EDNS payload size this server announces and caps client sizes at.
pub const EDNS_PAYLOAD: u16 = 1232;

/// What to do with a query.
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Answer(Message),
    /// Not in the cluster zone: ask an upstream resolver.
    Forward(Message),
}

/// The question type of a record type.
pub fn qtype(t: RecordType) -> QType {
    match t {
        RecordType::A => QType::A,
        RecordType::AAAA => QType::Aaaa,
        RecordType::SRV => QType::Srv,
        RecordType::PTR => QType::Ptr,
        RecordType::CNAME => QType::Cname,
        RecordType::SOA => QType::Soa,
        RecordType::NS => QType::Ns,
        RecordType::ANY => QType::Any,
        other => QType::Other(u16::from(other)),
    }
}

fn name(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok()
}

fn record(r: &Rec) -> Option<Record> {
    let owner = name(&r.name)?;
    let data = match &r.data {
        RData::Addr(std::net::IpAddr::V4(ip)) => HRData::A(A(*ip)),
        RData::Addr(std::net::IpAddr::V6(ip)) => HRData::AAAA(AAAA(*ip)),
        RData::Cname(t) => HRData::CNAME(CNAME(name(t)?)),
        RData::Ptr(t) => HRData::PTR(PTR(name(t)?)),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => HRData::SRV(SRV::new(*priority, *weight, *port, name(target)?)),
        RData::Soa {
            mname,
            rname,
            serial,
            minimum,
        } => HRData::SOA(SOA::new(
            name(mname)?,
            name(rname)?,
            *serial,
            7200,
            1800,
            86400,
            *minimum,
        )),
    };
    let mut rec = Record::from_rdata(owner, r.ttl, data);
    rec.set_dns_class(DNSClass::IN);
    Some(rec)
}

/// A response skeleton for `query`: same id, question, opcode and RD bit.
pub fn response_to(query: &Message, code: ResponseCode) -> Message {
    let mut m = Message::error_msg(query.id(), query.op_code(), code);
    m.add_queries(query.queries().iter().cloned());
    m.set_recursion_desired(query.recursion_desired());
    m.set_recursion_available(true);
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        m.set_edns(edns);
    }
    m
}

/// Answers `query` from `index`, or says to forward it.
pub fn handle(index: &Index, query: Message) -> Reply {
    if query.message_type() != MessageType::Query || query.op_code() != OpCode::Query {
        return Reply::Answer(response_to(&query, ResponseCode::NotImp));
    }
    let Some(q) = query
        .queries()
        .first()
        .filter(|_| query.queries().len() == 1)
    else {
        return Reply::Answer(response_to(&query, ResponseCode::FormErr));
    };
    if q.query_class() != DNSClass::IN && q.query_class() != DNSClass::ANY {
        return Reply::Forward(query);
    }
    let answer = lookup(index, &q.name().to_ascii(), qtype(q.query_type()));
    let (code, answers, authority, additionals) = match answer {
        Answer::NotOurs => return Reply::Forward(query),
        Answer::Records {
            answers,
            additionals,
        } => (ResponseCode::NoError, answers, vec![], additionals),
        Answer::NoData(soa) => (ResponseCode::NoError, vec![], vec![soa], vec![]),
        Answer::NxDomain(soa) => (ResponseCode::NXDomain, vec![], vec![soa], vec![]),
    };
    let mut m = response_to(&query, code);
    m.set_authoritative(true);
    m.add_answers(answers.iter().filter_map(record));
    m.add_name_servers(authority.iter().filter_map(record));
    m.add_additionals(additionals.iter().filter_map(record));
    Reply::Answer(m)
}

/// The largest response `query`'s sender accepts over UDP.
pub fn udp_limit(query: &Message) -> usize {
    match query.extensions() {
        Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
        None => PLAIN_UDP_LIMIT,
    }
}

/// Encodes `response`; over `limit` bytes the answer is replaced by the question with
/// the TC bit, so the client asks again over TCP.
pub fn encode(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    response.truncate().to_vec().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;
    use hickory_proto::op::Query;
    use rudder_protocol::resources::{Endpoints, Service};
    use serde_json::json;

    fn query(n: &str, t: RecordType, edns: bool) -> Message {
        let mut m = Message::new();
        m.set_id(42).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_ascii(n).unwrap(), t));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(4096);
            m.set_edns(e);
        }
        m
    }

    /// A headless service with `n` endpoints.
    fn big(n: usize) -> Index {
        let s: Service =
            serde_json::from_value(json!({"metadata": {"name": "big", "namespace": "default"},
            "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}))
            .unwrap();
        let addrs: Vec<_> = (0..n)
            .map(|i| json!({"ip": format!("10.244.{}.{}", i / 200, i % 200 + 2)}))
            .collect();
        let e: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "big", "namespace": "default"},
            "subsets": [{"addresses": addrs, "ports": [{"name": "http", "port": 80}]}]}))
            .unwrap();
        Index::build("cluster.local", &[&s], &[&e], &[], 1)
    }

    fn answer(idx: &Index, q: Message) -> Message {
        match handle(idx, q) {
            Reply::Answer(m) => m,
            Reply::Forward(_) => panic!("forwarded"),
        }
    }

    #[test]
    fn codes_sections_and_truncation() {
        let idx = big(40);
        let cases: Vec<(
            &str,
            &str,
            RecordType,
            bool,
            ResponseCode,
            usize,
            usize,
            bool,
        )> = vec![
            // name, qname, type, edns, rcode, answers, authority, truncated
            (
                "over 512 bytes without EDNS: TC",
                "big.default.svc.cluster.local.",
                RecordType::A,
                false,
                ResponseCode::NoError,
                0,
                0,
                true,
            ),
            (
                "EDNS lets it through",
                "big.default.svc.cluster.local.",
                RecordType::A,
                true,
                ResponseCode::NoError,
                40,
                0,
                false,
            ),
            (
                "NXDOMAIN with SOA",
                "nope.default.svc.cluster.local.",
                RecordType::A,
                false,
                ResponseCode::NXDomain,
                0,
                1,
                false,
            ),
            (
                "NODATA with SOA",
                "big.default.svc.cluster.local.",
                RecordType::AAAA,
                false,
                ResponseCode::NoError,
                0,
                1,
                false,
            ),
        ];
        for (name, q, t, edns, code, answers, authority, truncated) in cases {
            let query = query(q, t, edns);
            let limit = udp_limit(&query);
            let m = answer(&idx, query);
            let back = Message::from_vec(&encode(&m, limit).unwrap()).unwrap();
            assert_eq!(back.response_code(), code, "{name}");
            assert_eq!(back.id(), 42, "{name}");
            assert_eq!(back.truncated(), truncated, "{name}");
            assert_eq!(back.answers().len(), answers, "{name}");
            assert_eq!(back.name_servers().len(), authority, "{name}");
            assert!(back.authoritative(), "{name}");
            if authority > 0 {
                assert_eq!(
                    back.name_servers()[0].record_type(),
                    RecordType::SOA,
                    "{name}"
                );
                assert_eq!(back.name_servers()[0].ttl(), 5, "{name}");
            }
        }
        // The same answer over TCP (no 512-byte limit) is whole.
        let m = answer(
            &idx,
            query("big.default.svc.cluster.local.", RecordType::A, false),
        );
        let back = Message::from_vec(&encode(&m, 65_535).unwrap()).unwrap();
        assert_eq!(back.answers().len(), 40);
        assert!(back.answers().iter().all(|r| r.ttl() == 5));
    }

    #[test]
    fn outside_the_zone_is_forwarded() {
        let idx = big(1);
        assert!(matches!(
            handle(&idx, query("example.test.", RecordType::A, false)),
            Reply::Forward(_)
        ));
        let mut notify = query("big.default.svc.cluster.local.", RecordType::A, false);
        notify.set_op_code(OpCode::Notify);
        assert_eq!(answer(&idx, notify).response_code(), ResponseCode::NotImp);
    }
}
