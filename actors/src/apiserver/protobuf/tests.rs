use serde_json::json;

use super::*;

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "0b5b7a3e-1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2026-12-03T10:00:00Z",
            "labels": {"app": "web", "tier": "front"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                "uid": "u-1", "controller": true, "blockOwnerDeletion": true,
            }],
            "finalizers": ["a/b"],
        },
        "spec": {
            "containers": [{
                "name": "c",
                "image": "rudder/demo:1",
                "command": ["httpd", "-f"],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                "readinessProbe": {
                    "httpGet": {"path": "/", "port": 8080},
                    "periodSeconds": 5,
                },
                "livenessProbe": {"tcpSocket": {"port": "http"}},
            }],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "nodeName": "n1",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": [{
                "type": "Ready", "status": "True",
                "lastTransitionTime": "2026-12-03T10:00:05Z",
            }],
        },
    })
}

#[test]
fn a_pod_round_trips_through_protobuf() {
    let original = pod();
    let bytes = encode_object(&original).expect("encodes");
    assert!(bytes.starts_with(MAGIC));
    let mut decoded = decode_object(&bytes).expect("decodes");
    // An env var's empty value is written by Go and decodes as absent, which the API
    // treats the same.
    let mut expected = original;
    expected["spec"]["containers"][0]["env"][1]
        .as_object_mut()
        .expect("env")
        .remove("value");
    assert_eq!(decoded, expected);
    // Decoding is a fixed point.
    let again = decode_object(&encode_object(&decoded).expect("re-encodes")).expect("re-decodes");
    decoded["kind"] = json!("Pod");
    assert_eq!(again, decoded);
}

#[test]
fn the_envelope_matches_the_bytes_kubernetes_writes() {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let mut want = b"k8s\0".to_vec();
    // Unknown.typeMeta {apiVersion: "v1", kind: "Namespace"}
    want.extend_from_slice(&[0x0a, 0x0f, 0x0a, 0x02, b'v', b'1', 0x12, 0x09]);
    want.extend_from_slice(b"Namespace");
    // Unknown.raw: Namespace {metadata: {name: "shop"}}
    want.extend_from_slice(&[0x12, 0x08, 0x0a, 0x06, 0x0a, 0x04]);
    want.extend_from_slice(b"shop");
    assert_eq!(encode_object(&ns).expect("encodes"), want);
}

#[test]
fn go_zero_values_decode_as_kubernetes_reads_them() {
    // What a Go client writes for a Deployment with replicas 0 and nothing else set:
    // empty strings and a zero creation time, which are absent in JSON, and the
    // pointer's explicit zero, which is kept.
    let mut meta = Writer::new();
    meta.bytes(1, b"web");
    meta.bytes(2, b"");
    meta.bytes(8, b""); // creationTimestamp: zero time, an empty message
    meta.varint(7, 0); // generation
    let mut spec = Writer::new();
    spec.varint(1, 0); // replicas
    spec.bytes(4, &[]); // strategy {}
    let mut deployment = Writer::new();
    deployment.bytes(1, &meta.finish());
    deployment.bytes(2, &spec.finish());
    let mut type_meta = Writer::new();
    type_meta.bytes(1, b"apps/v1");
    type_meta.bytes(2, b"Deployment");
    let mut unknown = Writer::new();
    unknown.bytes(1, &type_meta.finish());
    unknown.bytes(2, &deployment.finish());
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&unknown.finish());
    assert_eq!(
        decode_object(&body).expect("decodes"),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "generation": 0},
            "spec": {"replicas": 0, "strategy": {}},
        })
    );
}

#[test]
fn special_values_keep_their_json_form() {
    let obj = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]},
    });
    assert_eq!(
        decode_object(&encode_object(&obj).expect("encodes")).expect("decodes"),
        obj
    );
    let event = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
        "eventTime": "2026-12-03T10:00:00.123456Z", "reportingController": "x",
        "reportingInstance": "y", "action": "A", "reason": "R",
    });
    assert_eq!(
        decode_object(&encode_object(&event).expect("encodes")).expect("decodes"),
        event
    );
}

#[test]
fn lists_and_status_encode() {
    let list = json!({
        "apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"},
        "items": [pod(), pod()],
    });
    let decoded = decode_object(&encode_object(&list).expect("encodes")).expect("decodes");
    assert_eq!(decoded["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(decoded["items"][1]["metadata"]["name"], "web-1");
    let status = json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "pods \"x\" not found", "reason": "NotFound",
        "details": {"name": "x", "kind": "pods"}, "code": 404,
    });
    assert_eq!(
        decode_object(&encode_object(&status).expect("encodes")).expect("decodes"),
        status
    );
    let table = json!({"apiVersion": "meta.k8s.io/v1", "kind": "Table", "rows": []});
    assert!(!encodable("meta.k8s.io/v1", "Table"));
    assert!(encode_object(&table).is_err());
}

#[test]
fn watch_frames_are_length_prefixed_events() {
    let frame = watch_frame("ADDED", &pod()).expect("frame");
    let len = u32::from_be_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
    assert_eq!(len, frame.len() - 4);
    let mut r = Reader::new(&frame[4..]);
    assert_eq!(
        r.field(),
        Ok(Some((1, WireValue::Bytes(b"ADDED".as_slice()))))
    );
    let Ok(Some((2, WireValue::Bytes(raw_extension)))) = r.field() else {
        panic!("no object")
    };
    let mut r = Reader::new(raw_extension);
    let Ok(Some((1, WireValue::Bytes(embedded)))) = r.field() else {
        panic!("no raw")
    };
    assert_eq!(
        decode_object(embedded).expect("object")["metadata"]["name"],
        "web-1"
    );
}

#[test]
fn bad_bodies_are_errors() {
    assert!(decode_object(b"{\"kind\": \"Pod\"}").is_err());
    assert!(decode_object(b"k8s\0\x0a\xff").is_err());
    // An envelope for a kind no message describes.
    let mut type_meta = Writer::new();
    type_meta.bytes(1, b"v1");
    type_meta.bytes(2, b"Gizmo");
    let mut unknown = Writer::new();
    unknown.bytes(1, &type_meta.finish());
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&unknown.finish());
    let e = decode_object(&body).expect_err("unknown kind");
    assert!(e.0.contains("Gizmo"), "{e}");
    // A field with the wrong wire type.
    let mut meta = Writer::new();
    meta.varint(1, 5); // name as a varint
    let mut ns = Writer::new();
    ns.bytes(1, &meta.finish());
    let mut type_meta = Writer::new();
    type_meta.bytes(1, b"v1");
    type_meta.bytes(2, b"Namespace");
    let mut unknown = Writer::new();
    unknown.bytes(1, &type_meta.finish());
    unknown.bytes(2, &ns.finish());
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&unknown.finish());
    let e = decode_object(&body).expect_err("wrong wire type");
    assert!(e.0.contains("ObjectMeta.name"), "{e}");
    // Encoding refuses values of the wrong JSON type instead of writing garbage.
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": 5}});
    assert!(encode_object(&bad).is_err());
}

#[test]
fn random_bytes_never_panic() {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let good = encode_object(&pod()).expect("encodes");
    for round in 0..3000 {
        let mut bytes = good.clone();
        if round % 2 == 0 {
            // Flip a few bytes of a valid body.
            for _ in 0..rng.gen_range(1..6) {
                let i = rng.gen_range(4..bytes.len());
                bytes[i] = rng.gen();
            }
        } else {
            bytes = MAGIC.to_vec();
            bytes.extend((0..rng.gen_range(0..64)).map(|_| rng.gen::<u8>()));
        }
        let _ = decode_object(&bytes);
    }
}

#[test]
fn deep_nesting_is_refused() {
    // JSONSchemaProps.not (28) holds another JSONSchemaProps: 200 of them nested.
    let mut inner = Vec::new();
    for _ in 0..200 {
        let mut w = Writer::new();
        w.bytes(28, &inner);
        inner = w.finish();
    }
    let msg = message("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps")
        .expect("JSONSchemaProps");
    let e = decode_message(msg, &inner, 0, &mut Map::new()).expect_err("too deep");
    assert!(e.0.contains("nests too deeply"), "{e}");
    // Twenty levels are fine.
    let mut inner = Vec::new();
    for _ in 0..20 {
        let mut w = Writer::new();
        w.bytes(28, &inner);
        inner = w.finish();
    }
    assert!(decode_message(msg, &inner, 0, &mut Map::new()).is_ok());
}

#[test]
fn durations_read_and_write_as_go_does() {
    for (text, nanos) in [
        ("0s", 0),
        ("1h0m0s", 3_600_000_000_000),
        ("1m30s", 90_000_000_000),
        ("2.5s", 2_500_000_000),
        ("1.5ms", 1_500_000),
        ("250µs", 250_000),
        ("10ns", 10),
        ("-3s", -3_000_000_000),
    ] {
        assert_eq!(parse_duration(text), Ok(nanos), "{text}");
        assert_eq!(format_duration(nanos), text, "{nanos}");
    }
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
    assert!(parse_duration("5 minutes").is_err());
    assert!(parse_duration("").is_err());
}

#[test]
fn bytes_maps_are_raw_bytes_on_the_wire_and_base64_in_json() {
    // Secret.data {"bin": ff 00 fe, "empty": ""}: the raw bytes in the entry, not base64.
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"bin": "/wD+", "empty": ""}, "type": "Opaque",
    });
    let bytes = encode_object(&secret).expect("encodes");
    assert!(bytes.windows(3).any(|w| w == [0xff, 0x00, 0xfe]));
    assert!(!bytes.windows(4).any(|w| w == b"/wD+"));
    assert_eq!(decode_object(&bytes).expect("decodes"), secret);
    // prost (and so k8s-pb) leaves an empty value out of its map entry: still "".
    let mut entry = Writer::new();
    entry.bytes(1, b"empty");
    let mut cm = Writer::new();
    cm.bytes(3, &entry.finish()); // binaryData
    let mut type_meta = Writer::new();
    type_meta.bytes(1, b"v1");
    type_meta.bytes(2, b"ConfigMap");
    let mut unknown = Writer::new();
    unknown.bytes(1, &type_meta.finish());
    unknown.bytes(2, &cm.finish());
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&unknown.finish());
    assert_eq!(
        decode_object(&body).expect("decodes"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "binaryData": {"empty": ""}})
    );
    // Not base64 in JSON: refused, not written as text.
    let bad = json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}});
    assert!(encode_object(&bad).is_err());
}
