//! Media types: the encoding of a request body (`Content-Type`) and the one a client
//! wants its answer in (`Accept`), as kube-apiserver negotiates them.
//!
//! Bodies are read as JSON, YAML or protobuf ([`super::protobuf`]); anything else is
//! `415 Unsupported Media Type` with the types accepted, so a client that tried a newer
//! encoding (CBOR) falls back. Answers are protobuf when the client prefers it and the
//! object has a protobuf form (a `Table` has none), JSON otherwise: clients decode by the
//! answer's `Content-Type`, so JSON is always a valid answer.

use rudder_protocol::resources::Status;
use serde_json::{json, Value};

use super::core::ApiError;
use super::protobuf;

/// Largest request body accepted (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// The media types a body may be in, as the `415` answer lists them.
const ACCEPTED: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

/// One entry of an `Accept` header: the media type, its parameters and its weight.
struct Range<'a> {
    media: String,
    params: Vec<(String, &'a str)>,
    q: f32,
}

fn ranges(accept: &str) -> Vec<Range<'_>> {
    let mut out: Vec<Range<'_>> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let mut q = 1.0;
            let mut params = Vec::new();
            for p in pieces {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().trim_matches('"');
                if k == "q" {
                    q = v.parse().unwrap_or(0.0);
                } else {
                    params.push((k, v));
                }
            }
            Some(Range { media, params, q })
        })
        .collect();
    // Highest weight first; equal weights keep the client's order (a stable sort).
    out.sort_by(|a, b| b.q.total_cmp(&a.q));
    out
}

/// The encoding to answer in: the client's most preferred range Rudder writes. A range
/// asking for a conversion (`as=Table`, `as=PartialObjectMetadata`) is answered by the
/// JSON path that handles it; no `Accept`, or only ranges Rudder does not write, gets
/// JSON.
pub fn response_encoding(accept: Option<&str>) -> Encoding {
    let Some(accept) = accept else {
        return Encoding::Json;
    };
    for range in ranges(accept) {
        if range.q <= 0.0 {
            continue;
        }
        let converts = range.params.iter().any(|(k, _)| k == "as");
        match range.media.as_str() {
            protobuf::MEDIA_TYPE if !converts => return Encoding::Protobuf,
            "application/json" | "application/*" | "*/*" => return Encoding::Json,
            _ => {}
        }
    }
    Encoding::Json
}

/// The media type of a `Content-Type` value, lowercased, without parameters.
fn media_of(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A request body as a JSON value, read per its `Content-Type` (JSON when none is
/// given; an empty body is an empty object). Patch bodies (`*-patch+json`,
/// `apply-patch+yaml`) are JSON or YAML documents.
pub fn decode_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(Box::new(Status::failure(
            413,
            "RequestEntityTooLarge",
            "request entity too large",
        )));
    }
    if body.is_empty() {
        return Ok(json!({}));
    }
    let undecodable = |e: &dyn std::fmt::Display| {
        Box::new(Status::failure(
            400,
            "BadRequest",
            format!("the body of the request could not be decoded: {e}"),
        ))
    };
    let media = media_of(content_type);
    match media.as_str() {
        "" | "application/json" | "*/*" => serde_json::from_slice(body).map_err(|e| undecodable(&e)),
        m if m.ends_with("patch+json") => serde_json::from_slice(body).map_err(|e| undecodable(&e)),
        "application/yaml" | "application/apply-patch+yaml" => {
            // JSON is YAML too; the JSON parser reads it exactly (big integers included).
            serde_json::from_slice(body).or_else(|_| {
                serde_norway::from_slice::<Value>(body).map_err(|e| undecodable(&e))
            })
        }
        protobuf::MEDIA_TYPE => protobuf::decode_object(body).map_err(|e| undecodable(&e)),
        _ => Err(Box::new(Status::failure(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {ACCEPTED}"
            ),
        ))),
    }
}

/// Whether a body of this `Content-Type` is protobuf (which has no unknown fields to
/// validate: Kubernetes does not support strict decoding of protobuf).
pub fn is_protobuf(content_type: &str) -> bool {
    media_of(content_type) == protobuf::MEDIA_TYPE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_of_real_clients() {
        use Encoding::*;
        for (accept, want) in [
            (None, Json),
            (Some("application/json"), Json),
            (Some("*/*"), Json),
            // client-go typed clients (kubectl create, describe, drain).
            (Some("application/vnd.kubernetes.protobuf, */*"), Protobuf),
            (Some("application/vnd.kubernetes.protobuf,application/json"), Protobuf),
            // kubectl get: a Table, in JSON.
            (
                Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
                Json,
            ),
            (
                Some("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"),
                Json,
            ),
            (Some("application/json;q=0.5, application/vnd.kubernetes.protobuf"), Protobuf),
            (Some("application/vnd.kubernetes.protobuf;q=0, application/json"), Json),
            (Some("application/cbor"), Json),
            (Some("application/cbor, application/vnd.kubernetes.protobuf"), Protobuf),
        ] {
            assert_eq!(response_encoding(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn bodies_by_content_type() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
        let json_body = serde_json::to_vec(&ns).expect("json");
        assert_eq!(decode_body(&json_body, "application/json; charset=utf-8").ok(), Some(ns.clone()));
        assert_eq!(decode_body(&json_body, "").ok(), Some(ns.clone()));
        let yaml = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n";
        assert_eq!(decode_body(yaml, "application/yaml").ok(), Some(ns.clone()));
        let pb = protobuf::encode_object(&ns).expect("protobuf");
        assert_eq!(decode_body(&pb, protobuf::MEDIA_TYPE).ok(), Some(ns.clone()));
        assert!(is_protobuf("application/vnd.kubernetes.protobuf; charset=x"));

        let e = decode_body(&json_body, "application/cbor").expect_err("cbor");
        assert_eq!(e.code, 415);
        assert!(e.message.contains("application/vnd.kubernetes.protobuf"), "{}", e.message);
        let e = decode_body(b"{", "application/json").expect_err("truncated");
        assert_eq!(e.code, 400);
        let e = decode_body(b"{}", protobuf::MEDIA_TYPE).expect_err("json as protobuf");
        assert_eq!(e.code, 400);
        let big = vec![b' '; MAX_BODY + 1];
        assert_eq!(decode_body(&big, "application/json").map_err(|e| e.code), Err(413));
        assert_eq!(decode_body(b"", protobuf::MEDIA_TYPE).ok(), Some(json!({})));
    }
}
