//! The event-stream binary message format: encode, decode, and split a byte stream into messages.
//!
//! One message on the wire:
//!
//! ```text
//! total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (of the 8 bytes before)
//! headers (headers length bytes) | payload | message CRC32 (of everything before it)
//! ```
//!
//! A header is a name (1-byte length, then UTF-8), a type byte and a value: `0`/`1` true/false,
//! `2` i8, `3` i16, `4` i32, `5` i64, `6` byte array and `7` string (2-byte length, then bytes),
//! `8` timestamp (i64 milliseconds since the Unix epoch), `9` UUID (16 bytes). Integers are big
//! endian. The CRC is CRC-32 (IEEE).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};

/// Prelude length: total length, headers length, prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// The message CRC at the end of every message.
const CRC_LEN: usize = 4;
/// The smallest message: a prelude and a message CRC, no headers, no payload.
pub const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + CRC_LEN;
/// The largest message (prelude to message CRC) this module encodes or accepts: 16 MiB, the
/// limit of AWS's event-stream implementations.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;
/// The largest headers section this module encodes or accepts: 128 KiB, the limit of AWS's
/// event-stream implementations.
pub const MAX_HEADERS_LEN: usize = 128 * 1024;
/// The longest header name (its length is one byte).
pub const MAX_HEADER_NAME_LEN: usize = 255;
/// The longest string or byte-array header value: 32767 bytes (`i16::MAX`, as AWS's encoders
/// have it, although the length field is two bytes).
pub const MAX_HEADER_VALUE_LEN: usize = i16::MAX as usize;

const TYPE_TRUE: u8 = 0;
const TYPE_FALSE: u8 = 1;
const TYPE_BYTE: u8 = 2;
const TYPE_INT16: u8 = 3;
const TYPE_INT32: u8 = 4;
const TYPE_INT64: u8 = 5;
pub(super) const TYPE_BYTE_ARRAY: u8 = 6;
const TYPE_STRING: u8 = 7;
pub(super) const TYPE_TIMESTAMP: u8 = 8;
const TYPE_UUID: u8 = 9;

/// Malformed event-stream bytes, or a message too large to encode. Decoding never panics and never
/// reads past what the lengths allow; every bad input is one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes end before the message does.
    #[error("event-stream message truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the message needs (the prelude, or the total length it declares).
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The prelude's total length is below 16 (prelude and message CRC) or above the limit.
    #[error(
        "event-stream message length {length} is out of range ({MIN_MESSAGE_LEN} to {max} bytes)"
    )]
    MessageLength {
        /// The length declared or needed.
        length: u64,
        /// The largest length accepted.
        max: usize,
    },
    /// The headers section does not fit in the message, or is above the limit.
    #[error("event-stream headers length {headers_length} does not fit a message of {total_length} bytes (limit {max} bytes of headers)")]
    HeadersLength {
        /// The headers length declared or needed.
        headers_length: u64,
        /// The message's total length.
        total_length: u64,
        /// The largest headers section accepted.
        max: usize,
    },
    /// The prelude CRC does not match the prelude: the bytes are corrupt or not event-stream.
    #[error(
        "event-stream prelude CRC mismatch: computed {computed:#010x}, message says {found:#010x}"
    )]
    PreludeCrc {
        /// The CRC of the prelude as received.
        computed: u32,
        /// The CRC the message carries.
        found: u32,
    },
    /// The message CRC does not match the message: the bytes are corrupt.
    #[error(
        "event-stream message CRC mismatch: computed {computed:#010x}, message says {found:#010x}"
    )]
    MessageCrc {
        /// The CRC of the message as received.
        computed: u32,
        /// The CRC the message carries.
        found: u32,
    },
    /// A header could not be read (offset from the start of the headers section).
    #[error("malformed event-stream header at byte {offset} of the headers: {reason}")]
    MalformedHeader {
        /// Where the header starts, from the start of the headers section.
        offset: usize,
        /// What is wrong, as a phrase.
        reason: &'static str,
    },
    /// A header has a type byte outside 0 to 9.
    #[error("event-stream header {name:?} has unknown value type {type_byte}")]
    UnknownHeaderType {
        /// The header's name.
        name: String,
        /// The type byte.
        type_byte: u8,
    },
    /// A header name is longer than 255 bytes (encoding).
    #[error("event-stream header name of {length} bytes is longer than {MAX_HEADER_NAME_LEN}")]
    HeaderNameTooLong {
        /// The name's length in bytes.
        length: usize,
    },
    /// A string or byte-array header value is longer than 32767 bytes (encoding).
    #[error("event-stream header {name:?} has a value of {length} bytes, longer than {MAX_HEADER_VALUE_LEN}")]
    HeaderValueTooLong {
        /// The header's name.
        name: String,
        /// The value's length in bytes.
        length: usize,
    },
    /// Bytes follow the one message that [`Message::decode`] expected.
    #[error("{count} bytes follow the event-stream message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// A header value, one variant per wire type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderValue {
    /// Types 0 (true) and 1 (false).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Int16(i16),
    /// Type 4.
    Int32(i32),
    /// Type 5.
    Int64(i64),
    /// Type 6 (at most [`MAX_HEADER_VALUE_LEN`] bytes); `:chunk-signature` is one.
    ByteArray(Bytes),
    /// Type 7 (at most [`MAX_HEADER_VALUE_LEN`] bytes of UTF-8); `:event-type` is one.
    String(String),
    /// Type 8: milliseconds since the Unix epoch; `:date` is one.
    Timestamp(i64),
    /// Type 9.
    Uuid(u128),
}

impl HeaderValue {
    /// A timestamp from a `SystemTime`, in whole milliseconds (`None` before 1970 or past what
    /// an i64 of milliseconds holds).
    pub fn timestamp(time: SystemTime) -> Option<Self> {
        let millis = time.duration_since(UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(millis).ok().map(HeaderValue::Timestamp)
    }

    fn encoded_len(&self) -> usize {
        1 + match self {
            HeaderValue::Bool(_) => 0,
            HeaderValue::Byte(_) => 1,
            HeaderValue::Int16(_) => 2,
            HeaderValue::Int32(_) => 4,
            HeaderValue::Int64(_) | HeaderValue::Timestamp(_) => 8,
            HeaderValue::ByteArray(b) => 2 + b.len(),
            HeaderValue::String(s) => 2 + s.len(),
            HeaderValue::Uuid(_) => 16,
        }
    }
}

/// One header: a name and a typed value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The name (at most 255 bytes), such as `:event-type` or `:content-type`.
    pub name: String,
    /// The value.
    pub value: HeaderValue,
}

impl Header {
    /// A header.
    pub fn new(name: impl Into<String>, value: HeaderValue) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

/// One event-stream message: headers (in order; names may repeat) and a payload.
///
/// ```
/// use sigv4_core::eventstream::{HeaderValue, Message};
///
/// let message = Message::new(&b"{\"text\":\"hello\"}"[..])
///     .with_header(":message-type", HeaderValue::String("event".into()))
///     .with_header(":event-type", HeaderValue::String("AudioEvent".into()));
/// let bytes = message.encode().unwrap();
/// assert_eq!(bytes.len(), message.encoded_len().unwrap());
/// assert_eq!(Message::decode(&bytes).unwrap(), message);
///
/// // One flipped bit is a typed error, never a panic.
/// let mut corrupt = bytes.clone();
/// corrupt[20] ^= 1;
/// assert!(Message::decode(&corrupt).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    /// The headers, in wire order.
    pub headers: Vec<Header>,
    /// The payload.
    pub payload: Bytes,
}

impl Message {
    /// A message with `payload` and no headers.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            headers: Vec::new(),
            payload: payload.into(),
        }
    }

    /// The message with one more header (appended).
    pub fn with_header(mut self, name: impl Into<String>, value: HeaderValue) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The encoded size in bytes, or why the message cannot be encoded.
    pub fn encoded_len(&self) -> Result<usize, FrameError> {
        let mut headers_len = 0usize;
        for header in &self.headers {
            if header.name.len() > MAX_HEADER_NAME_LEN {
                return Err(FrameError::HeaderNameTooLong {
                    length: header.name.len(),
                });
            }
            let value_len = match &header.value {
                HeaderValue::ByteArray(b) => b.len(),
                HeaderValue::String(s) => s.len(),
                _ => 0,
            };
            if value_len > MAX_HEADER_VALUE_LEN {
                return Err(FrameError::HeaderValueTooLong {
                    name: header.name.clone(),
                    length: value_len,
                });
            }
            headers_len += 1 + header.name.len() + header.value.encoded_len();
        }
        check_lengths(headers_len, self.payload.len())
    }

    /// Encodes the message into a new buffer.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out` (nothing is written when it cannot be encoded).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let total = self.encoded_len()?;
        let headers_len = total - MIN_MESSAGE_LEN - self.payload.len();
        out.reserve(total);
        let start = out.len();
        write_prelude(out, total, headers_len);
        for header in &self.headers {
            write_header(out, &header.name, &header.value);
        }
        out.extend_from_slice(&self.payload);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        Ok(())
    }

    /// Decodes exactly one message: the bytes must hold one whole message and nothing more.
    pub fn decode(bytes: &[u8]) -> Result<Message, FrameError> {
        let frame = check_frame(bytes)?;
        if frame.total < bytes.len() {
            return Err(FrameError::TrailingBytes {
                count: bytes.len() - frame.total,
            });
        }
        let headers = decode_headers(frame.headers(bytes))?;
        Ok(Message {
            headers,
            payload: Bytes::copy_from_slice(frame.payload(bytes)),
        })
    }
}

/// Checks the sizes of a message with `headers_len` bytes of headers and `payload_len` bytes of
/// payload against the limits; returns its total length.
pub(super) fn check_lengths(headers_len: usize, payload_len: usize) -> Result<usize, FrameError> {
    let total = MIN_MESSAGE_LEN
        .saturating_add(headers_len)
        .saturating_add(payload_len);
    if headers_len > MAX_HEADERS_LEN {
        return Err(FrameError::HeadersLength {
            headers_length: headers_len as u64,
            total_length: total as u64,
            max: MAX_HEADERS_LEN,
        });
    }
    if total > MAX_MESSAGE_LEN {
        return Err(FrameError::MessageLength {
            length: total as u64,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(total)
}

/// Writes the prelude (lengths already checked against the limits, so they fit a u32).
pub(super) fn write_prelude(out: &mut Vec<u8>, total: usize, headers_len: usize) {
    let start = out.len();
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Writes one header (sizes already checked).
pub(super) fn write_header(out: &mut Vec<u8>, name: &str, value: &HeaderValue) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    match value {
        HeaderValue::Bool(true) => out.push(TYPE_TRUE),
        HeaderValue::Bool(false) => out.push(TYPE_FALSE),
        HeaderValue::Byte(v) => {
            out.push(TYPE_BYTE);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Int16(v) => {
            out.push(TYPE_INT16);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Int32(v) => {
            out.push(TYPE_INT32);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Int64(v) => {
            out.push(TYPE_INT64);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::ByteArray(b) => {
            out.push(TYPE_BYTE_ARRAY);
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        }
        HeaderValue::String(s) => {
            out.push(TYPE_STRING);
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        HeaderValue::Timestamp(v) => {
            out.push(TYPE_TIMESTAMP);
            out.extend_from_slice(&v.to_be_bytes());
        }
        HeaderValue::Uuid(v) => {
            out.push(TYPE_UUID);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

/// Where the parts of a checked message lie.
#[derive(Debug, Clone, Copy)]
pub(super) struct FrameLayout {
    /// The total length.
    pub(super) total: usize,
    /// The headers length.
    pub(super) headers_len: usize,
}

impl FrameLayout {
    pub(super) fn headers<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[PRELUDE_LEN..PRELUDE_LEN + self.headers_len]
    }

    pub(super) fn payload<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.payload_range()]
    }

    /// Where the payload lies, from the start of the message.
    pub(super) fn payload_range(&self) -> std::ops::Range<usize> {
        PRELUDE_LEN + self.headers_len..self.total - CRC_LEN
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(word)
}

/// Reads and checks the prelude at the start of `bytes`: `Ok(None)` when fewer than 12 bytes are
/// there, else the message's layout (its lengths checked against each other and the limits).
fn read_prelude(bytes: &[u8]) -> Result<Option<FrameLayout>, FrameError> {
    if bytes.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let total = be_u32(bytes, 0);
    let headers_len = be_u32(bytes, 4);
    let computed = crc32fast::hash(&bytes[..8]);
    let found = be_u32(bytes, 8);
    if computed != found {
        return Err(FrameError::PreludeCrc { computed, found });
    }
    let (total, headers_len) = (total as usize, headers_len as usize);
    if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total) {
        return Err(FrameError::MessageLength {
            length: total as u64,
            max: MAX_MESSAGE_LEN,
        });
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total - MIN_MESSAGE_LEN {
        return Err(FrameError::HeadersLength {
            headers_length: headers_len as u64,
            total_length: total as u64,
            max: MAX_HEADERS_LEN,
        });
    }
    Ok(Some(FrameLayout { total, headers_len }))
}

/// Checks the message at the start of `bytes` (prelude, lengths, both CRCs); bytes after it are
/// left alone.
pub(super) fn check_frame(bytes: &[u8]) -> Result<FrameLayout, FrameError> {
    let layout = read_prelude(bytes)?.ok_or(FrameError::Truncated {
        needed: PRELUDE_LEN,
        available: bytes.len(),
    })?;
    if bytes.len() < layout.total {
        return Err(FrameError::Truncated {
            needed: layout.total,
            available: bytes.len(),
        });
    }
    let crc_at = layout.total - CRC_LEN;
    let computed = crc32fast::hash(&bytes[..crc_at]);
    let found = be_u32(bytes, crc_at);
    if computed != found {
        return Err(FrameError::MessageCrc { computed, found });
    }
    Ok(layout)
}

/// Calls `f` with each header's name, type byte and raw value bytes (for byte arrays and strings,
/// without the length prefix), in order; stops at the first malformed header.
pub(super) fn walk_headers<'b>(
    bytes: &'b [u8],
    mut f: impl FnMut(&'b str, u8, &'b [u8]) -> Result<(), FrameError>,
) -> Result<(), FrameError> {
    let mut at = 0usize;
    while at < bytes.len() {
        let start = at;
        let malformed = |reason| FrameError::MalformedHeader {
            offset: start,
            reason,
        };
        let name_len = bytes[at] as usize;
        at += 1;
        let name = bytes
            .get(at..at + name_len)
            .ok_or(malformed("the name runs past the headers section"))?;
        let name = std::str::from_utf8(name).map_err(|_| malformed("the name is not UTF-8"))?;
        at += name_len;
        let type_byte = *bytes
            .get(at)
            .ok_or(malformed("the value type is missing"))?;
        at += 1;
        let fixed = match type_byte {
            TYPE_TRUE | TYPE_FALSE => Some(0),
            TYPE_BYTE => Some(1),
            TYPE_INT16 => Some(2),
            TYPE_INT32 => Some(4),
            TYPE_INT64 | TYPE_TIMESTAMP => Some(8),
            TYPE_UUID => Some(16),
            TYPE_BYTE_ARRAY | TYPE_STRING => None,
            _ => {
                return Err(FrameError::UnknownHeaderType {
                    name: name.to_owned(),
                    type_byte,
                })
            }
        };
        let value_len = match fixed {
            Some(n) => n,
            None => {
                let len = bytes
                    .get(at..at + 2)
                    .ok_or(malformed("the value length runs past the headers section"))?;
                at += 2;
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                if len > MAX_HEADER_VALUE_LEN {
                    return Err(malformed("the value is longer than 32767 bytes"));
                }
                len
            }
        };
        let value = bytes
            .get(at..at + value_len)
            .ok_or(malformed("the value runs past the headers section"))?;
        at += value_len;
        if type_byte == TYPE_STRING && std::str::from_utf8(value).is_err() {
            return Err(malformed("the string value is not UTF-8"));
        }
        f(name, type_byte, value)?;
    }
    Ok(())
}

fn decode_headers(bytes: &[u8]) -> Result<Vec<Header>, FrameError> {
    let mut headers = Vec::new();
    walk_headers(bytes, |name, type_byte, raw| {
        let mut raw = raw;
        let value = match type_byte {
            TYPE_TRUE => HeaderValue::Bool(true),
            TYPE_FALSE => HeaderValue::Bool(false),
            TYPE_BYTE => HeaderValue::Byte(raw.get_i8()),
            TYPE_INT16 => HeaderValue::Int16(raw.get_i16()),
            TYPE_INT32 => HeaderValue::Int32(raw.get_i32()),
            TYPE_INT64 => HeaderValue::Int64(raw.get_i64()),
            TYPE_TIMESTAMP => HeaderValue::Timestamp(raw.get_i64()),
            TYPE_UUID => HeaderValue::Uuid(raw.get_u128()),
            TYPE_BYTE_ARRAY => HeaderValue::ByteArray(Bytes::copy_from_slice(raw)),
            // walk_headers checked the string is UTF-8.
            _ => HeaderValue::String(String::from_utf8_lossy(raw).into_owned()),
        };
        headers.push(Header::new(name, value));
        Ok(())
    })?;
    Ok(headers)
}

/// Splits a byte stream into whole messages, sans-IO: push the bytes as they arrive, then take
/// each complete message out. A message is handed out only when it is whole and both its CRCs
/// match; a bad prelude is reported as soon as its 12 bytes are in, so a corrupt length never
/// makes the reader wait for (or buffer) more than [`MAX_MESSAGE_LEN`] bytes.
///
/// ```
/// use sigv4_core::eventstream::{FrameReader, Message};
///
/// let one = Message::new(&b"one"[..]).encode().unwrap();
/// let two = Message::new(&b"two"[..]).encode().unwrap();
/// let stream = [one.clone(), two.clone()].concat();
///
/// let mut reader = FrameReader::new();
/// reader.push(&stream[..5]);
/// assert_eq!(reader.next_frame().unwrap(), None); // not a whole message yet
/// reader.push(&stream[5..]);
/// assert_eq!(reader.next_frame().unwrap().unwrap(), &one[..]);
/// assert_eq!(reader.next_frame().unwrap().unwrap(), &two[..]);
/// assert_eq!(reader.next_frame().unwrap(), None);
/// assert!(reader.is_empty());
/// ```
#[derive(Default)]
pub struct FrameReader {
    buf: BytesMut,
}

impl fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends everything left in `buf`.
    pub fn push_buf(&mut self, mut buf: impl Buf) {
        while buf.has_remaining() {
            let chunk = buf.chunk();
            let n = chunk.len();
            self.buf.extend_from_slice(chunk);
            buf.advance(n);
        }
    }

    /// The next whole message (its encoded bytes, CRCs checked), `Ok(None)` when more bytes are
    /// needed, or why the stream is malformed (the reader is then of no further use: the message
    /// boundaries are lost).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(layout) = read_prelude(&self.buf)? else {
            return Ok(None);
        };
        if self.buf.len() < layout.total {
            return Ok(None);
        }
        check_frame(&self.buf[..layout.total])?;
        Ok(Some(self.buf.split_to(layout.total).freeze()))
    }

    /// At the end of the stream: `Ok` when no partial message is left, else
    /// [`FrameError::Truncated`] with what the partial message needed (or the error in its
    /// prelude).
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let needed = read_prelude(&self.buf)?.map_or(PRELUDE_LEN, |layout| layout.total);
        Err(FrameError::Truncated {
            needed,
            available: self.buf.len(),
        })
    }

    /// Bytes pushed and not yet handed out.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True when no bytes are waiting (at the end of a stream: no partial message was left).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}
