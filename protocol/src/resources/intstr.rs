//! `IntOrString` (`intstr.IntOrString`): a field that holds either a number or a string,
//! such as a port (`8080` or `"http"`) or a rollout budget (`1` or `"25%"`).
//!
//! JSON carries it bare (`8080`, `"http"`), as Kubernetes does; the bus carries a tagged
//! bincode enum.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::schema::{Shape, TypeDef};

/// Why an [`IntOrString`] could not be turned into a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrStringError {
    /// A string value is not of the form `<integer>%`.
    #[error("invalid value for IntOrString: {0:?} is not a percentage")]
    NotPercent(String),
    /// The computed value does not fit an `i32`.
    #[error("IntOrString value out of range")]
    OutOfRange,
}

/// Either an `i32` or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, bincode::Encode, bincode::Decode)]
pub enum IntOrString {
    /// A number, written bare in JSON.
    Int(i32),
    /// A string, e.g. a named port or a percentage.
    String(String),
}

crate::schema::named_type!(
    IntOrString,
    TypeDef::scalar(
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        "A value that is either an integer or a string, e.g. a port number or name, or a percentage.",
        Shape::IntOrString,
    )
);

impl Default for IntOrString {
    /// `Int(0)`, Go's zero value.
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl From<i32> for IntOrString {
    fn from(v: i32) -> Self {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        IntOrString::String(v.to_owned())
    }
}

impl From<String> for IntOrString {
    fn from(v: String) -> Self {
        IntOrString::String(v)
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrString::Int(i) => write!(f, "{i}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

impl IntOrString {
    /// Resolves an absolute number or a percentage of `total` (Kubernetes'
    /// `GetScaledValueFromIntOrPercent`): `Int(n)` is `n`; `"25%"` of 10 is 3 when rounding
    /// up and 2 when rounding down. Any other string is an error.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32, IntOrStringError> {
        match self {
            IntOrString::Int(v) => Ok(*v),
            IntOrString::String(s) => {
                let percent: i64 = s
                    .strip_suffix('%')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| IntOrStringError::NotPercent(s.clone()))?;
                let product = percent * i64::from(total);
                let value = if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                };
                i32::try_from(value).map_err(|_| IntOrStringError::OutOfRange)
            }
        }
    }
}

impl Serialize for IntOrString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrString::Int(i) => serializer.serialize_i32(*i),
            IntOrString::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntOrStringVisitor;
        impl Visitor<'_> for IntOrStringVisitor {
            type Value = IntOrString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrString, E> {
                i32::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<IntOrString, E> {
                Ok(IntOrString::String(v))
            }
        }
        // Number or string can only be told apart by a self-describing format; this impl
        // serves JSON alone (the bus uses the bincode derive above).
        deserializer.deserialize_any(IntOrStringVisitor)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_table() {
        let table: &[(&str, &str, IntOrString)] = &[
            ("int", "8080", IntOrString::Int(8080)),
            ("zero", "0", IntOrString::Int(0)),
            ("negative", "-1", IntOrString::Int(-1)),
            ("max", "2147483647", IntOrString::Int(i32::MAX)),
            ("name", "\"http\"", IntOrString::String("http".into())),
            ("percent", "\"25%\"", IntOrString::String("25%".into())),
            (
                "numeric string stays a string",
                "\"80\"",
                IntOrString::String("80".into()),
            ),
            ("empty string", "\"\"", IntOrString::String(String::new())),
        ];
        for (name, json, value) in table {
            let parsed: IntOrString = serde_json::from_str(json).unwrap();
            assert_eq!(&parsed, value, "{name}: parse");
            assert_eq!(
                serde_json::to_string(value).unwrap(),
                *json,
                "{name}: write"
            );
        }
        for bad in ["2147483648", "-2147483649", "1.5", "true", "[1]", "{}"] {
            assert!(serde_json::from_str::<IntOrString>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scaled_values() {
        let table: &[(&str, IntOrString, i32, bool, Option<i32>)] = &[
            ("int", 3.into(), 10, true, Some(3)),
            ("25% of 10 up", "25%".into(), 10, true, Some(3)),
            ("25% of 10 down", "25%".into(), 10, false, Some(2)),
            ("100%", "100%".into(), 7, true, Some(7)),
            ("0%", "0%".into(), 7, true, Some(0)),
            ("exact", "50%".into(), 4, true, Some(2)),
            ("not a percent", "25".into(), 10, true, None),
            ("garbage", "x%".into(), 10, true, None),
        ];
        for (name, v, total, up, want) in table {
            assert_eq!(v.scaled_value(*total, *up).ok(), *want, "{name}");
        }
    }

    #[test]
    fn bincode_round_trip() {
        for v in [IntOrString::Int(-7), IntOrString::String("http".into())] {
            let bytes = crate::codec::encode(&v).unwrap();
            assert_eq!(crate::codec::decode::<IntOrString>(&bytes).unwrap(), v);
        }
    }
}
