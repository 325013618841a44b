//! The protobuf wire format: varints, field keys, length-delimited values. A reader that
//! never trusts a length it was given and a writer that nests messages.

use std::fmt;

/// Why bytes are not a valid protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> WireError {
    WireError(msg.into())
}

/// One field value as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: a string, bytes, a message or a packed repeated scalar.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// Reads the fields of one message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over one message's bytes.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub fn is_done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads a varint.
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(err("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(err("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(err("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| err(format!("a length of {n} runs past the end of the message")))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Reads the next field: its number and value; `None` at the end.
    pub fn field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, WireError> {
        if self.is_done() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| err(format!("invalid field number {}", key >> 3)))?;
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                WireValue::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| err("length too large"))?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                WireValue::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            }
            t => return Err(err(format!("unsupported wire type {t} (field {tag})"))),
        };
        Ok(Some((tag, value)))
    }
}

/// Writes the fields of one message.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, tag: u32, wire_type: u8) {
        self.raw_varint((u64::from(tag) << 3) | u64::from(wire_type));
    }

    /// A varint field (`int32`, `int64`, `bool`; negative numbers take ten bytes, as
    /// protobuf writes them).
    pub fn varint(&mut self, tag: u32, v: u64) {
        self.key(tag, 0);
        self.raw_varint(v);
    }

    /// A 64-bit field (`double`).
    pub fn fixed64(&mut self, tag: u32, v: u64) {
        self.key(tag, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A length-delimited field: a string, bytes or an encoded message.
    pub fn bytes(&mut self, tag: u32, v: &[u8]) {
        self.key(tag, 2);
        self.raw_varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut w = Writer::new();
        w.varint(1, 150);
        w.varint(2, (-2i64) as u64);
        w.bytes(3, b"testing");
        w.fixed64(4, 1.5f64.to_bits());
        let bytes = w.finish();
        // The protobuf documentation's example: field 1, varint 150.
        assert_eq!(&bytes[..3], &[0x08, 0x96, 0x01]);
        let mut r = Reader::new(&bytes);
        assert_eq!(r.field(), Ok(Some((1, WireValue::Varint(150)))));
        assert_eq!(r.field(), Ok(Some((2, WireValue::Varint((-2i64) as u64)))));
        assert_eq!(r.field(), Ok(Some((3, WireValue::Bytes(b"testing")))));
        assert_eq!(r.field(), Ok(Some((4, WireValue::Fixed64(1.5f64.to_bits())))));
        assert_eq!(r.field(), Ok(None));
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        for bad in [
            &[0x0a, 0x05, b'a'][..],                        // length past the end
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f][..], // varint overflow
            &[0x08][..],                                    // truncated varint
            &[0x0b][..],                                    // group (wire type 3)
            &[0x00, 0x01][..],                              // field number 0
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f][..],      // huge length
        ] {
            let mut r = Reader::new(bad);
            let mut result = Ok(None);
            for _ in 0..4 {
                result = r.field();
                if !matches!(result, Ok(Some(_))) {
                    break;
                }
            }
            assert!(result.is_err(), "{bad:?} gave {result:?}");
        }
    }
}
