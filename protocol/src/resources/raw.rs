//! [`RawJson`]: an embedded JSON document of any shape (Go's `runtime.RawExtension`), as
//! a ControllerRevision's `data` holds it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::schema::{FieldType, RawExtension, Ty};

/// Any JSON object, kept as it was written. In JSON it is the document itself; on the
/// bus (bincode) it travels as its compact JSON text. Maps are ordered by key, so equal
/// documents always give the same text. A JSON `null` reads as the empty object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(pub Value);

impl Default for RawJson {
    fn default() -> Self {
        RawJson(Value::Object(Map::new()))
    }
}

impl RawJson {
    /// The document.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// Whether it is the empty object (or not an object at all).
    pub fn is_empty(&self) -> bool {
        self.0.as_object().is_none_or(Map::is_empty)
    }

    /// Its compact JSON text (keys sorted).
    pub fn to_text(&self) -> String {
        self.0.to_string()
    }
}

impl From<Value> for RawJson {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => RawJson::default(),
            v => RawJson(v),
        }
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `Value` needs a self-describing format: only JSON reads this impl; the bus goes
        // through the bincode impls below.
        Ok(RawJson::from(Value::deserialize(d)?))
    }
}

impl FieldType for RawJson {
    const TY: Ty = <RawExtension as FieldType>::TY;
}

impl bincode::Encode for RawJson {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.to_text().encode(encoder)
    }
}

impl<Context> bincode::Decode<Context> for RawJson {
    fn decode<D: bincode::de::Decoder<Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let text = String::decode(decoder)?;
        serde_json::from_str::<Value>(&text)
            .map(RawJson::from)
            .map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))
    }
}

bincode::impl_borrow_decode!(RawJson);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_bincode_keep_the_document() {
        let table = [
            ("empty", json!({})),
            (
                "a revision patch",
                json!({"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"a": "b"}}}}}),
            ),
            (
                "nested lists",
                json!({"a": [1, "x", {"b": null}], "c": true}),
            ),
        ];
        for (name, doc) in table {
            let raw = RawJson::from(doc.clone());
            let text = serde_json::to_string(&raw).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), doc, "{name}");
            let back: RawJson = serde_json::from_str(&text).unwrap();
            assert_eq!(back, raw, "{name}: JSON");
            let bytes = crate::codec::encode(&raw).unwrap();
            let back: RawJson = crate::codec::decode(&bytes).unwrap();
            assert_eq!(back, raw, "{name}: bincode");
        }
        let null: RawJson = serde_json::from_str("null").unwrap();
        assert!(null.is_empty());
        assert_eq!(
            RawJson::from(json!({"b": 1, "a": 2})).to_text(),
            r#"{"a":2,"b":1}"#
        );
    }
}
