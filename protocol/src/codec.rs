//! The one place that knows the wire encoding.
//!
//! Every byte Rudder puts on a socket goes through [`encode`] and [`decode`], so the
//! encoding (bincode `2.0.1`, standard config: little endian, varint integers) can be
//! swapped here alone. Types derive bincode's own `Encode`/`Decode` rather than going
//! through serde: the serde attributes that make JSON look like Kubernetes
//! (`skip_serializing_if`, defaults) break positional formats, and the native derive has
//! no such trap. JSON (the REST face) stays on serde.
//!
//! Decoding is bounded: a claimed length inside a payload larger than
//! [`MAX_FRAME_LEN`] fails before anything is allocated, so hostile input cannot make the
//! decoder reserve memory it was never sent.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};

/// Hard upper bound on one frame (and so on one encoded message): 16 MiB.
/// Larger payloads (snapshots, log streams) are chunked by their protocols.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<MAX_FRAME_LEN>>;

const fn config() -> Config {
    config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Why a value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value could not be encoded (or is larger than [`MAX_FRAME_LEN`]).
    #[error("encode failed: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// The bytes are not a valid encoding of the expected type.
    #[error("decode failed: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// The encoded value does not fit in one frame.
    #[error("encoded size {0} exceeds the frame limit of {MAX_FRAME_LEN} bytes")]
    TooLarge(usize),
    /// The bytes decoded, but bytes were left over: the frame is not one message.
    #[error("{0} trailing bytes after message")]
    Trailing(usize),
}

/// Encodes `value` in the wire format.
pub fn encode<T: bincode::Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::encode_to_vec(value, config())?)
}

/// Appends the wire encoding of `value` to `buf`.
pub fn encode_into<T: bincode::Encode>(value: &T, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::encode_into_std_write(value, buf, config())?;
    Ok(())
}

/// Decodes exactly one `T` from `bytes`; leftover bytes are an error.
pub fn decode<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::decode_from_slice(bytes, config())?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(value)
}

/// Decodes one `T` from the start of `bytes`; the value and the bytes it took (for a
/// caller that reads a message's leading fields by hand, as the bus does with the head
/// of stream data).
pub fn decode_prefix<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    Ok(bincode::decode_from_slice(bytes, config())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v: (u64, String, Vec<Option<i32>>) = (7, "x".into(), vec![Some(-1), None]);
        let bytes = encode(&v).expect("encode");
        let back: (u64, String, Vec<Option<i32>>) = decode(&bytes).expect("decode");
        assert_eq!(v, back);
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut bytes = encode(&5u32).expect("encode");
        bytes.push(0);
        assert!(matches!(
            decode::<u32>(&bytes),
            Err(CodecError::Trailing(1))
        ));
    }

    #[test]
    fn huge_claimed_length_fails_without_allocating() {
        // A Vec<u8> claiming u64::MAX elements: varint tag 253 then 8 bytes.
        let mut bytes = vec![253u8];
        bytes.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Vec<u8>>(&bytes).is_err());
    }
}
