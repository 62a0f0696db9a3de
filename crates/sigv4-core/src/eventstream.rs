//! Event streams (`application/vnd.amazon.eventstream`): the binary message format, and the
//! chained signing that Transcribe streaming and Bedrock's bidirectional streaming require.
//!
//! The request itself is header-signed with the payload hash
//! [`STREAMING_AWS4_HMAC_SHA256_EVENTS`]; its signature is the *seed*. Each message the client
//! then sends is wrapped in an outer message whose headers are `:chunk-signature` (32 bytes) and
//! `:date` (a timestamp), and whose payload is the encoded inner message. The signature is
//! `HMAC(kSigning, string to sign)` with the string to sign
//!
//! ```text
//! AWS4-HMAC-SHA256-PAYLOAD
//! <date, YYYYMMDDTHHMMSSZ>
//! <date>/<region>/<service>/aws4_request
//! <previous signature: the seed, then each message's, hex>
//! <hex SHA-256 of the encoded :date header>
//! <hex SHA-256 of the payload>
//! ```
//!
//! so every message is chained to the one before it, and a message cannot be dropped, replayed
//! or reordered. An outer message with an empty payload ends the stream.
//!
//! Sans-IO like the rest of the core: [`EventStreamSigner`] turns encoded messages into signed
//! frames, [`EventStreamVerifier`] checks a sequence of frames, [`FrameReader`] splits a byte stream
//! into frames; the time of each message is an input.
//!
//! ```
//! use sigv4_core::eventstream::{
//!     EventStreamSigner, EventStreamVerifier, HeaderValue, Message, STREAMING_AWS4_HMAC_SHA256_EVENTS,
//! };
//! use sigv4_core::{Credentials, Payload, Signer, SigningParams};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let signer = Signer::new();
//! let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//!
//! // 1. Sign the request head; its signature seeds the chain.
//! let mut request = http::Request::post(
//!     "https://transcribestreaming.us-east-1.amazonaws.com:8443/stream-transcription",
//! )
//! .header("content-type", "application/vnd.amazon.eventstream")
//! .body(())
//! .unwrap();
//! let params = SigningParams::new(&creds, "us-east-1", "transcribe", start);
//! let seed = signer
//!     .sign_request(&mut request, Payload::Precomputed(STREAMING_AWS4_HMAC_SHA256_EVENTS), &params)
//!     .unwrap();
//!
//! // 2. Sign each message, then the empty message that ends the stream.
//! let mut stream = EventStreamSigner::new(&signer, &creds, "us-east-1", "transcribe", seed.as_str())
//!     .unwrap();
//! let audio = Message::new(vec![0u8; 320])
//!     .with_header(":message-type", HeaderValue::String("event".into()))
//!     .with_header(":event-type", HeaderValue::String("AudioEvent".into()));
//! let first = stream.sign_message(&audio, start + Duration::from_secs(1)).unwrap();
//! let end = stream.sign_end(start + Duration::from_secs(2)).unwrap();
//!
//! // 3. The server checks the chain from the same seed.
//! let mut verifier =
//!     EventStreamVerifier::new(&signer, &creds, "us-east-1", "transcribe", seed.as_str()).unwrap();
//! let verified = verifier.verify(first.bytes().clone()).unwrap();
//! assert_eq!(verified.inner().unwrap(), audio);
//! assert!(verifier.verify(end.bytes().clone()).unwrap().is_end());
//! assert!(verifier.is_ended());
//! ```

mod frame;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::algorithm::sigv4::hex;
use crate::algorithm::Algorithm;
use crate::credentials::Credentials;
use crate::error::SigningError;
use crate::sign::{check_field, with_scratch, Signature, Signer};
use crate::time::AmzDate;

use frame::{
    check_frame, check_lengths, walk_headers, write_prelude, TYPE_BYTE_ARRAY, TYPE_TIMESTAMP,
};
pub use frame::{
    FrameError, FrameReader, Header, HeaderValue, Message, MAX_HEADERS_LEN, MAX_HEADER_NAME_LEN,
    MAX_HEADER_VALUE_LEN, MAX_MESSAGE_LEN, MIN_MESSAGE_LEN, PRELUDE_LEN,
};

/// The payload hash of a request whose body is a signed event stream (sign the request head with
/// `Payload::Precomputed(STREAMING_AWS4_HMAC_SHA256_EVENTS)`).
pub const STREAMING_AWS4_HMAC_SHA256_EVENTS: &str = "STREAMING-AWS4-HMAC-SHA256-EVENTS";
/// The first line of a message's string to sign.
pub const PAYLOAD_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// The media type of an event-stream body.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";
/// The header holding a message's signature (a 32-byte byte array).
pub const CHUNK_SIGNATURE_HEADER: &str = ":chunk-signature";
/// The header holding a message's signing time (a timestamp, whole seconds).
pub const DATE_HEADER: &str = ":date";

/// The encoded `:chunk-signature` and `:date` headers of a signed message.
const SIGNED_HEADERS_LEN: usize =
    (1 + CHUNK_SIGNATURE_HEADER.len() + 1 + 2 + 32) + (1 + DATE_HEADER.len() + 1 + 8);

/// Why an event-stream message could not be signed, or a signer or verifier not built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventStreamError {
    /// The message cannot be encoded, or the signed message would be too large.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The credentials, region, service or time cannot sign.
    #[error(transparent)]
    Signing(#[from] SigningError),
    /// The seed is not a SigV4 signature.
    #[error(
        "the seed signature must be the 64 lower-case hex digits of the request's SigV4 signature"
    )]
    InvalidSeed,
    /// The end message was already signed: the stream is over.
    #[error("the event stream has ended: no message can be signed after the empty end message")]
    Ended,
}

/// The chain state shared by the signer and the verifier: who signs, for what scope, and the
/// signature the next message chains to.
#[derive(Clone)]
struct Chain {
    signer: Signer,
    credentials: Credentials,
    region: Box<str>,
    service: Box<str>,
    previous: [u8; 64],
}

impl Chain {
    fn new(
        signer: &Signer,
        credentials: &Credentials,
        region: &str,
        service: &str,
        seed: &str,
    ) -> Result<Self, EventStreamError> {
        if credentials.secret_access_key().is_empty() {
            return Err(SigningError::EmptyCredentials.into());
        }
        check_field("region", region)?;
        check_field("service", service)?;
        let previous: [u8; 64] = seed
            .as_bytes()
            .try_into()
            .map_err(|_| EventStreamError::InvalidSeed)?;
        if unhex(&previous).is_none() || previous.iter().any(u8::is_ascii_uppercase) {
            return Err(EventStreamError::InvalidSeed);
        }
        Ok(Self {
            signer: signer.clone(),
            credentials: credentials.clone(),
            region: region.into(),
            service: service.into(),
            previous,
        })
    }

    /// The hex signature of `payload` signed at `date`, whose `:date` header holds `millis`,
    /// chained to the previous signature.
    fn signature(&self, date: &AmzDate, millis: i64, payload: &[u8]) -> [u8; 64] {
        let key = self.signer.keys().v4_key(
            self.credentials.secret_access_key(),
            date.date(),
            &self.region,
            &self.service,
        );
        let date_header: [u8; 32] = Sha256::digest(date_header(millis)).into();
        let payload_hash: [u8; 32] = Sha256::digest(payload).into();
        with_scratch(|buf| {
            buf.extend_from_slice(PAYLOAD_ALGORITHM.as_bytes());
            buf.push(b'\n');
            buf.extend_from_slice(date.as_bytes());
            buf.push(b'\n');
            Algorithm::SigV4.write_scope(buf, date.date(), &self.region, &self.service);
            buf.push(b'\n');
            buf.extend_from_slice(&self.previous);
            buf.push(b'\n');
            buf.extend_from_slice(&hex(&date_header));
            buf.push(b'\n');
            buf.extend_from_slice(&hex(&payload_hash));
            key.sign(buf)
        })
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("access_key_id", &self.credentials.access_key_id())
            .field("region", &self.region)
            .field("service", &self.service)
            .field("previous", &String::from_utf8_lossy(&self.previous))
            .finish()
    }
}

/// The encoded `:date` header holding `millis`.
fn date_header(millis: i64) -> [u8; 1 + DATE_HEADER.len() + 1 + 8] {
    let mut out = [0u8; 1 + DATE_HEADER.len() + 1 + 8];
    out[0] = DATE_HEADER.len() as u8;
    out[1..6].copy_from_slice(DATE_HEADER.as_bytes());
    out[6] = TYPE_TIMESTAMP;
    out[7..].copy_from_slice(&millis.to_be_bytes());
    out
}

/// 64 lower- or upper-case hex digits as 32 bytes.
fn unhex(text: &[u8; 64]) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// The signing time of a message: whole seconds (the `:date` header and the string to sign must
/// agree, and the string to sign has no sub-seconds).
fn message_time(time: SystemTime) -> Result<(AmzDate, i64), EventStreamError> {
    let date = AmzDate::from_system_time(time).map_err(|_| SigningError::TimeOutOfRange)?;
    // At most 9999-12-31, so the milliseconds fit an i64.
    Ok((date, date.unix_seconds() as i64 * 1000))
}

/// A signed message, encoded and ready to send, with the signature the next one chains to.
#[derive(Clone)]
pub struct SignedMessage {
    bytes: Bytes,
    signature: Signature,
    date: AmzDate,
}

impl SignedMessage {
    /// The encoded outer message (`:chunk-signature`, `:date`, the inner message as payload).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The encoded outer message, owned.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// This message's signature (hex), which the next message chains to.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The signing time (whole seconds), as in the `:date` header.
    pub fn date(&self) -> AmzDate {
        self.date
    }
}

impl fmt::Debug for SignedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedMessage")
            .field("len", &self.bytes.len())
            .field("signature", &self.signature)
            .field("date", &self.date.as_str())
            .finish()
    }
}

/// Signs the messages of one event stream in order, each chained to the one before (the first
/// to the seed: the signature of the request that opened the stream). See the
/// [module docs](self) for a whole exchange.
///
/// The signing key comes from the [`Signer`]'s cache, derived again only when a message's date
/// (UTC day) differs from the last one's, so a stream can run past midnight.
#[derive(Debug, Clone)]
pub struct EventStreamSigner {
    chain: Chain,
    ended: bool,
}

impl EventStreamSigner {
    /// A signer for the stream opened by a request signed with `credentials` for `region` and
    /// `service`, whose signature (64 lower-case hex digits) is `seed`.
    pub fn new(
        signer: &Signer,
        credentials: &Credentials,
        region: &str,
        service: &str,
        seed: &str,
    ) -> Result<Self, EventStreamError> {
        Ok(Self {
            chain: Chain::new(signer, credentials, region, service, seed)?,
            ended: false,
        })
    }

    /// Signs `payload` (an encoded inner message) at `time` (sub-seconds dropped) and returns
    /// the encoded outer message. An empty payload is the end message
    /// ([`EventStreamSigner::sign_end`]).
    pub fn sign(
        &mut self,
        payload: &[u8],
        time: SystemTime,
    ) -> Result<SignedMessage, EventStreamError> {
        if self.ended {
            return Err(EventStreamError::Ended);
        }
        let (date, millis) = message_time(time)?;
        let total = check_lengths(SIGNED_HEADERS_LEN, payload.len())?;
        let signature = self.chain.signature(&date, millis, payload);
        let raw = unhex(&signature).unwrap_or_default();

        let mut out = Vec::with_capacity(total);
        write_prelude(&mut out, total, SIGNED_HEADERS_LEN);
        out.push(CHUNK_SIGNATURE_HEADER.len() as u8);
        out.extend_from_slice(CHUNK_SIGNATURE_HEADER.as_bytes());
        out.push(TYPE_BYTE_ARRAY);
        out.extend_from_slice(&32u16.to_be_bytes());
        out.extend_from_slice(&raw);
        out.extend_from_slice(&date_header(millis));
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());

        self.chain.previous = signature;
        if payload.is_empty() {
            self.ended = true;
        }
        Ok(SignedMessage {
            bytes: Bytes::from(out),
            signature: Signature::from_text(&signature),
            date,
        })
    }

    /// Encodes `message` and signs it ([`EventStreamSigner::sign`]).
    pub fn sign_message(
        &mut self,
        message: &Message,
        time: SystemTime,
    ) -> Result<SignedMessage, EventStreamError> {
        let encoded = message.encode()?;
        self.sign(&encoded, time)
    }

    /// Signs the empty message that ends the stream; nothing can be signed after it.
    pub fn sign_end(&mut self, time: SystemTime) -> Result<SignedMessage, EventStreamError> {
        self.sign(&[], time)
    }

    /// The signature the next message chains to: the seed, then the last message's.
    pub fn previous_signature(&self) -> Signature {
        Signature::from_text(&self.chain.previous)
    }

    /// True once the end message is signed.
    pub fn is_ended(&self) -> bool {
        self.ended
    }
}

/// Why one message of a signed event stream was refused ([`VerifyMessageError::fault`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageFault {
    /// The bytes are not one well-formed message.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// No `:chunk-signature` header holding 32 bytes.
    #[error("no :chunk-signature header holding a 32-byte signature")]
    MissingSignature,
    /// No `:date` timestamp header.
    #[error("no :date timestamp header")]
    MissingDate,
    /// The `:date` header is before 1970 or after 9999.
    #[error("the :date header is out of range (1970 to 9999)")]
    DateOutOfRange,
    /// The `:date` header is further from the verifier's clock than the allowed skew.
    #[error("the :date header {date} is more than {} s away from the server's clock", max_skew.as_secs())]
    DateSkew {
        /// The message's date.
        date: String,
        /// The largest difference allowed.
        max_skew: Duration,
    },
    /// The signature does not chain from the previous one: wrong key, changed bytes, a message
    /// missing, replayed or reordered.
    #[error("the signature does not match (a changed, missing, replayed or reordered message, or another key)")]
    SignatureDoesNotMatch,
    /// A message came after the end message.
    #[error("a message came after the empty message that ended the stream")]
    AfterEnd,
    /// An earlier message was refused: the chain is broken and nothing after it can be trusted.
    #[error("an earlier message was refused, so the chain is broken")]
    ChainBroken,
    /// The stream ended (its bytes ran out) without the empty end message.
    #[error("the stream ended without the empty end message")]
    MissingEnd,
}

/// A refused message: which one (0 is the first message after the request head) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event-stream message {index}: {fault}")]
#[non_exhaustive]
pub struct VerifyMessageError {
    /// The message's position in the stream, from 0.
    pub index: u64,
    /// Why it was refused.
    pub fault: MessageFault,
}

/// A message whose signature chains from the one before.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedMessage {
    index: u64,
    date: AmzDate,
    signature: Signature,
    payload: Bytes,
}

impl VerifiedMessage {
    /// The message's position in the stream, from 0.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// When it was signed (its `:date`, whole seconds).
    pub fn date(&self) -> AmzDate {
        self.date
    }

    /// Its signature.
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The signed payload: the encoded inner message (empty for the end message).
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The inner message, decoded.
    pub fn inner(&self) -> Result<Message, FrameError> {
        Message::decode(&self.payload)
    }

    /// True for the empty message that ends the stream.
    pub fn is_end(&self) -> bool {
        self.payload.is_empty()
    }
}

impl fmt::Debug for VerifiedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedMessage")
            .field("index", &self.index)
            .field("date", &self.date.as_str())
            .field("signature", &self.signature)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Checks the signed messages of one event stream in order (the server side of
/// [`EventStreamSigner`]): each message's signature must chain from the one before, the first
/// from the seed (the signature of the request that opened the stream, already verified).
/// Signatures are compared in constant time. After a refusal, every later message is refused too
/// ([`MessageFault::ChainBroken`]).
///
/// ```
/// use sigv4_core::eventstream::{EventStreamSigner, EventStreamVerifier, MessageFault, Message};
/// use sigv4_core::{Credentials, Signer};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let signer = Signer::new();
/// let creds = Credentials::new("AKIDEXAMPLE", "secret");
/// let seed = "a".repeat(64); // the request's signature
/// let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut client = EventStreamSigner::new(&signer, &creds, "us-east-1", "bedrock", &seed).unwrap();
/// let first = client.sign_message(&Message::new(&b"one"[..]), t).unwrap();
/// let second = client.sign_message(&Message::new(&b"two"[..]), t).unwrap();
///
/// // The second message without the first: refused, and the error names it.
/// let mut server = EventStreamVerifier::new(&signer, &creds, "us-east-1", "bedrock", &seed).unwrap();
/// let err = server.verify(second.into_bytes()).unwrap_err();
/// assert_eq!(err.index, 0);
/// assert_eq!(err.fault, MessageFault::SignatureDoesNotMatch);
/// ```
#[derive(Debug, Clone)]
pub struct EventStreamVerifier {
    chain: Chain,
    next_index: u64,
    ended: bool,
    broken: bool,
    skew: Option<(SystemTime, Duration)>,
}

impl EventStreamVerifier {
    /// A verifier for the stream opened by a request signed with `credentials` (the secret
    /// looked up for its access key id) for `region` and `service`, whose signature is `seed`.
    pub fn new(
        signer: &Signer,
        credentials: &Credentials,
        region: &str,
        service: &str,
        seed: &str,
    ) -> Result<Self, EventStreamError> {
        Ok(Self {
            chain: Chain::new(signer, credentials, region, service, seed)?,
            next_index: 0,
            ended: false,
            broken: false,
            skew: None,
        })
    }

    /// Also refuse messages whose `:date` is more than `max_skew` away from `now` (call again
    /// with a fresh `now` as time passes; by default dates are not checked).
    pub fn check_dates(&mut self, now: SystemTime, max_skew: Duration) {
        self.skew = Some((now, max_skew));
    }

    /// Verifies the next message: `frame` must hold exactly one encoded signed message.
    pub fn verify(&mut self, frame: Bytes) -> Result<VerifiedMessage, VerifyMessageError> {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        let fault = if self.broken {
            MessageFault::ChainBroken
        } else if self.ended {
            MessageFault::AfterEnd
        } else {
            match self.check(index, frame) {
                Ok(verified) => return Ok(verified),
                Err(fault) => fault,
            }
        };
        self.broken = true;
        Err(VerifyMessageError { index, fault })
    }

    fn check(&mut self, index: u64, frame: Bytes) -> Result<VerifiedMessage, MessageFault> {
        let layout = check_frame(&frame)?;
        if layout.total < frame.len() {
            return Err(FrameError::TrailingBytes {
                count: frame.len() - layout.total,
            }
            .into());
        }
        let (mut claimed, mut millis) = (None, None);
        walk_headers(layout.headers(&frame), |name, type_byte, value| {
            match (name, type_byte) {
                (CHUNK_SIGNATURE_HEADER, TYPE_BYTE_ARRAY) if claimed.is_none() => {
                    claimed = <[u8; 32]>::try_from(value).ok();
                }
                (DATE_HEADER, TYPE_TIMESTAMP) if millis.is_none() => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(value);
                    millis = Some(i64::from_be_bytes(word));
                }
                _ => {}
            }
            Ok(())
        })?;
        let claimed = claimed.ok_or(MessageFault::MissingSignature)?;
        let millis = millis.ok_or(MessageFault::MissingDate)?;
        let seconds =
            u64::try_from(millis.div_euclid(1000)).map_err(|_| MessageFault::DateOutOfRange)?;
        let date = AmzDate::from_unix_seconds(seconds);
        if date.unix_seconds() != seconds {
            return Err(MessageFault::DateOutOfRange);
        }
        if let Some((now, max_skew)) = self.skew {
            let at = date.to_system_time();
            let off = now.duration_since(at).unwrap_or_else(|e| e.duration());
            if off > max_skew {
                return Err(MessageFault::DateSkew {
                    date: date.as_str().to_owned(),
                    max_skew,
                });
            }
        }
        let payload = frame.slice(layout.payload_range());
        let expected = self.chain.signature(&date, millis, &payload);
        let raw = unhex(&expected).unwrap_or_default();
        if !bool::from(raw.ct_eq(&claimed)) {
            return Err(MessageFault::SignatureDoesNotMatch);
        }
        self.chain.previous = expected;
        if payload.is_empty() {
            self.ended = true;
        }
        Ok(VerifiedMessage {
            index,
            date,
            signature: Signature::from_text(&expected),
            payload,
        })
    }

    /// Verifies a whole stream at once: `bytes` must hold signed messages back to back, ending
    /// with the end message.
    pub fn verify_all(&mut self, bytes: &[u8]) -> Result<Vec<VerifiedMessage>, VerifyMessageError> {
        let mut reader = FrameReader::new();
        reader.push(bytes);
        let mut out = Vec::new();
        loop {
            let index = self.next_index;
            let fail = |fault| VerifyMessageError { index, fault };
            match reader.next_frame() {
                Ok(Some(frame)) => out.push(self.verify(frame)?),
                Ok(None) => {
                    return match reader.finish() {
                        Err(e) => Err(fail(e.into())),
                        Ok(()) if self.ended => Ok(out),
                        Ok(()) => Err(fail(MessageFault::MissingEnd)),
                    }
                }
                Err(e) => return Err(fail(e.into())),
            }
        }
    }

    /// The signature the next message must chain to.
    pub fn previous_signature(&self) -> Signature {
        Signature::from_text(&self.chain.previous)
    }

    /// How many messages were checked (passed or refused).
    pub fn messages_seen(&self) -> u64 {
        self.next_index
    }

    /// True once the end message passed.
    pub fn is_ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests;
