//! `Quantity`: Kubernetes' fixed-point number with a unit suffix (`500m`, `128Mi`, `1e3`).
//!
//! This follows apimachinery's `resource.Quantity` behaviour closely, because users diff
//! what they sent with what they get back:
//!
//! - Grammar: `<sign>?<digits>[.<digits>]<suffix>` where the suffix is decimal SI
//!   (`n u m "" k M G T P E`), binary SI (`Ki Mi Gi Ti Pi Ei`) or a decimal exponent
//!   (`e3`, `E-6`). Surrounding whitespace is an error (JSON input is trimmed first, as
//!   Kubernetes does).
//! - Values are exact (no floating point). A value finer than a nano is rounded away from
//!   zero to the next nano (`0.1n` → `1n`); a binary-SI value is capped at 2^63-1.
//! - The serialized form is Kubernetes' canonical form: the largest suffix of the parsed
//!   kind that keeps the number an integer (`0.5` → `500m`, `1.5Gi` → `1536Mi`,
//!   `1000` → `1k`, `1024Mi` → `1Gi`). A binary value below 1024 or with a fraction is
//!   written in decimal SI instead (`0.5Ki` → `512`).
//! - Like Kubernetes, when its integer fast path sees an input that needs no rewriting
//!   (scale a multiple of three, no trailing `000`, no leading `0`; or an odd binary
//!   mantissa), the input string itself is kept as the serialized form. That is why
//!   `+1` and `1.500k` come back unchanged, exactly as the Kubernetes API returns them.
//! - A quantity built in code ([`Quantity::new`], [`Quantity::from_milli`],
//!   [`Quantity::from_scaled`]) takes the form Kubernetes gives it once stored and read
//!   back: 2000 bytes in binary SI is `2k` (Go's fresh `String()` says `2000`, its stored
//!   copy `2k`), and anything finer than a nano is rounded up.
//! - JSON also accepts a bare number, as Kubernetes does (`"cpu": 0.5` reads as `500m`);
//!   serde hands such numbers over as `f64`, so `1e3` written bare reads as `1k`, not `1e3`.
//!
//! Equality ([`PartialEq`]) is equality of the serialized form, which is what crosses the
//! wire; [`Quantity::cmp_value`] compares numerically (`1k` equals `1e3` there). On the
//! bus a quantity travels as its serialized string, as in Kubernetes' own storage, and
//! every serialized form parses back to itself, so decoding gives back an equal value.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::schema::{Shape, TypeDef};

/// Why a string is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is not of the form `<signedNumber><suffix>`.
    #[error("quantity {0:?} must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format(String),
    /// The numeric part has no digits where they are needed.
    #[error("unable to parse numeric part of quantity {0:?}")]
    Numeric(String),
    /// The suffix is not a decimal SI, binary SI or decimal exponent suffix.
    #[error("unable to parse suffix of quantity {0:?}")]
    Suffix(String),
    /// The string is longer than [`MAX_QUANTITY_LEN`]; no real quantity is.
    #[error("quantity of {0} characters is longer than {MAX_QUANTITY_LEN}")]
    TooLong(usize),
}

/// The longest quantity string accepted. Exact arithmetic on the digits costs time
/// quadratic in their number, so hostile input must not bring megabytes of them.
pub const MAX_QUANTITY_LEN: usize = 256;

/// How a quantity prefers to be written; remembered from the suffix it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// A decimal exponent, e.g. `12e6`.
    DecimalExponent,
    /// A binary SI suffix, e.g. `12Mi` (12 × 2^20).
    BinarySI,
    /// A decimal SI suffix, e.g. `12M` (12 × 10^6).
    #[default]
    DecimalSI,
}

/// A Kubernetes resource quantity (CPU, memory, storage, ...).
#[derive(Debug, Clone)]
pub struct Quantity {
    /// The serialized form: canonical, or the input when Kubernetes would keep it.
    repr: String,
    /// The exact value.
    value: Decimal,
    /// The suffix family used when the value is re-formatted.
    format: Format,
}

impl Quantity {
    /// Parses `s` as Kubernetes' `resource.ParseQuantity` does.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        parse(s)
    }

    /// `value` in `format` (Kubernetes' `NewQuantity`), e.g. `(1024, BinarySI)` → `1Ki`,
    /// `(1000, DecimalSI)` → `1k`.
    pub fn new(value: i64, format: Format) -> Self {
        Self::from_decimal(Decimal::from_i64(value, 0), format)
    }

    /// `value / 1000` in `format` (Kubernetes' `NewMilliQuantity`), e.g. `500` → `500m`.
    pub fn from_milli(value: i64, format: Format) -> Self {
        Self::from_decimal(Decimal::from_i64(value, -3), format)
    }

    /// `value × 10^scale` in decimal SI (Kubernetes' `NewScaledQuantity`); anything finer
    /// than a nano is rounded up to the next nano, as on reading.
    pub fn from_scaled(value: i64, scale: i32) -> Self {
        Self::from_decimal(
            Decimal::from_i64(value, i64::from(scale)),
            Format::DecimalSI,
        )
    }

    /// Builds the quantity Kubernetes would hold after writing `value` and reading it
    /// back: its canonical string, parsed. That differs from Go's `String()` of a fresh
    /// value in two corners only: a binary value with no binary suffix and trailing zeros
    /// (2000 bytes: Go writes `2000`, which reads back as `2k`) and values finer than a
    /// nano (rounded up on reading). In exchange every `Quantity` is stable through JSON
    /// and the bus.
    fn from_decimal(value: Decimal, format: Format) -> Self {
        let value = value.normalized();
        let written = canonical(&value, format);
        match parse(&written) {
            Ok(q) => q,
            // Not reachable: a canonical string always parses. Keep the value regardless.
            Err(_) => Quantity {
                repr: written,
                value,
                format,
            },
        }
    }

    /// The serialized form, as Kubernetes writes it.
    pub fn as_str(&self) -> &str {
        &self.repr
    }

    /// The suffix family this quantity was parsed or built with.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.value.mag.is_zero()
    }

    /// Whether the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.value.negative
    }

    /// The value rounded up (away from zero) to an integer; saturates at the `i64` bounds.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The value in thousandths, rounded up (away from zero); saturates at the `i64`
    /// bounds. `100m` → 100, `1` → 1000, `1n` → 1.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// `ceil(value / 10^scale)` rounded away from zero; saturates at the `i64` bounds.
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let d = &self.value;
        if d.mag.is_zero() {
            return 0;
        }
        let shift = d.exp - i64::from(scale);
        let magnitude: Option<u128> = if shift >= 0 {
            match u32::try_from(shift) {
                Ok(s) if s <= 38 => d.mag.to_u128().and_then(|m| m.checked_mul(10u128.pow(s))),
                _ => None,
            }
        } else {
            let mut m = d.mag.clone();
            m.div_pow10_round_up(shift.unsigned_abs());
            m.to_u128()
        };
        let limit = if d.negative {
            i64::MIN.unsigned_abs() as u128
        } else {
            i64::MAX as u128
        };
        match magnitude {
            Some(m) if m <= limit => {
                // m <= 2^63 here, so the conversion to i128 is exact.
                let signed = if d.negative { -(m as i128) } else { m as i128 };
                i64::try_from(signed).unwrap_or(if d.negative { i64::MIN } else { i64::MAX })
            }
            _ if d.negative => i64::MIN,
            _ => i64::MAX,
        }
    }

    /// Numeric comparison, ignoring how the values are written (`1k` == `1e3` == `1000`).
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        let (a, b) = (&self.value, &other.value);
        let sign = |d: &Decimal| -> i8 {
            if d.mag.is_zero() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(a), sign(b));
        if sa != sb {
            return sa.cmp(&sb);
        }
        let abs = cmp_abs(a, b);
        if sa < 0 {
            abs.reverse()
        } else {
            abs
        }
    }
}

/// The widest gap between the exponents of two quantities that [`Quantity::add`] adds
/// exactly; beyond it the smaller operand (less than 10^-1000 of the larger) is dropped,
/// so that hostile exponents cannot make the sum cost time or memory.
const MAX_EXACT_EXPONENT_GAP: i64 = 1000;

impl Quantity {
    /// `self + other`, exact (Kubernetes' `Quantity.Add`): the result keeps this
    /// quantity's format, or takes `other`'s when this one is zero (`0` + `128Mi` is
    /// `128Mi`, `500m` + `500m` is `1`).
    pub fn add(&self, other: &Quantity) -> Quantity {
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Self::from_decimal(self.value.add(&other.value), format)
    }

    /// `self - other`, exact (Kubernetes' `Quantity.Sub`), in this quantity's format
    /// (or `other`'s when this one is zero).
    pub fn sub(&self, other: &Quantity) -> Quantity {
        let mut negated = other.value.clone();
        if !negated.mag.is_zero() {
            negated.negative = !negated.negative;
        }
        let format = if self.is_zero() {
            other.format
        } else {
            self.format
        };
        Self::from_decimal(self.value.add(&negated), format)
    }
}

crate::schema::named_type!(
    Quantity,
    TypeDef::scalar(
        "io.k8s.apimachinery.pkg.api.resource.Quantity",
        "A fixed-point number with an optional SI or binary suffix, e.g. `500m` or `128Mi`.",
        Shape::Quantity,
    )
);

impl Default for Quantity {
    /// Zero, written `0`.
    fn default() -> Self {
        Quantity {
            repr: "0".to_owned(),
            value: Decimal::default(),
            format: Format::DecimalSI,
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.repr.hash(state);
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repr)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.repr)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"500m\" or \"128Mi\", or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse(v.trim()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                // Display of an f64 is its shortest exact decimal, never exponent notation.
                if !v.is_finite() {
                    return Err(E::custom("a quantity must be a finite number"));
                }
                parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
                Ok(Quantity::default())
            }
        }
        // A quantity is a string, but Kubernetes also accepts a bare JSON number; telling
        // the two apart needs a self-describing format. Only JSON uses this impl: the bus
        // encodes quantities through bincode's own traits below.
        deserializer.deserialize_any(QuantityVisitor)
    }
}

impl bincode::Encode for Quantity {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.repr.encode(encoder)
    }
}

impl<Context> bincode::Decode<Context> for Quantity {
    fn decode<D: bincode::de::Decoder<Context = Context>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let s = String::decode(decoder)?;
        parse(&s).map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))
    }
}

bincode::impl_borrow_decode!(Quantity);

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

/// The pieces of a quantity string, as apimachinery's scanner splits it.
struct Scanned<'a> {
    positive: bool,
    /// Whether any digit appeared before the suffix.
    has_digits: bool,
    /// Integer digits with leading zeros stripped; "0" when none are left.
    num: &'a str,
    /// Fraction digits (possibly empty).
    denom: &'a str,
    suffix: &'a str,
}

fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    let digits_start = pos;
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        // Only a sign and zeros (or nothing at all after the sign): zero.
        return Ok(Scanned {
            positive,
            has_digits: true,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == num_start {
        "0"
    } else {
        &s[num_start..pos]
    };
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[denom_start..pos];
    }
    let has_digits = s[digits_start..pos].bytes().any(|c| c.is_ascii_digit());
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::Format(s.to_owned()));
    }
    Ok(Scanned {
        positive,
        has_digits,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Base (2 or 10), exponent and format of a suffix.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            // The scale is negated later, so i32::MIN is out of range as well.
            let e: i64 = rest.parse().ok()?;
            let e = i32::try_from(e).ok().filter(|e| *e != i32::MIN)?;
            Some((10, e, Format::DecimalExponent))
        }
    }
}

/// Apimachinery's int64 fast path: `None` when it does not apply, otherwise whether it
/// keeps the input string as the serialized form (it does so when it can cheaply see that
/// the input is already canonical).
fn fast_path(sc: &Scanned<'_>, base: u32, exponent: i32, format: Format) -> Option<bool> {
    let digits = (sc.num.len() + sc.denom.len()) as i64;
    let precision = match format {
        Format::DecimalExponent | Format::DecimalSI => 18 - digits,
        Format::BinarySI if exponent >= 0 && sc.denom.is_empty() => {
            15 - sc.num.len() as i64 - i64::from(exponent) * 3 / 10 - 1
        }
        Format::BinarySI => -1,
    };
    if precision < 0 {
        return None;
    }
    let base_scale = if base == 2 { 0 } else { i64::from(exponent) };
    let scale = base_scale - sc.denom.len() as i64;
    if scale < -9 {
        return None;
    }
    let shifted = format!("{}{}", sc.num, sc.denom);
    let value = shifted.parse::<i64>().ok()?;
    let multiplier: i64 = if base == 2 { 1i64 << exponent } else { 1 };
    value.checked_mul(multiplier)?;
    Some(match format {
        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    })
}

fn parse(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Format(String::new()));
    }
    if s.len() > MAX_QUANTITY_LEN {
        return Err(QuantityError::TooLong(s.len()));
    }
    if s == "0" {
        return Ok(Quantity::default());
    }
    let sc = scan(s)?;
    let (base, exponent, mut format) =
        interpret(sc.suffix).ok_or_else(|| QuantityError::Suffix(s.to_owned()))?;
    let fast = fast_path(&sc, base, exponent, format);
    if fast.is_none() && !sc.has_digits {
        // Kubernetes reads a digitless number (".", "e3") as zero on its fast path only.
        return Err(QuantityError::Numeric(s.to_owned()));
    }
    let keep = fast == Some(true);

    let mut mag = Mag::from_digits(sc.num.as_bytes());
    mag.append_digits(sc.denom.as_bytes());
    let mut exp = -(sc.denom.len() as i64);
    if base == 10 {
        exp += i64::from(exponent);
    } else {
        mag.mul_pow2(exponent.unsigned_abs());
    }
    let mut value = Decimal {
        negative: !sc.positive,
        mag,
        exp,
    }
    .normalized();

    // Anything finer than a nano is rounded away from zero, so asking for a tiny amount
    // still gets some.
    if !value.mag.is_zero() && value.exp < -9 {
        value
            .mag
            .div_pow10_round_up((-9 - value.exp).unsigned_abs());
        value.exp = -9;
        value = value.normalized();
    }
    if format == Format::BinarySI {
        let max = Decimal::from_i64(i64::MAX, 0);
        if cmp_abs(&value, &max) == Ordering::Greater {
            value = Decimal {
                negative: value.negative,
                ..max
            };
        }
        let one = Decimal::from_i64(1, 0);
        if !value.mag.is_zero() && cmp_abs(&value, &one) == Ordering::Less {
            format = Format::DecimalSI;
        }
    }

    let mut repr = if keep {
        s.to_owned()
    } else {
        canonical(&value, format)
    };
    if format == Format::BinarySI && !repr.ends_with('i') {
        // A binary value that no binary suffix writes exactly (`343.75Ki` is `352000`)
        // reads back as decimal SI (`352k`), in Kubernetes too: take that form now, so
        // that every quantity is stable through JSON and the bus.
        format = Format::DecimalSI;
        repr = canonical(&value, format);
    }
    if repr.len() > MAX_QUANTITY_LEN {
        // The canonical form can be a few characters longer than the input; refusing it
        // here keeps every accepted quantity readable again.
        return Err(QuantityError::TooLong(repr.len()));
    }
    Ok(Quantity {
        repr,
        value,
        format,
    })
}

// ---------------------------------------------------------------------------------------
// Canonical form
// ---------------------------------------------------------------------------------------

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

fn decimal_si_suffix(exp: i64) -> Option<&'static str> {
    Some(match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// Kubernetes' canonical string for `value` written in `format`.
fn canonical(value: &Decimal, format: Format) -> String {
    if value.mag.is_zero() {
        return "0".to_owned();
    }
    let sign = if value.negative { "-" } else { "" };
    let mut format = format;
    if format == Format::BinarySI {
        let small = cmp_abs(value, &Decimal::from_i64(1024, 0)) == Ordering::Less;
        if small || value.exp < 0 {
            // Below 1024 or fractional: a binary suffix would round, so write decimal SI.
            format = Format::DecimalSI;
        } else {
            let mut n = value.mag.clone();
            n.mul_pow10(value.exp.unsigned_abs());
            let mut power = 0;
            while power < 6 && n.rem_small(1024) == 0 {
                n.divrem_small(1024);
                power += 1;
            }
            if n.rem_small(1024) != 0 {
                return format!("{sign}{}{}", n.to_decimal(), BINARY_SUFFIXES[power]);
            }
            // Past `Ei` there is no suffix: fall back to an exact decimal form.
            format = Format::DecimalSI;
        }
    }
    let mut mantissa = value.mag.clone();
    let r = value.exp.rem_euclid(3);
    mantissa.mul_pow10(r.unsigned_abs());
    let exp = value.exp - r;
    let suffix = match format {
        Format::DecimalExponent if exp == 0 => String::new(),
        Format::DecimalExponent => format!("e{exp}"),
        _ => decimal_si_suffix(exp).map_or_else(|| format!("e{exp}"), str::to_owned),
    };
    format!("{sign}{}{suffix}", mantissa.to_decimal())
}

// ---------------------------------------------------------------------------------------
// Exact decimal arithmetic (just what quantities need)
// ---------------------------------------------------------------------------------------

/// `±mag × 10^exp`; normalized values have no trailing zero in `mag`, and zero is `+0e0`.
#[derive(Debug, Clone, Default)]
struct Decimal {
    negative: bool,
    mag: Mag,
    exp: i64,
}

impl Decimal {
    fn from_i64(v: i64, exp: i64) -> Decimal {
        Decimal {
            negative: v < 0,
            mag: Mag::from_u64(v.unsigned_abs()),
            exp,
        }
    }

    fn normalized(mut self) -> Decimal {
        if self.mag.is_zero() {
            return Decimal::default();
        }
        while self.mag.rem_small(10) == 0 {
            self.mag.divrem_small(10);
            self.exp += 1;
        }
        self
    }

    /// Position of the leading digit: `digits + exp` (for non-zero values).
    fn magnitude_order(&self) -> i64 {
        self.mag.digit_count() as i64 + self.exp
    }
}

impl Decimal {
    /// `self + other`, exact unless the exponents are further apart than
    /// [`MAX_EXACT_EXPONENT_GAP`] (then the operand of smaller magnitude is dropped).
    fn add(&self, other: &Decimal) -> Decimal {
        if other.mag.is_zero() {
            return self.clone().normalized();
        }
        if self.mag.is_zero() {
            return other.clone().normalized();
        }
        if (self.exp - other.exp).abs() > MAX_EXACT_EXPONENT_GAP {
            return match cmp_abs(self, other) {
                Ordering::Less => other.clone().normalized(),
                _ => self.clone().normalized(),
            };
        }
        let exp = self.exp.min(other.exp);
        let mut a = self.mag.clone();
        a.mul_pow10((self.exp - exp).unsigned_abs());
        let mut b = other.mag.clone();
        b.mul_pow10((other.exp - exp).unsigned_abs());
        let sum = if self.negative == other.negative {
            Decimal {
                negative: self.negative,
                mag: a.plus(&b),
                exp,
            }
        } else if a.cmp_mag(&b) == Ordering::Less {
            Decimal {
                negative: other.negative,
                mag: b.minus(&a),
                exp,
            }
        } else {
            Decimal {
                negative: self.negative,
                mag: a.minus(&b),
                exp,
            }
        };
        sum.normalized()
    }
}

/// Compares `|a|` with `|b|`.
fn cmp_abs(a: &Decimal, b: &Decimal) -> Ordering {
    match (a.mag.is_zero(), b.mag.is_zero()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let order = a.magnitude_order().cmp(&b.magnitude_order());
    if order != Ordering::Equal {
        return order;
    }
    // Same leading position: compare the digit strings, padded to the same length.
    let (da, db) = (a.mag.to_decimal(), b.mag.to_decimal());
    let len = da.len().max(db.len());
    let pad = |d: String| format!("{d:0<len$}");
    pad(da).cmp(&pad(db))
}

const LIMB: u64 = 1_000_000_000;

/// An unsigned integer in base 10^9 limbs, least significant first; zero is empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Mag(Vec<u32>);

impl Mag {
    fn from_u64(mut v: u64) -> Mag {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % LIMB) as u32);
            v /= LIMB;
        }
        Mag(limbs)
    }

    fn from_digits(digits: &[u8]) -> Mag {
        let mut m = Mag::default();
        m.append_digits(digits);
        m
    }

    /// `self = self × 10^len(digits) + digits` (ASCII digits).
    fn append_digits(&mut self, digits: &[u8]) {
        for chunk in digits.chunks(9) {
            let mut chunk_value = 0u32;
            for d in chunk {
                chunk_value = chunk_value * 10 + u32::from(d - b'0');
            }
            self.mul_small(10u32.pow(chunk.len() as u32));
            self.add_small(chunk_value);
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = (v % LIMB) as u32;
            carry = v / LIMB;
        }
        while carry > 0 {
            self.0.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            if carry == 0 {
                break;
            }
            let v = u64::from(*limb) + carry;
            *limb = (v % LIMB) as u32;
            carry = v / LIMB;
        }
        while carry > 0 {
            self.0.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }

    /// Divides in place by `d` (non-zero) and returns the remainder.
    fn divrem_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = rem * LIMB + u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    /// The remainder of a division by `d` (non-zero), without changing `self`.
    fn rem_small(&self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter().rev() {
            rem = (rem * LIMB + u64::from(*limb)) % u64::from(d);
        }
        rem as u32
    }

    fn mul_pow2(&mut self, mut k: u32) {
        while k > 0 {
            let step = k.min(20);
            self.mul_small(1 << step);
            k -= step;
        }
    }

    fn mul_pow10(&mut self, mut k: u64) {
        while k > 0 {
            let step = k.min(9);
            self.mul_small(10u32.pow(step as u32));
            k -= step;
        }
    }

    /// Divides by 10^k, rounding any remainder up.
    fn div_pow10_round_up(&mut self, k: u64) {
        if self.is_zero() {
            return;
        }
        if k > self.digit_count() {
            *self = Mag::from_u64(1);
            return;
        }
        let mut inexact = false;
        let mut k = k;
        while k > 0 {
            let step = k.min(9);
            inexact |= self.divrem_small(10u32.pow(step as u32)) != 0;
            k -= step;
        }
        if inexact {
            self.add_small(1);
        }
    }

    /// `self + other`.
    fn plus(&self, other: &Mag) -> Mag {
        let mut limbs = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v = u64::from(self.0.get(i).copied().unwrap_or(0))
                + u64::from(other.0.get(i).copied().unwrap_or(0))
                + carry;
            limbs.push((v % LIMB) as u32);
            carry = v / LIMB;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
        let mut m = Mag(limbs);
        m.trim();
        m
    }

    /// `self - other`, for `self >= other`.
    fn minus(&self, other: &Mag) -> Mag {
        let mut limbs = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter().enumerate() {
            let mut v = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = 0;
            if v < 0 {
                v += LIMB as i64;
                borrow = 1;
            }
            limbs.push(v as u32);
        }
        let mut m = Mag(limbs);
        m.trim();
        m
    }

    /// Compares two (trimmed) magnitudes.
    fn cmp_mag(&self, other: &Mag) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    fn digit_count(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u64 - 1) * 9 + u64::from(top.ilog10()) + 1,
        }
    }

    fn to_u128(&self) -> Option<u128> {
        let mut v: u128 = 0;
        for limb in self.0.iter().rev() {
            v = v
                .checked_mul(u128::from(LIMB))?
                .checked_add(u128::from(*limb))?;
        }
        Some(v)
    }

    fn to_decimal(&self) -> String {
        let Some((top, rest)) = self.0.split_last() else {
            return "0".to_owned();
        };
        let mut s = top.to_string();
        for limb in rest.iter().rev() {
            s.push_str(&format!("{limb:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    /// (input, serialized form, milli value) in the spirit of apimachinery's tables.
    #[test]
    fn parse_and_canonicalize_table() {
        let table: &[(&str, &str, &str, i64)] = &[
            ("zero", "0", "0", 0),
            ("zero nano", "0n", "0", 0),
            ("zero micro", "0u", "0", 0),
            ("zero milli", "0m", "0", 0),
            ("zero Ki", "0Ki", "0", 0),
            ("zero k", "0k", "0", 0),
            ("zero Mi", "0Mi", "0", 0),
            ("zero Ti", "0Ti", "0", 0),
            ("negative zero", "-0.0", "0", 0),
            ("one", "1", "1", 1000),
            ("minus one", "-1", "-1", -1000),
            ("milli", "500m", "500m", 500),
            ("Mi", "128Mi", "128Mi", 134_217_728_000),
            ("half", "0.5", "500m", 500),
            ("tenth", "0.1", "100m", 100),
            ("one and a half", "1.5", "1500m", 1500),
            ("1000m is 1", "1000m", "1", 1000),
            ("1.5Gi", "1.5Gi", "1536Mi", 1_610_612_736_000),
            ("1024Mi", "1024Mi", "1Gi", 1_073_741_824_000),
            ("100M kept", "100M", "100M", 100_000_000_000),
            ("1e3 kept", "1e3", "1e3", 1_000_000),
            ("1000 becomes 1k", "1000", "1k", 1_000_000),
            ("1000M becomes 1G", "1000M", "1G", 1_000_000_000_000),
            ("2000Mi stays", "2000Mi", "2000Mi", 2_097_152_000_000),
            ("1Ki", "1Ki", "1Ki", 1_024_000),
            ("8Ki", "8Ki", "8Ki", 8_192_000),
            // No binary suffix writes it exactly: the decimal form it reads back as.
            ("fractional Ki", "343.75Ki", "352k", 352_000_000),
            ("micro", "0.0001", "100u", 1),
            ("sub-nano rounds up", "0.1n", "1n", 1),
            ("0.9n", "0.9n", "1n", 1),
            ("3.001n", "3.001n", "4n", 1),
            ("1.1E-9", "1.1E-9", "2e-9", 1),
            ("0.0000000001", "0.0000000001", "1n", 1),
            ("0.00000012345", "0.00000012345", "124n", 1),
            ("50k", "50k", "50k", 50_000_000),
            ("40T", "40T", "40T", 40_000_000_000_000_000),
            ("1E is exa", "1E", "1E", i64::MAX),
            ("12E", "12E", "12E", i64::MAX),
            ("1E-3", "1E-3", "1E-3", 1),
            ("1e9", "1e9", "1e9", 1_000_000_000_000),
            ("1e14 rescaled", "1e14", "100e12", 100_000_000_000_000_000),
            ("1e13 rescaled", "1e13", "10e12", 10_000_000_000_000_000),
            ("100.035k kept", "100.035k", "100.035k", 100_035_000),
            ("0.001", "0.001", "1m", 1),
            ("0.0005k", "0.0005k", "500m", 500),
            ("0.005", "0.005", "5m", 5),
            ("0.05", "0.05", "50m", 50),
            ("0.50000", "0.50000", "500m", 500),
            ("0.5e0", "0.5e0", "500e-3", 500),
            ("0.5e-1", "0.5e-1", "50e-3", 50),
            ("10.035M kept", "10.035M", "10.035M", 10_035_000_000),
            ("1.2e3", "1.2e3", "1200", 1_200_000),
            ("1.3E+6", "1.3E+6", "1300e3", 1_300_000_000),
            ("9.01", "9.01", "9010m", 9010),
            ("8.1k", "8.1k", "8100", 8_100_000),
            ("7.123456M kept", "7.123456M", "7.123456M", 7_123_456_000),
            (
                "6.987654321G kept",
                "6.987654321G",
                "6.987654321G",
                6_987_654_321_000,
            ),
            ("5.444T kept", "5.444T", "5.444T", 5_444_000_000_000_000),
            ("2.5P", "2.5P", "2500T", 2_500_000_000_000_000_000),
            ("fractional Ki", "100.035Ki", "102435840m", 102_435_840),
            ("0.5Mi", "0.5Mi", "512Ki", 524_288_000),
            ("0.05Gi", "0.05Gi", "53687091200m", 53_687_091_200),
            ("0.5Ki below 1024", "0.5Ki", "512", 512_000),
            ("tiny Ki changes format", "0.000000000001Ki", "2n", 1),
            (".001", ".001", "1m", 1),
            (".0001k", ".0001k", "100m", 100),
            ("trailing dot kept", "1.", "1.", 1000),
            ("1.G kept", "1.G", "1.G", 1_000_000_000_000),
            ("plus sign kept", "+1", "+1", 1000),
            ("leading zero kept", "01", "01", 1000),
            ("1.500k kept", "1.500k", "1.500k", 1_500_000),
            ("binary cap", "9Ei", "9223372036854775807", i64::MAX),
            (
                "binary cap Ki",
                "9223372036854775807Ki",
                "9223372036854775807",
                i64::MAX,
            ),
            ("negative Gi", "-1Gi", "-1Gi", -1_073_741_824_000),
            ("negative milli", "-1500m", "-1500m", -1500),
            ("negative half", "-0.5", "-500m", -500),
            (".001Ki", ".001Ki", "1024m", 1024),
            (".000001Ki", ".000001Ki", "1024u", 2),
            (".000000001Ki", ".000000001Ki", "1024n", 1),
            (
                "big decimal",
                "18446744073709551616",
                "18446744073709551616",
                i64::MAX,
            ),
            ("1e21 past E", "1000E", "1e21", i64::MAX),
            ("huge exponent", "1e2147483647", "10e2147483646", i64::MAX),
            ("tiny exponent", "1e-2147483647", "1e-9", 1),
            ("lone sign is zero", "-", "0", 0),
            ("lone dot is zero", ".", "0", 0),
        ];
        for &(name, input, canonical, milli) in table {
            let got = q(input);
            assert_eq!(
                got.as_str(),
                canonical,
                "{name}: serialized form of {input:?}"
            );
            assert_eq!(got.milli_value(), milli, "{name}: milli value of {input:?}");
            // The serialized form parses back to itself.
            assert_eq!(
                q(canonical).as_str(),
                canonical,
                "{name}: {canonical:?} is stable"
            );
            assert_eq!(
                q(canonical).cmp_value(&got),
                Ordering::Equal,
                "{name}: same value"
            );
        }
    }

    #[test]
    fn invalid_inputs() {
        let table: &[(&str, &str)] = &[
            ("empty", ""),
            ("two dots", "1.1.M"),
            ("plus inside", "1+1.0M"),
            ("mi is not a suffix", "0.1mi"),
            ("am is not a suffix", "0.1am"),
            ("letters", "aoeu"),
            ("i alone", ".5i"),
            ("1i", "1i"),
            ("negative i", "-3.01i"),
            ("exponent without digits", "-3.01e-"),
            ("exponent out of range", "1e4294967297"),
            ("leading space", " 1"),
            ("trailing space", "1 "),
            ("K alone", "1K"),
            ("non-ascii", "1µ"),
            ("no digits with tiny exponent", "e-20"),
        ];
        let long = "1".repeat(MAX_QUANTITY_LEN + 1);
        assert_eq!(
            Quantity::parse(&long),
            Err(QuantityError::TooLong(MAX_QUANTITY_LEN + 1))
        );
        assert!(Quantity::parse(&long[1..]).is_ok());
        // 256 characters whose canonical form (`...100m`) would be 258.
        let grows = format!("{}.1", "1".repeat(MAX_QUANTITY_LEN - 2));
        assert_eq!(
            Quantity::parse(&grows),
            Err(QuantityError::TooLong(MAX_QUANTITY_LEN + 2))
        );
        for &(name, input) in table {
            assert!(Quantity::parse(input).is_err(), "{name}: {input:?} parsed");
        }
        assert!(matches!(
            Quantity::parse("0.1mi"),
            Err(QuantityError::Suffix(_))
        ));
        assert!(matches!(
            Quantity::parse("1.1.M"),
            Err(QuantityError::Format(_))
        ));
    }

    #[test]
    fn constructors() {
        let table: &[(&str, Quantity, &str)] = &[
            ("1 decimal", Quantity::new(1, Format::DecimalSI), "1"),
            ("1000 decimal", Quantity::new(1000, Format::DecimalSI), "1k"),
            (
                "1234000",
                Quantity::new(1_234_000, Format::DecimalSI),
                "1234k",
            ),
            ("1024 binary", Quantity::new(1024, Format::BinarySI), "1Ki"),
            ("1Mi", Quantity::new(1024 * 1024, Format::BinarySI), "1Mi"),
            (
                "exponent",
                Quantity::new(1_000_000, Format::DecimalExponent),
                "1e6",
            ),
            (
                "2000 binary reads back as 2k",
                Quantity::new(2000, Format::BinarySI),
                "2k",
            ),
            ("2001 binary", Quantity::new(2001, Format::BinarySI), "2001"),
            ("3Gi", Quantity::new(3 << 30, Format::BinarySI), "3Gi"),
            (
                "-2000 binary",
                Quantity::new(-2000, Format::BinarySI),
                "-2k",
            ),
            ("5 binary", Quantity::new(5, Format::BinarySI), "5"),
            ("1m", Quantity::from_milli(1, Format::DecimalSI), "1m"),
            ("1000m", Quantity::from_milli(1000, Format::DecimalSI), "1"),
            (
                "1024m binary",
                Quantity::from_milli(1024, Format::BinarySI),
                "1024m",
            ),
            (
                "milli exponent",
                Quantity::from_milli(1_000_000, Format::DecimalExponent),
                "1e3",
            ),
            ("1n", Quantity::from_scaled(1, -9), "1n"),
            ("1000n", Quantity::from_scaled(1000, -9), "1u"),
            ("1000u", Quantity::from_scaled(1000, -6), "1m"),
            ("0 nano", Quantity::from_scaled(0, -9), "0"),
            (
                "1e-12 rounds up to a nano",
                Quantity::from_scaled(1, -12),
                "1e-9",
            ),
            ("-1e-10", Quantity::from_scaled(-1, -10), "-1e-9"),
            ("1e21", Quantity::from_scaled(1, 21), "1e21"),
            (
                "i64::MIN",
                Quantity::new(i64::MIN, Format::DecimalSI),
                "-9223372036854775808",
            ),
        ];
        for (name, got, want) in table {
            assert_eq!(got.as_str(), *want, "{name}");
        }
        assert_eq!(Quantity::default().as_str(), "0");
    }

    #[test]
    fn addition_and_subtraction_table() {
        // (name, a, b, a + b, a - b)
        let table: &[(&str, &str, &str, &str, &str)] = &[
            ("millis", "500m", "500m", "1", "0"),
            (
                "zero takes the other's format",
                "0",
                "128Mi",
                "128Mi",
                "-128Mi",
            ),
            ("binary", "128Mi", "64Mi", "192Mi", "64Mi"),
            ("mixed scales", "1", "250m", "1250m", "750m"),
            ("negative result", "1", "3", "4", "-2"),
            ("across limbs", "999999999", "1", "1G", "999999998"),
            (
                "big and tiny",
                "1G",
                "1n",
                "1000000000000000001n",
                "999999999999999999n",
            ),
            ("decimal exponent", "1e3", "1e3", "2e3", "0"),
        ];
        for (name, a, b, sum, diff) in table {
            assert_eq!(q(a).add(&q(b)).as_str(), *sum, "{name}: {a} + {b}");
            assert_eq!(q(a).sub(&q(b)).as_str(), *diff, "{name}: {a} - {b}");
        }
    }

    #[test]
    fn values_round_away_from_zero() {
        let table: &[(&str, i64, i64)] = &[
            ("-.484785E-7466", -1, -1),
            (".484785E-7466", 1, 1),
            ("-.484785E-1", -1, -49),
            (".484785E-1", 1, 49),
            ("-0.0005", -1, -1),
            ("0.0005", 1, 1),
            ("-1500m", -2, -1500),
            ("1500m", 2, 1500),
            ("-9.5000000001Gi", -10_200_547_329, -10_200_547_328_108),
            ("9.5000000001Gi", 10_200_547_329, 10_200_547_328_108),
            ("-1", -1, -1000),
            ("1", 1, 1000),
            ("0", 0, 0),
            ("100Ti", 109_951_162_777_600, 109_951_162_777_600_000),
        ];
        for &(input, value, milli) in table {
            let got = q(input);
            assert_eq!(got.value(), value, "value of {input}");
            assert_eq!(got.milli_value(), milli, "milli value of {input}");
        }
        assert_eq!(q("1").scaled_value(-9), 1_000_000_000);
        assert_eq!(q("1n").scaled_value(0), 1);
        assert_eq!(q("1").scaled_value(2), 1);
        assert_eq!(q("-9Ei").value(), -i64::MAX);
        assert_eq!(q("-1e30").value(), i64::MIN);
    }

    #[test]
    fn numeric_comparison() {
        let table: &[(&str, &str, Ordering)] = &[
            ("0", "0", Ordering::Equal),
            ("100m", "50m", Ordering::Greater),
            ("50m", "100m", Ordering::Less),
            ("10000T", "100Gi", Ordering::Greater),
            ("1k", "1e3", Ordering::Equal),
            ("1Ki", "1k", Ordering::Greater),
            ("-1", "1m", Ordering::Less),
            ("-2", "-1", Ordering::Less),
            ("1.5", "1500m", Ordering::Equal),
            ("999m", "1", Ordering::Less),
        ];
        for &(a, b, want) in table {
            assert_eq!(q(a).cmp_value(&q(b)), want, "{a} vs {b}");
            assert_eq!(q(b).cmp_value(&q(a)), want.reverse(), "{b} vs {a}");
        }
        assert_ne!(q("1k"), q("1e3"), "equality is of the serialized form");
        assert_eq!(q("1024Mi"), q("1Gi"));
    }

    #[test]
    fn json_forms() {
        let got: Quantity = serde_json::from_str("\"128Mi\"").unwrap();
        assert_eq!(got.as_str(), "128Mi");
        assert_eq!(serde_json::to_string(&got).unwrap(), "\"128Mi\"");
        let table: &[(&str, &str)] = &[
            ("1", "1"),
            ("10", "10"),
            ("-1", "-1"),
            ("0.5", "500m"),
            ("1000", "1k"),
            ("\" 1\"", "1"),
            ("\"1 \"", "1"),
            ("null", "0"),
        ];
        for &(json, want) in table {
            let got: Quantity = serde_json::from_str(json).unwrap();
            assert_eq!(got.as_str(), want, "{json}");
        }
        assert!(serde_json::from_str::<Quantity>("\"1x\"").is_err());
        assert!(serde_json::from_str::<Quantity>("true").is_err());
    }

    #[test]
    fn bincode_is_exact() {
        for s in ["1.500k", "+1", "0.5Ki", "128Mi", "1e2147483647", "0"] {
            let v = q(s);
            let bytes = crate::codec::encode(&v).unwrap();
            let back: Quantity = crate::codec::decode(&bytes).unwrap();
            assert_eq!(back, v, "{s}");
        }
    }

    #[test]
    fn bignum_helpers() {
        let mut m = Mag::from_digits(b"123456789012345678901234567890");
        assert_eq!(m.to_decimal(), "123456789012345678901234567890");
        assert_eq!(m.digit_count(), 30);
        assert_eq!(m.divrem_small(1_000_000_000), 234_567_890);
        assert_eq!(m.to_decimal(), "123456789012345678901");
        m.mul_pow2(70);
        assert_eq!(m.rem_small(1024), 0);
        let mut z = Mag::from_u64(999);
        z.div_pow10_round_up(2);
        assert_eq!(z.to_decimal(), "10");
    }
}
