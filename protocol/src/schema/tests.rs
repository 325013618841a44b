//! The schema and the structs agree, checked for every top-level kind from one list
//! ([`protocol_kinds`]):
//!
//! - a value built by serde's own view of a struct (every field its `Deserialize` asks
//!   for) with values drawn from the schema ([`Filler`]) exists only if every struct
//!   field is in the schema and every schema field is in the struct; serialized, it has
//!   no field the schema calls unknown;
//! - such values, from many seeds (enums from their values, strings with escapes, absent
//!   options, empty and longer lists), survive JSON and the bus codec unchanged, also
//!   inside a `List` and a `WatchEvent`;
//! - a JSON sample with every schema field set survives a trip through the struct.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::fmt::{self, Debug, Display};

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess};
use serde::Serialize;
use serde_json::{json, Value};

use super::*;
use crate::codec;
use crate::resources::{List, Resource, WatchEvent};

// ---------------------------------------------------------------------------------------
// Values drawn from the schema, through serde's view of the struct.
// ---------------------------------------------------------------------------------------

/// Why a value could not be built: the path and what disagrees.
#[derive(Debug)]
struct FillError(String);

impl Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FillError {}

impl de::Error for FillError {
    fn custom<T: Display>(msg: T) -> Self {
        FillError(msg.to_string())
    }
}

/// A xorshift generator: seed 0 means "every field set, canonical values".
struct Rng {
    seed: u64,
    state: Cell<u64>,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng {
            seed,
            state: Cell::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        }
    }

    fn full(&self) -> bool {
        self.seed == 0
    }

    fn below(&self, n: u64) -> u64 {
        let mut x = self.state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.set(x);
        x % n
    }

    fn string(&self) -> String {
        const PIECES: &[&str] = &["x", "web", "a.b/c", "é", "\"q\"", "\\", "\n", "💡", "0", ""];
        if self.full() {
            return "x".to_owned();
        }
        (0..self.below(3))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn int(&self, wide: bool) -> i64 {
        if self.full() {
            return 3;
        }
        match self.below(4) {
            0 => 0,
            1 => -7,
            2 if wide => i64::MAX,
            2 => i64::from(i32::MAX),
            _ => self.below(100_000) as i64,
        }
    }
}

/// A serde `Deserializer` that builds a value of the type at `ty`, asking the struct's
/// `Deserialize` which fields it has (serde's field list) and the schema what each holds.
struct Filler<'a> {
    ty: &'static Ty,
    path: String,
    rng: &'a Rng,
}

impl<'a> Filler<'a> {
    fn at(&self, ty: &'static Ty, path: String) -> Filler<'a> {
        Filler {
            ty,
            path,
            rng: self.rng,
        }
    }

    fn fail<T>(&self, what: impl Display) -> Result<T, FillError> {
        Err(FillError(format!("{}: {what}", self.path)))
    }

    /// The struct definition at this point, if the schema has one.
    fn struct_def(&self) -> Option<&'static TypeDef> {
        match self.ty {
            Ty::Object(r) if matches!(r.get().shape, Shape::Struct(_)) => Some(r.get()),
            _ => None,
        }
    }

    fn scalar<'de, V: de::Visitor<'de>>(self, def: &TypeDef, v: V) -> Result<V::Value, FillError> {
        let rng = self.rng;
        match def.shape {
            Shape::FormattedString(_) => {
                let micro = def.name.ends_with("MicroTime");
                let s = match (rng.full(), micro) {
                    (true, true) => "2024-05-01T12:00:00.123456Z".to_owned(),
                    (true, false) => "2024-05-01T12:00:00Z".to_owned(),
                    (false, true) => {
                        crate::resources::MicroTime(rng.int(false) * 1_000_003).to_string()
                    }
                    (false, false) => crate::resources::Time(rng.int(false).abs()).to_string(),
                };
                v.visit_string(s)
            }
            Shape::Quantity => {
                const SAMPLES: &[&str] = &["250m", "1Gi", "0", "1.5", "3e3", "-2k"];
                let s = if rng.full() {
                    "250m"
                } else {
                    SAMPLES[rng.below(SAMPLES.len() as u64) as usize]
                };
                v.visit_str(s)
            }
            Shape::IntOrString => {
                if rng.full() || rng.below(2) == 0 {
                    v.visit_i64(if rng.full() { 8080 } else { rng.int(false) })
                } else {
                    v.visit_string(rng.string())
                }
            }
            Shape::AnyObject => v.visit_map(FieldsAccess::empty()),
            Shape::Struct(_) => self.fail("a struct where a scalar was asked for"),
        }
    }
}

impl<'de> de::Deserializer<'de> for Filler<'_> {
    type Error = FillError;

    fn deserialize_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        let rng = self.rng;
        match self.ty {
            Ty::String => v.visit_string(rng.string()),
            Ty::Int32 => v.visit_i32(i32::try_from(rng.int(false)).unwrap_or(i32::MAX)),
            Ty::Int64 => v.visit_i64(rng.int(true)),
            Ty::Bool => v.visit_bool(rng.full() || rng.below(2) == 0),
            Ty::Bytes => {
                use base64::Engine as _;
                v.visit_string(base64::engine::general_purpose::STANDARD.encode(rng.string()))
            }
            Ty::Enum(values) => {
                // The last value: the first is often the default, which is not written.
                let i = if rng.full() {
                    values.len() - 1
                } else {
                    rng.below(values.len() as u64) as usize
                };
                v.visit_str(values[i])
            }
            Ty::Array(inner) => {
                let len = if rng.full() { 1 } else { rng.below(3) as usize };
                v.visit_seq(Items {
                    filler: self.at(inner, String::new()),
                    path: self.path.clone(),
                    left: len,
                    index: 0,
                })
            }
            Ty::Map(inner) => {
                let len = if rng.full() { 1 } else { rng.below(3) as usize };
                let entries = (0..len)
                    .map(|i| (format!("k{i}"), Some(*inner)))
                    .collect::<Vec<_>>();
                v.visit_map(FieldsAccess::new(self.rng, self.path.clone(), entries))
            }
            Ty::Object(r) => match r.get().shape {
                Shape::Struct(_) => self.fail(format!(
                    "{} is a struct in the schema but not in Rust",
                    r.name()
                )),
                _ => self.scalar(r.get(), v),
            },
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        if !self.rng.full() && self.rng.below(4) == 0 {
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, FillError> {
        let Some(def) = self.struct_def() else {
            return self.fail(format!(
                "the struct {name} where the schema has {:?}",
                self.ty
            ));
        };
        for f in def.fields() {
            if !fields.contains(&f.name) {
                return self.fail(format!(
                    "the schema of {} has `{}`, the struct {name} does not",
                    def.name, f.name
                ));
            }
        }
        // A struct field the schema does not have gets no schema type (`None`): filling it
        // fails below, and were it filled, strict validation would call it unknown.
        let entries = fields
            .iter()
            .map(|f| ((*f).to_owned(), def.field(f).map(|f| &f.ty)))
            .collect();
        v.visit_map(FieldsAccess::new(self.rng, self.path.clone(), entries))
    }

    fn deserialize_ignored_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, FillError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
    }
}

/// The entries of a struct or map: names and the schema type of each (`None`: a struct
/// field the schema does not have).
struct FieldsAccess<'a> {
    rng: Option<&'a Rng>,
    path: String,
    entries: std::vec::IntoIter<(String, Option<&'static Ty>)>,
    current: Option<(String, Option<&'static Ty>)>,
}

impl<'a> FieldsAccess<'a> {
    fn new(rng: &'a Rng, path: String, entries: Vec<(String, Option<&'static Ty>)>) -> Self {
        FieldsAccess {
            rng: Some(rng),
            path,
            entries: entries.into_iter(),
            current: None,
        }
    }

    fn empty() -> Self {
        FieldsAccess {
            rng: None,
            path: String::new(),
            entries: Vec::new().into_iter(),
            current: None,
        }
    }
}

impl<'de> MapAccess<'de> for FieldsAccess<'_> {
    type Error = FillError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FillError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let key = seed.deserialize(entry.0.clone().into_deserializer())?;
        self.current = Some(entry);
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, FillError> {
        let (Some((name, ty)), Some(rng)) = (self.current.take(), self.rng) else {
            return Err(FillError("value without key".into()));
        };
        let path = if self.path.is_empty() {
            name
        } else {
            format!("{}.{name}", self.path)
        };
        let Some(ty) = ty else {
            return Err(FillError(format!(
                "{path}: a struct field the schema does not have"
            )));
        };
        seed.deserialize(Filler { ty, path, rng })
    }
}

/// The elements of a list.
struct Items<'a> {
    filler: Filler<'a>,
    path: String,
    left: usize,
    index: usize,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = FillError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FillError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(self.filler.at(self.filler.ty, path))
            .map(Some)
    }
}

/// A type's schema type as a `'static` reference, which [`Filler`] walks.
trait StaticTy: FieldType {
    const STATIC: &'static Ty = &Self::TY;
}

impl<T: FieldType> StaticTy for T {}

/// A value of `T` with values drawn from its schema (seed 0: every field set).
fn fill<T: FieldType + DeserializeOwned>(seed: u64) -> Result<T, String> {
    let rng = Rng::new(seed);
    T::deserialize(Filler {
        ty: T::STATIC,
        path: String::new(),
        rng: &rng,
    })
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// JSON samples straight from the schema.
// ---------------------------------------------------------------------------------------

/// A JSON value with every field the schema describes set, each to a non-default value.
fn sample(ty: &Ty) -> Value {
    match ty {
        Ty::String => json!("x"),
        Ty::Int32 | Ty::Int64 => json!(3),
        Ty::Bool => json!(true),
        // "x", base64.
        Ty::Bytes => json!("eA=="),
        Ty::Enum(values) => json!(values[values.len() - 1]),
        Ty::Array(inner) => json!([sample(inner)]),
        Ty::Map(inner) => json!({ "k": sample(inner) }),
        Ty::Object(r) => {
            let def = r.get();
            match def.shape {
                Shape::Struct(fields) => Value::Object(
                    fields
                        .iter()
                        .map(|f| (f.name.to_owned(), sample(&f.ty)))
                        .collect(),
                ),
                Shape::FormattedString(_) if def.name.ends_with("MicroTime") => {
                    json!("2024-05-01T12:00:00.123456Z")
                }
                Shape::FormattedString(_) => json!("2024-05-01T12:00:00Z"),
                Shape::Quantity => json!("250m"),
                Shape::IntOrString => json!(8080),
                Shape::AnyObject => json!({}),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------

/// Seeds per kind: seed 0 sets every field; the others vary values and presence.
const SEEDS: u64 = 48;

fn round_trip<T>(value: &T) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + bincode::Encode + bincode::Decode<()> + PartialEq + Debug,
{
    let text = serde_json::to_string(value).map_err(|e| format!("to JSON: {e}"))?;
    let back: T = serde_json::from_str(&text).map_err(|e| format!("from JSON: {e}\n{text}"))?;
    if &back != value {
        return Err(format!("JSON round trip changed the value:\n{text}"));
    }
    let bytes = codec::encode(value).map_err(|e| e.to_string())?;
    let back: T = codec::decode(&bytes).map_err(|e| e.to_string())?;
    if &back != value {
        return Err("bincode round trip changed the value".into());
    }
    Ok(())
}

fn no_null(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Null => Err(format!("null at {path}")),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| no_null(x, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, x)| no_null(x, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

/// Everything this module checks, for one kind.
fn check_kind<K: Resource + FieldType>() -> Result<(), String> {
    for seed in 0..SEEDS {
        let at = |e: String| format!("{} (seed {seed}): {e}", K::KIND);
        let value: K = fill(seed).map_err(at)?;
        let written = serde_json::to_value(&value).unwrap();
        no_null(&written, "$").map_err(at)?;
        let Ty::Object(def) = K::TY else {
            return Err(format!("{}: not an object type", K::KIND));
        };
        let unknown = unknown_fields_of(def.get(), &written);
        if !unknown.is_empty() {
            return Err(at(format!(
                "written fields the schema does not have: {unknown:?}"
            )));
        }
        round_trip(&value).map_err(at)?;
        // Keys in another (sorted) order read the same.
        let sorted: K = serde_json::from_value(written).map_err(|e| at(e.to_string()))?;
        if sorted != value {
            return Err(at("sorted JSON changed the value".into()));
        }
        round_trip(&List::new(vec![value.clone(), K::default()])).map_err(at)?;
        round_trip(&WatchEvent::Modified(value)).map_err(at)?;
    }
    let Ty::Object(def) = K::TY else {
        return Err(format!("{}: not an object type", K::KIND));
    };
    let mut want = sample(&K::TY);
    want["apiVersion"] = json!(K::API_VERSION);
    want["kind"] = json!(K::KIND);
    let object: K = serde_json::from_value(want.clone()).map_err(|e| e.to_string())?;
    let got = serde_json::to_value(&object).unwrap();
    if got != want {
        return Err(format!(
            "{}: a sample with every field of {} set came back different:\n{got:#}\nwant:\n{want:#}",
            K::KIND,
            def.name()
        ));
    }
    Ok(())
}

#[test]
fn every_kind_agrees_with_its_schema() {
    macro_rules! check_all {
        ($($kind:ty),* $(,)?) => {
            [$(check_kind::<$kind>()),*]
        };
    }
    let failures: Vec<String> = protocol_kinds!(check_all)
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn status_agrees_with_its_schema() {
    for seed in 0..SEEDS {
        let status: Status = fill(seed).unwrap();
        round_trip(&status).unwrap();
        round_trip(&WatchEvent::<crate::resources::Pod>::Error(Box::new(
            status,
        )))
        .unwrap();
    }
}

/// What the filler reports when a struct and its schema disagree: a struct field the
/// schema lacks (here an `Option`, which a sample from the schema alone would never set)
/// and a schema field the struct lacks.
#[test]
fn disagreements_are_reported() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Extra {
        known: String,
        extra: Option<i32>,
    }
    named_type!(
        Extra,
        TypeDef {
            name: "test.Extra",
            description: "",
            shape: Shape::Struct(&[Field::new("known", Ty::String, "")]),
            gvk: None,
        }
    );
    let err = fill::<Extra>(0).unwrap_err();
    assert!(
        err.contains("extra") && err.contains("schema does not have"),
        "{err}"
    );

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Missing {
        known: String,
    }
    named_type!(
        Missing,
        TypeDef {
            name: "test.Missing",
            description: "",
            shape: Shape::Struct(&[
                Field::new("known", Ty::String, ""),
                Field::new("gone", Ty::Bool, ""),
            ]),
            gvk: None,
        }
    );
    let err = fill::<Missing>(0).unwrap_err();
    assert!(err.contains("`gone`"), "{err}");
}

/// The model the derive builds: names, GVKs, descriptions from doc comments, and the
/// serde names of fields.
#[test]
fn derived_definitions() {
    let pod = type_for_kind("Pod").unwrap();
    assert_eq!(pod.name, "io.k8s.api.core.v1.Pod");
    assert_eq!(
        pod.gvk,
        Some(Gvk {
            group: "",
            version: "v1",
            kind: "Pod"
        })
    );
    let deploy = type_for_kind("Deployment").unwrap().gvk.unwrap();
    assert_eq!((deploy.group, deploy.version), ("apps", "v1"));
    let names: Vec<&str> = pod.fields().iter().map(|f| f.name).collect();
    assert_eq!(names, ["kind", "apiVersion", "metadata", "spec", "status"]);
    let spec = type_def("io.k8s.api.core.v1.PodSpec").unwrap();
    let containers = spec.field("containers").unwrap();
    assert!(containers.required);
    assert_eq!(
        (
            containers.merge_key,
            containers.list_type,
            containers.list_map_keys
        ),
        ("name", "map", &["name"][..])
    );
    assert!(!containers.description.is_empty());
    let status = type_def("io.k8s.api.core.v1.PodStatus").unwrap();
    assert!(status.field("hostIPs").is_some() && status.field("podIP").is_some());
    assert_eq!(
        type_def("io.k8s.api.core.v1.ReplicationController")
            .unwrap()
            .field("status")
            .map(|f| match f.ty {
                Ty::Object(r) => r.name(),
                _ => "",
            }),
        Some("io.k8s.api.core.v1.ReplicationControllerStatus")
    );
    assert!(type_def("io.k8s.api.core.v1.ReplicationControllerCondition").is_some());
    // Doc comments lose rustdoc's link brackets.
    assert!(!type_def(STATUS)
        .unwrap()
        .fields()
        .iter()
        .any(|f| f.description.contains("[`")));
}

/// What the derive reads from serde and from `#[schema]`, on a made-up type that uses
/// every attribute, and refers to itself.
#[test]
fn derive_reads_serde_and_schema_attributes() {
    /// A tree: [`Tree`] nodes
    /// over two lines.
    ///
    /// Second paragraph.
    #[derive(serde::Deserialize, Schema)]
    #[serde(rename_all = "camelCase")]
    #[schema(name = "test.Tree", api_version = "example.com/v2", kind = "Tree")]
    #[allow(dead_code)]
    struct Tree {
        /// Needed by serde: not an `Option`, no default.
        node_name: String,
        /// Optional for serde.
        maybe: Option<i64>,
        /// Has a serde default.
        #[serde(default)]
        count: i32,
        #[serde(rename = "IPs")]
        #[schema(set)]
        ips: Vec<String>,
        /// Children, merged by name and port.
        #[serde(default)]
        #[schema(merge_key = "nodeName", map_keys("nodeName", "port"), retain_keys)]
        children: Vec<Tree>,
        #[serde(skip)]
        cache: bool,
        #[serde(default)]
        #[schema(skip)]
        internal: bool,
        #[serde(flatten)]
        extra: Inlined,
    }

    #[derive(serde::Deserialize, Schema)]
    #[serde(default)]
    #[schema(name = "test.Inlined")]
    #[allow(dead_code)]
    #[derive(Default)]
    struct Inlined {
        #[schema(required, atomic, description = "Set here.")]
        labels: Vec<String>,
    }

    let def = Tree::type_def();
    assert_eq!(def.name, "test.Tree");
    assert_eq!(
        def.description,
        "A tree: `Tree` nodes over two lines.\n\nSecond paragraph."
    );
    assert_eq!(
        def.gvk,
        Some(Gvk {
            group: "example.com",
            version: "v2",
            kind: "Tree"
        })
    );
    /// Name, required, patch strategy, merge key, list type, list-map keys.
    type Summary = (
        &'static str,
        bool,
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    );
    let summary: Vec<Summary> = def
        .fields()
        .iter()
        .map(|f| {
            (
                f.name,
                f.required,
                f.patch_strategy,
                f.merge_key,
                f.list_type,
                f.list_map_keys,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("nodeName", true, "", "", "", &[][..]),
            ("maybe", false, "", "", "", &[]),
            ("count", false, "", "", "", &[]),
            ("IPs", true, "merge", "", "set", &[]),
            (
                "children",
                false,
                "merge,retainKeys",
                "nodeName",
                "map",
                &["nodeName", "port"]
            ),
            ("labels", true, "", "", "atomic", &[]),
        ]
    );
    assert_eq!(def.field("labels").unwrap().description, "Set here.");
    assert_eq!(def.field("IPs").unwrap().ty, Ty::Array(&Ty::String));
    // The recursive reference resolves to the same definition.
    match def.field("children").unwrap().ty {
        Ty::Array(Ty::Object(r)) => assert!(std::ptr::eq(r.get(), def)),
        other => panic!("{other:?}"),
    }
}
