//! Fuzzing the frame decoder with proptest: random bytes, and valid frames (small, and
//! larger than the reader's buffer) with bytes flipped, cut or appended, must give an
//! error or a frame, never a panic or a hang.

use proptest::prelude::*;
use rudder_protocol::frame::{
    CertificateProof, Frame, Hello, Peer, SignatureKind, MAGIC, PROTOCOL_VERSION,
};
use rudder_protocol::messages::echo::EchoRequest;
use rudder_protocol::messages::{BusError, Request};
use rudder_protocol::net::{decode_frame_body, encode_frame, FrameReader};
use rudder_protocol::ActorRef;

fn sample_frames() -> Vec<Frame> {
    vec![
        Frame::Heartbeat,
        Frame::Hello(Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
            cluster_id: "rudder".into(),
            peer: Peer::Client { label: "c".into() },
            nonce: [7; 32],
        }),
        Frame::CertificateProof(CertificateProof {
            chain: vec![vec![0x30, 0x82, 1, 2], vec![]],
            kind: SignatureKind::EcdsaP256Sha256,
            signature: vec![9; 72],
        }),
        Frame::NodeCertificate(CertificateProof {
            chain: vec![vec![0x30, 0x82, 3, 4]],
            kind: SignatureKind::EcdsaP256Sha256,
            signature: vec![8; 70],
        }),
        Frame::Request {
            id: 42,
            to: ActorRef::new("cp-1", "echo"),
            timeout_ms: 1000,
            trace: None,
            body: Request::Echo(EchoRequest::Ping {
                payload: vec![1, 2, 3],
            }),
        },
        Frame::Request {
            id: 43,
            to: ActorRef::new("cp-1", "store"),
            timeout_ms: 1000,
            trace: Some(rudder_protocol::trace::TraceContext {
                trace_id: u128::MAX - 1,
                span_id: 7,
            }),
            body: Request::Echo(EchoRequest::Ping { payload: vec![] }),
        },
        Frame::Reply {
            id: 42,
            result: Err(BusError::NoSuchActor {
                actor: ActorRef::new("n", "a"),
            }),
        },
    ]
}

fn read_all(bytes: &[u8]) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut reader = FrameReader::new(bytes, 1 << 20);
        let mut n = 0;
        while let Ok(Some(_)) = reader.next().await {
            n += 1;
        }
        n
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame_body(&body);
    }

    #[test]
    fn random_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        read_all(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = Vec::new();
        encode_frame(&sample_frames()[which], &mut bytes).expect("encodes");
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        bytes.extend(tail);
        read_all(&bytes);
    }
}

proptest! {
    // Frames larger than the reader's buffer take its other path (stream data's payload
    // read into its own buffer): flips land in the length and head it parses by hand.
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_large_frames_never_panic(
        len in 65_000usize..200_000,
        stream in any::<bool>(),
        flips in proptest::collection::vec((0usize..24, any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let frame = if stream {
            Frame::StreamData { id: 7, from_opener: true, data: vec![0x5A; len] }
        } else {
            Frame::Reply {
                id: 1,
                result: Err(BusError::StreamReset { reason: "x".repeat(len) }),
            }
        };
        let mut bytes = Vec::new();
        encode_frame(&frame, &mut bytes).expect("encodes");
        for (at, v) in flips {
            bytes[at] ^= v;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        read_all(&bytes);
    }
}

#[test]
fn valid_frames_read_back_in_order() {
    let frames = sample_frames();
    let mut bytes = Vec::new();
    for f in &frames {
        encode_frame(f, &mut bytes).expect("encodes");
    }
    assert_eq!(read_all(&bytes), frames.len());
}
