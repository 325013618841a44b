//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), translated to
//! and from the JSON objects the API works with.
//!
//! An object on the wire is the four bytes `k8s\0`, then a `runtime.Unknown` message:
//! `typeMeta {apiVersion, kind}`, `raw` (the object's own message) and two encoding
//! fields Rudder leaves empty. The messages themselves carry no `apiVersion` or `kind`.
//! A watch over protobuf (`;stream=watch`) is a sequence of frames, each a four-byte
//! big-endian length and a bare `WatchEvent {type, object: RawExtension}` message whose
//! `object.raw` is the object in the envelope above.
//!
//! The codec is driven by the schema table in [`messages`] (generated from the Kubernetes
//! definitions, see [`schema`]): the same code serves every kind, so a kind added to the
//! registry speaks protobuf without code of its own. JSON names that protobuf does not
//! know are not written; unknown field numbers are skipped when reading (protobuf's own
//! rule), so a newer client's fields are dropped as an older kube-apiserver would.
//!
//! Go writes every non-pointer field, so a decoded message has empty strings, zeros and
//! zero times for what the client left unset. Empty strings and zero times decode as
//! absent (what Go's `omitempty` JSON gives); numbers and booleans are kept, since a
//! pointer's zero (`replicas: 0`) is a choice and a non-pointer zero means the same as
//! absent to the API.

mod messages;
pub mod schema;
mod wire;

use std::fmt;

use base64::Engine as _;
use rudder_protocol::resources::{MicroTime, Time};
use serde_json::{Map, Number, Value};

use schema::{message, message_for, Field, Kind, Message, Special};
use wire::{Reader, WireValue, Writer};

/// The media type of a protobuf body.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";
/// The prefix of every enveloped object.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Nesting deeper than this is refused (a hostile body must not exhaust the stack).
const MAX_DEPTH: usize = 64;

/// Why a body could not be decoded, or an object encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<wire::WireError> for CodecError {
    fn from(e: wire::WireError) -> Self {
        CodecError(e.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

/// Whether an object of this `apiVersion` and `kind` has a protobuf form (a `Table` has
/// none: it is answered in JSON).
pub fn encodable(api_version: &str, kind: &str) -> bool {
    message_for(api_version, kind).is_some()
}

/// An object (with its `apiVersion` and `kind`) in the protobuf envelope.
pub fn encode_object(obj: &Value) -> Result<Vec<u8>, CodecError> {
    let text = |key: &str| obj.get(key).and_then(Value::as_str).unwrap_or_default();
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    let Some(msg) = message_for(api_version, kind) else {
        return fail(format!("{api_version} {kind} has no protobuf encoding"));
    };
    let Some(fields) = obj.as_object() else {
        return fail("not an object");
    };
    let raw = encode_message(msg, fields, 0)?;
    let mut type_meta = Writer::new();
    type_meta.bytes(1, api_version.as_bytes());
    type_meta.bytes(2, kind.as_bytes());
    let mut unknown = Writer::new();
    unknown.bytes(1, &type_meta.finish());
    unknown.bytes(2, &raw);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&unknown.finish());
    Ok(out)
}

/// One watch event as a frame of a protobuf watch stream.
pub fn watch_frame(event_type: &str, object: &Value) -> Result<Vec<u8>, CodecError> {
    let embedded = encode_object(object)?;
    let mut raw_extension = Writer::new();
    raw_extension.bytes(1, &embedded);
    let mut event = Writer::new();
    event.bytes(1, event_type.as_bytes());
    event.bytes(2, &raw_extension.finish());
    let event = event.finish();
    let len = u32::try_from(event.len()).map_err(|_| CodecError("event too large".into()))?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&event);
    Ok(frame)
}

/// An enveloped object as JSON, with the `apiVersion` and `kind` of its envelope.
pub fn decode_object(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_enveloped(bytes, 0)
}

fn decode_enveloped(bytes: &[u8], depth: usize) -> Result<Value, CodecError> {
    let Some(unknown) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return fail("the body does not start with the protobuf envelope's prefix \"k8s\\x00\"");
    };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    let mut r = Reader::new(unknown);
    while let Some((tag, value)) = r.field()? {
        match (tag, value) {
            (1, WireValue::Bytes(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while let Some((tag, value)) = t.field()? {
                    match (tag, value) {
                        (1, WireValue::Bytes(b)) => api_version = utf8(b)?.to_owned(),
                        (2, WireValue::Bytes(b)) => kind = utf8(b)?.to_owned(),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(b)) => raw = Some(b),
            (3, WireValue::Bytes(b)) if !b.is_empty() => {
                return fail(format!(
                    "content encoding {:?} is not supported",
                    String::from_utf8_lossy(b)
                ))
            }
            _ => {}
        }
    }
    let Some(msg) = message_for(&api_version, &kind) else {
        return fail(format!(
            "no protobuf message is known for apiVersion {api_version:?}, kind {kind:?}"
        ));
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    decode_message(msg, raw.unwrap_or_default(), depth + 1, &mut out)?;
    Ok(Value::Object(out))
}

fn utf8(b: &[u8]) -> Result<&str, CodecError> {
    std::str::from_utf8(b).map_err(|_| CodecError("a string is not valid UTF-8".into()))
}

// ---------------------------------------------------------------------------------------
// Encoding.
// ---------------------------------------------------------------------------------------

fn encode_message(
    msg: &Message,
    obj: &Map<String, Value>,
    depth: usize,
) -> Result<Vec<u8>, CodecError> {
    if depth > MAX_DEPTH {
        return fail("the object nests too deeply");
    }
    let mut w = Writer::new();
    for field in msg.fields {
        if field.inline {
            if let Kind::Msg(name) = field.kind {
                let child = lookup(name)?;
                w.bytes(field.tag, &encode_message(child, obj, depth + 1)?);
            }
            continue;
        }
        match obj.get(field.json) {
            None | Some(Value::Null) => {}
            Some(v) => encode_field(&mut w, msg, field, v, depth)
                .map_err(|e| CodecError(format!("{}: {e}", field.json)))?,
        }
    }
    Ok(w.finish())
}

fn lookup(name: &str) -> Result<&'static Message, CodecError> {
    message(name).ok_or_else(|| CodecError(format!("unknown message {name}")))
}

fn encode_field(
    w: &mut Writer,
    msg: &Message,
    field: &Field,
    v: &Value,
    depth: usize,
) -> Result<(), CodecError> {
    if field.repeated {
        let Some(items) = v.as_array() else {
            return fail(format!("expected a list in {}", msg.name));
        };
        for item in items {
            encode_value(w, field.tag, field.kind, item, depth)?;
        }
        return Ok(());
    }
    if let Kind::Map(value_kind) = field.kind {
        let Some(entries) = v.as_object() else {
            return fail(format!("expected a map in {}", msg.name));
        };
        // Go writes map entries in key order.
        let mut keys: Vec<&String> = entries.keys().collect();
        keys.sort();
        for key in keys {
            let mut entry = Writer::new();
            entry.bytes(1, key.as_bytes());
            match &entries[key] {
                Value::Null => {}
                value => encode_value(&mut entry, 2, *value_kind, value, depth)?,
            }
            w.bytes(field.tag, &entry.finish());
        }
        return Ok(());
    }
    encode_value(w, field.tag, field.kind, v, depth)
}

fn encode_value(
    w: &mut Writer,
    tag: u32,
    kind: Kind,
    v: &Value,
    depth: usize,
) -> Result<(), CodecError> {
    match kind {
        Kind::Str => match v {
            Value::String(s) => w.bytes(tag, s.as_bytes()),
            other => return fail(format!("expected a string, found {other}")),
        },
        Kind::Bytes => {
            let Some(s) = v.as_str() else {
                return fail("expected base64 bytes");
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| CodecError(format!("invalid base64: {e}")))?;
            w.bytes(tag, &bytes);
        }
        Kind::I32 | Kind::I64 => {
            let Some(n) = integer(v) else {
                return fail(format!("expected an integer, found {v}"));
            };
            if kind == Kind::I32 && i32::try_from(n).is_err() {
                return fail(format!("{n} does not fit in 32 bits"));
            }
            w.varint(tag, n as u64);
        }
        Kind::Bool => match v {
            Value::Bool(b) => w.varint(tag, u64::from(*b)),
            other => return fail(format!("expected a boolean, found {other}")),
        },
        Kind::F64 => match v.as_f64() {
            Some(x) => w.fixed64(tag, x.to_bits()),
            None => return fail(format!("expected a number, found {v}")),
        },
        Kind::Msg(name) => {
            let msg = lookup(name)?;
            let body = match msg.special {
                Some(special) => encode_special(special, v)?,
                None => match v.as_object() {
                    Some(obj) => encode_message(msg, obj, depth + 1)?,
                    None => return fail(format!("expected an object, found {v}")),
                },
            };
            w.bytes(tag, &body);
        }
        Kind::Map(_) => return fail("a map inside a list"),
    }
    Ok(())
}

fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    })
}

fn encode_special(special: Special, v: &Value) -> Result<Vec<u8>, CodecError> {
    let mut w = Writer::new();
    let text = || {
        v.as_str()
            .ok_or_else(|| CodecError(format!("expected a string, found {v}")))
    };
    match special {
        Special::Time => {
            let t = Time::parse(text()?).map_err(|e| CodecError(e.to_string()))?;
            w.varint(1, t.unix() as u64);
            w.varint(2, 0);
        }
        Special::MicroTime => {
            let t = MicroTime::parse(text()?).map_err(|e| CodecError(e.to_string()))?;
            let micros = t.unix_micros();
            w.varint(1, micros.div_euclid(1_000_000) as u64);
            w.varint(2, (micros.rem_euclid(1_000_000) * 1000) as u64);
        }
        Special::Duration => w.varint(1, parse_duration(text()?)? as u64),
        Special::Quantity => match v {
            Value::String(s) => w.bytes(1, s.as_bytes()),
            Value::Number(n) => w.bytes(1, n.to_string().as_bytes()),
            other => return fail(format!("expected a quantity, found {other}")),
        },
        Special::IntOrString => match v {
            Value::String(s) => {
                w.varint(1, 1);
                w.varint(2, 0);
                w.bytes(3, s.as_bytes());
            }
            other => {
                let n = integer(other)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| {
                        CodecError(format!("expected an int or string, found {other}"))
                    })?;
                w.varint(1, 0);
                w.varint(2, i64::from(n) as u64);
                w.bytes(3, b"");
            }
        },
        Special::RawJson => {
            let raw = serde_json::to_vec(v).map_err(|e| CodecError(e.to_string()))?;
            w.bytes(1, &raw);
        }
        Special::StringList => {
            let Some(items) = v.as_array() else {
                return fail(format!("expected a list of strings, found {v}"));
            };
            for item in items {
                let Some(s) = item.as_str() else {
                    return fail(format!("expected a string, found {item}"));
                };
                w.bytes(1, s.as_bytes());
            }
        }
    }
    Ok(w.finish())
}

// ---------------------------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------------------------

/// Decodes `bytes` as `msg`, adding its fields to `out` (an inlined message adds to its
/// parent's object).
fn decode_message(
    msg: &Message,
    bytes: &[u8],
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return fail("the message nests too deeply");
    }
    let mut r = Reader::new(bytes);
    while let Some((tag, value)) = r.field()? {
        let Some(field) = msg.by_tag(tag) else {
            continue; // a field this schema does not know: skipped, as protobuf does
        };
        let context =
            |e: CodecError| CodecError(format!("{}.{}: {e}", short(msg.name), field.json));
        if field.inline {
            let (Kind::Msg(name), WireValue::Bytes(b)) = (field.kind, value) else {
                return Err(context(CodecError("wrong wire type".into())));
            };
            decode_message(lookup(name)?, b, depth + 1, out).map_err(context)?;
            continue;
        }
        if let Kind::Map(value_kind) = field.kind {
            let WireValue::Bytes(entry) = value else {
                return Err(context(CodecError("wrong wire type".into())));
            };
            let (key, v) = decode_entry(*value_kind, entry, depth).map_err(context)?;
            let map = out
                .entry(field.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if let (Value::Object(map), Some(v)) = (map, v) {
                map.insert(key, v);
            }
            continue;
        }
        if field.repeated {
            let list = out
                .entry(field.json)
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(list) = list else { continue };
            match (field.kind, value) {
                // Packed numbers: one length-delimited run of varints.
                (Kind::I32 | Kind::I64 | Kind::Bool, WireValue::Bytes(run)) => {
                    let mut p = Reader::new(run);
                    while !p.is_done() {
                        let n = p.varint().map_err(|e| context(e.into()))?;
                        list.push(scalar(field.kind, n));
                    }
                }
                _ => {
                    // An element is kept even when empty: its position matters.
                    let v = decode_value(field.kind, value, depth, true).map_err(context)?;
                    list.push(v.unwrap_or(Value::Null));
                }
            }
            continue;
        }
        match decode_value(field.kind, value, depth, field.keep_empty).map_err(context)? {
            Some(v) => {
                out.insert(field.json.to_owned(), v);
            }
            None => {
                out.remove(field.json);
            }
        }
    }
    Ok(())
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn decode_entry(
    kind: Kind,
    bytes: &[u8],
    depth: usize,
) -> Result<(String, Option<Value>), CodecError> {
    let (mut key, mut value) = (String::new(), None);
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.field()? {
        match (tag, v) {
            (1, WireValue::Bytes(b)) => key = utf8(b)?.to_owned(),
            (2, v) => value = decode_value(kind, v, depth, true)?,
            _ => {}
        }
    }
    // A map value that is absent on the wire is the value type's zero (prost leaves an
    // empty string or empty bytes out of a map entry): "" for both, as base64 of nothing.
    let value = value.or_else(|| match kind {
        Kind::Str | Kind::Bytes => Some(Value::String(String::new())),
        _ => None,
    });
    Ok((key, value))
}

fn scalar(kind: Kind, n: u64) -> Value {
    match kind {
        Kind::Bool => Value::Bool(n != 0),
        Kind::I32 => Value::from(n as i64 as i32),
        _ => Value::from(n as i64),
    }
}

/// One value; `None` for what decodes as absent (an empty string unless `keep_empty`, a
/// zero time).
fn decode_value(
    kind: Kind,
    value: WireValue<'_>,
    depth: usize,
    keep_empty: bool,
) -> Result<Option<Value>, CodecError> {
    Ok(match (kind, value) {
        (Kind::Str, WireValue::Bytes(b)) => {
            let s = utf8(b)?;
            (keep_empty || !s.is_empty()).then(|| Value::String(s.to_owned()))
        }
        (Kind::Bytes, WireValue::Bytes(b)) => Some(Value::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        (Kind::I32 | Kind::I64 | Kind::Bool, WireValue::Varint(n)) => Some(scalar(kind, n)),
        (Kind::F64, WireValue::Fixed64(bits)) => {
            let x = f64::from_bits(bits);
            Some(Value::Number(Number::from_f64(x).ok_or_else(|| {
                CodecError(format!("{x} is not a JSON number"))
            })?))
        }
        (Kind::Msg(name), WireValue::Bytes(b)) => {
            let msg = lookup(name)?;
            match msg.special {
                Some(special) => decode_special(special, b, depth)?,
                None => {
                    let mut obj = Map::new();
                    decode_message(msg, b, depth + 1, &mut obj)?;
                    Some(Value::Object(obj))
                }
            }
        }
        (kind, value) => return fail(format!("wire value {value:?} cannot be a {kind:?}")),
    })
}

/// The fields of a small message, by number (later occurrences win).
fn small_fields(bytes: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, CodecError> {
    let mut r = Reader::new(bytes);
    let mut fields = Vec::new();
    while let Some(f) = r.field()? {
        fields.push(f);
    }
    Ok(fields)
}

fn varint_of(fields: &[(u32, WireValue<'_>)], tag: u32) -> i64 {
    fields
        .iter()
        .rev()
        .find_map(|(t, v)| match v {
            WireValue::Varint(n) if *t == tag => Some(*n as i64),
            _ => None,
        })
        .unwrap_or(0)
}

fn bytes_of<'a>(fields: &[(u32, WireValue<'a>)], tag: u32) -> Option<&'a [u8]> {
    fields.iter().rev().find_map(|(t, v)| match v {
        WireValue::Bytes(b) if *t == tag => Some(*b),
        _ => None,
    })
}

fn decode_special(
    special: Special,
    bytes: &[u8],
    depth: usize,
) -> Result<Option<Value>, CodecError> {
    let fields = small_fields(bytes)?;
    Ok(match special {
        // Go writes a zero time as an empty message; JSON has no such time.
        Special::Time if fields.is_empty() => None,
        Special::MicroTime if fields.is_empty() => None,
        Special::Time => Some(Value::String(
            Time::from_unix(varint_of(&fields, 1)).to_string(),
        )),
        Special::MicroTime => {
            let nanos = varint_of(&fields, 2).clamp(0, 999_999_999);
            let micros = varint_of(&fields, 1)
                .checked_mul(1_000_000)
                .and_then(|m| m.checked_add(nanos / 1000))
                .ok_or_else(|| CodecError("time out of range".into()))?;
            Some(Value::String(
                MicroTime::from_unix_micros(micros).to_string(),
            ))
        }
        Special::Duration => Some(Value::String(format_duration(varint_of(&fields, 1)))),
        Special::Quantity => {
            let s = utf8(bytes_of(&fields, 1).unwrap_or_default())?;
            (!s.is_empty()).then(|| Value::String(s.to_owned()))
        }
        Special::IntOrString => {
            if varint_of(&fields, 1) == 1 {
                Some(Value::String(
                    utf8(bytes_of(&fields, 3).unwrap_or_default())?.to_owned(),
                ))
            } else {
                Some(Value::from(varint_of(&fields, 2) as i32))
            }
        }
        Special::RawJson => match bytes_of(&fields, 1) {
            None | Some([]) => None,
            Some(raw) if raw.starts_with(MAGIC) => Some(decode_enveloped(raw, depth + 1)?),
            Some(raw) => Some(
                serde_json::from_slice(raw)
                    .map_err(|e| CodecError(format!("embedded JSON: {e}")))?,
            ),
        },
        Special::StringList => {
            let mut items = Vec::new();
            for (tag, v) in &fields {
                if let (1, WireValue::Bytes(b)) = (tag, v) {
                    items.push(Value::String(utf8(b)?.to_owned()));
                }
            }
            Some(Value::Array(items))
        }
    })
}

// ---------------------------------------------------------------------------------------
// Go durations (`metav1.Duration` is written as Go's `time.Duration.String()`).
// ---------------------------------------------------------------------------------------

const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with units.
fn parse_duration(s: &str) -> Result<i64, CodecError> {
    let bad = || CodecError(format!("invalid duration {s:?}"));
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| bad())?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        let scale = UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(bad)?;
        total += number * scale as f64;
        rest = &rest[unit_end..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let n = total.round() as i64;
    Ok(if negative { -n } else { n })
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let width = unit.to_string().len() - 1; // unit is a power of ten
            let frac = format!("{rest:0width$}");
            format!("{whole}.{}", frac.trim_end_matches('0'))
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let secs_total = n / 1_000_000_000;
    let sub = n % 1_000_000_000;
    let (h, m, s) = (secs_total / 3600, secs_total / 60 % 60, secs_total % 60);
    let seconds = fraction(s * 1_000_000_000 + sub, 1_000_000_000);
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

#[cfg(test)]
mod tests;
