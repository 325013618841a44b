//! [`ByteString`]: Go's `[]byte` in the API, base64 in JSON.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Bytes, written in JSON as standard base64 with padding (Go's `[]byte`), as in a
/// Secret's `data` or a ConfigMap's `binaryData`. Reading refuses anything that is not
/// valid base64, as Kubernetes does.
#[derive(
    Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, bincode::Encode, bincode::Decode,
)]
pub struct ByteString(pub Vec<u8>);

impl ByteString {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for ByteString {
    fn from(s: &str) -> Self {
        ByteString(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for ByteString {
    fn from(v: Vec<u8>) -> Self {
        ByteString(v)
    }
}

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) => write!(f, "{s:?}"),
            Err(_) => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Base64Visitor;
        impl Visitor<'_> for Base64Visitor {
            type Value = ByteString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64-encoded string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteString, E> {
                STANDARD
                    .decode(v)
                    .map(ByteString)
                    .map_err(|e| E::custom(format!("illegal base64 data: {e}")))
            }
        }
        d.deserialize_str(Base64Visitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base64_in_json_and_refused_when_invalid() {
        let b = ByteString::from("hello\n");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"aGVsbG8K\"");
        let back: ByteString = serde_json::from_str("\"aGVsbG8K\"").unwrap();
        assert_eq!(back, b);
        assert!(serde_json::from_str::<ByteString>("\"not base64!\"").is_err());
        assert!(serde_json::from_str::<ByteString>("\"aGVsbG8K=\"").is_err());
        let empty: ByteString = serde_json::from_str("\"\"").unwrap();
        assert!(empty.is_empty());
    }
}
