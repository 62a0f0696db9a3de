//! `aws-chunked` uploads, sans-IO: a body sent as chunks, each signed with a signature chained to
//! the previous one (S3's "streaming" payloads), optionally followed by a checksum trailer.
//!
//! Three payload forms ([`ChunkedPayload`]):
//!
//! | `x-amz-content-sha256` | chunks | trailer |
//! |---|---|---|
//! | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` | signed | none |
//! | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` | signed | checksum, signed |
//! | `STREAMING-UNSIGNED-PAYLOAD-TRAILER` | unsigned | checksum, unsigned |
//!
//! The client side:
//! 1. [`ChunkedPayload::set_headers`] sets `Content-Encoding: aws-chunked`,
//!    `x-amz-decoded-content-length`, `x-amz-trailer`, `x-amz-content-sha256` and the framed
//!    `Content-Length` (the framing is fixed by the chunk size, so the length is known up front).
//! 2. Sign the head with [`Payload::Precomputed`](crate::Payload::Precomputed) of
//!    [`ChunkedPayload::payload_hash`]: its signature is the *seed*.
//! 3. [`Signer::chunk_signer`] (or [`ChunkSigner::unsigned`]) frames each chunk: every chunk but
//!    the last holds exactly the chunk size; [`ChunkSigner::finish`] writes the final empty chunk
//!    and the trailer.
//!
//! The server side: [`ChunkedDecoder`] takes the framed bytes as they arrive and gives back the
//! decoded data one verified chunk at a time, or an error naming the first bad chunk.
//!
//! ```
//! use sigv4_core::chunked::{ChunkedPayload, ChunkSigner};
//! use sigv4_core::{Credentials, Payload, Signer, SigningParams};
//! use std::time::SystemTime;
//!
//! let signer = Signer::new();
//! let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
//! let params = SigningParams::new(&creds, "us-east-1", "s3", SystemTime::now());
//! let data = vec![b'a'; 100_000];
//! let mode = ChunkedPayload::Signed;
//! let chunk_size = 64 * 1024;
//!
//! let mut request = http::Request::put("https://bucket.s3.amazonaws.com/key").body(()).unwrap();
//! let framed_len = mode.set_headers(request.headers_mut(), data.len() as u64, chunk_size).unwrap();
//! let seed = signer
//!     .sign_request(&mut request, Payload::Precomputed(mode.payload_hash()), &params)
//!     .unwrap();
//!
//! let mut chunks = signer.chunk_signer(&params, &seed, mode).unwrap();
//! let mut body = Vec::new();
//! for chunk in data.chunks(chunk_size) {
//!     chunks.frame_into(chunk, &mut body);
//! }
//! body.extend_from_slice(&chunks.finish());
//! assert_eq!(body.len() as u64, framed_len);
//! assert!(body.starts_with(b"10000;chunk-signature="));
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::algorithm::sigv4::{hex, SigningKey};
use crate::algorithm::Algorithm;
use crate::checksum::{Checksum, ChecksumAlgorithm};
use crate::credentials::Credentials;
use crate::error::SigningError;
use crate::sign::{check_field, Signature, Signer, SigningParams, EMPTY_SHA256};
use crate::time::AmzDate;
use crate::verify::SignedRequest;
use crate::X_AMZ_CONTENT_SHA256;

/// `x-amz-content-sha256` of an aws-chunked body with signed chunks and no trailer.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` of an aws-chunked body with signed chunks and a signed trailer.
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` of an aws-chunked body with unsigned chunks and a trailer.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// The chunk size the SDKs use, and the layer's default: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
/// The smallest chunk S3 accepts (every chunk but the last): 8 KiB.
pub const MIN_CHUNK_SIZE: usize = 8 * 1024;
/// The largest chunk a [`ChunkedDecoder`] holds by default before refusing the body: 16 MiB.
pub const DEFAULT_MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;

/// `x-amz-decoded-content-length`: the length of the data before aws-chunked framing.
pub static X_AMZ_DECODED_CONTENT_LENGTH: HeaderName =
    HeaderName::from_static("x-amz-decoded-content-length");
/// `x-amz-trailer`: the trailing header(s) the body ends with.
pub static X_AMZ_TRAILER: HeaderName = HeaderName::from_static("x-amz-trailer");

const CHUNK_SIGNATURE: &[u8] = b";chunk-signature=";
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";
const CHUNK_ALGORITHM: &[u8] = b"AWS4-HMAC-SHA256-PAYLOAD";
const TRAILER_ALGORITHM: &[u8] = b"AWS4-HMAC-SHA256-TRAILER";
/// The longest chunk header or trailer line a decoder reads before calling the body malformed.
const MAX_LINE: usize = 4096;
/// The most trailer lines a decoder reads.
const MAX_TRAILER_LINES: usize = 16;

/// Which aws-chunked form a body takes: signed chunks, signed chunks and a signed checksum
/// trailer, or unsigned chunks and a checksum trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChunkedPayload {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: each chunk signed, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: each chunk signed, then a checksum of the
    /// data in a signed trailer.
    SignedWithTrailer(ChecksumAlgorithm),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: chunks unsigned, then a checksum of the data in a
    /// trailer (the request head is still signed).
    UnsignedWithTrailer(ChecksumAlgorithm),
}

impl ChunkedPayload {
    /// The `x-amz-content-sha256` value that goes into the seed signature.
    pub const fn payload_hash(self) -> &'static str {
        match self {
            ChunkedPayload::Signed => STREAMING_PAYLOAD,
            ChunkedPayload::SignedWithTrailer(_) => STREAMING_PAYLOAD_TRAILER,
            ChunkedPayload::UnsignedWithTrailer(_) => STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        }
    }

    /// The checksum sent in the trailer, if any.
    pub const fn trailer(self) -> Option<ChecksumAlgorithm> {
        match self {
            ChunkedPayload::Signed => None,
            ChunkedPayload::SignedWithTrailer(a) | ChunkedPayload::UnsignedWithTrailer(a) => {
                Some(a)
            }
        }
    }

    /// True when each chunk carries a signature.
    pub const fn signs_chunks(self) -> bool {
        !matches!(self, ChunkedPayload::UnsignedWithTrailer(_))
    }

    /// Reads the form a request announces: its `x-amz-content-sha256` (one of the three
    /// `STREAMING-*` values) and, for the trailer forms, `x-amz-trailer`. `Ok(None)`: the request
    /// is not aws-chunked (another payload hash, or none).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ChunkedError> {
        let Some(value) = headers.get(&X_AMZ_CONTENT_SHA256) else {
            return Ok(None);
        };
        let trailer = || -> Result<ChecksumAlgorithm, ChunkedError> {
            let value = headers
                .get(&X_AMZ_TRAILER)
                .ok_or(ChunkedError::Header("x-amz-trailer is missing"))?;
            value
                .to_str()
                .ok()
                .and_then(ChecksumAlgorithm::from_header_name)
                .ok_or(ChunkedError::Header(
                    "x-amz-trailer names no x-amz-checksum-crc32, -crc32c or -sha256",
                ))
        };
        Ok(match value.as_bytes() {
            v if v == STREAMING_PAYLOAD.as_bytes() => Some(ChunkedPayload::Signed),
            v if v == STREAMING_PAYLOAD_TRAILER.as_bytes() => {
                Some(ChunkedPayload::SignedWithTrailer(trailer()?))
            }
            v if v == STREAMING_UNSIGNED_PAYLOAD_TRAILER.as_bytes() => {
                Some(ChunkedPayload::UnsignedWithTrailer(trailer()?))
            }
            _ => None,
        })
    }

    /// The length of the framed body for `decoded_length` bytes of data cut into chunks of
    /// `chunk_size` (the last one shorter), or `None` when `chunk_size` is 0 or the length does
    /// not fit in a `u64`.
    pub fn encoded_length(self, decoded_length: u64, chunk_size: usize) -> Option<u64> {
        let size = u64::try_from(chunk_size).ok().filter(|&s| s > 0)?;
        let full = decoded_length / size;
        let rest = decoded_length % size;
        let mut total = full.checked_mul(self.chunk_overhead(size) + size)?;
        if rest > 0 {
            total = total.checked_add(self.chunk_overhead(rest) + rest)?;
        }
        total.checked_add(self.end_length())
    }

    /// Bytes around a chunk of `len` bytes: the header line and the CRLF after the data.
    fn chunk_overhead(self, len: u64) -> u64 {
        let digits = u64::from(hex_digits(len));
        let signature = if self.signs_chunks() {
            (CHUNK_SIGNATURE.len() + 64) as u64
        } else {
            0
        };
        digits + signature + 2 + 2
    }

    /// Bytes of the final empty chunk, the trailer and the closing CRLF.
    fn end_length(self) -> u64 {
        let head = self.chunk_overhead(0) - 2;
        let trailer = match self {
            ChunkedPayload::Signed => 0,
            ChunkedPayload::SignedWithTrailer(a) => {
                trailer_line_len(a) + TRAILER_SIGNATURE.len() + 1 + 64 + 2
            }
            ChunkedPayload::UnsignedWithTrailer(a) => trailer_line_len(a),
        };
        head + trailer as u64 + 2
    }

    /// Sets the headers of an aws-chunked request before its head is signed:
    /// `Content-Encoding: aws-chunked` (in front of an encoding already there),
    /// `x-amz-decoded-content-length`, `x-amz-content-sha256`, `x-amz-trailer` (trailer forms) and
    /// `Content-Length` (the framed length, returned). A `Transfer-Encoding` header is removed.
    pub fn set_headers(
        self,
        headers: &mut HeaderMap,
        decoded_length: u64,
        chunk_size: usize,
    ) -> Result<u64, SigningError> {
        let framed =
            self.encoded_length(decoded_length, chunk_size)
                .ok_or(SigningError::InvalidField {
                    field: "chunk size",
                    value: chunk_size.to_string(),
                    reason: "is 0 or frames a body longer than 2^64 bytes",
                })?;
        let encoding = match headers.get(&CONTENT_ENCODING).map(HeaderValue::as_bytes) {
            None | Some(b"") => HeaderValue::from_static("aws-chunked"),
            Some(existing) if existing.starts_with(b"aws-chunked") => {
                HeaderValue::from_bytes(existing).unwrap_or(HeaderValue::from_static("aws-chunked"))
            }
            Some(existing) => {
                let mut v = b"aws-chunked,".to_vec();
                v.extend_from_slice(existing);
                HeaderValue::from_bytes(&v).map_err(|_| SigningError::InvalidHeaderValue {
                    name: CONTENT_ENCODING.to_string(),
                })?
            }
        };
        headers.insert(CONTENT_ENCODING, encoding);
        headers.insert(X_AMZ_DECODED_CONTENT_LENGTH.clone(), decoded_length.into());
        headers.insert(CONTENT_LENGTH, framed.into());
        headers.insert(
            X_AMZ_CONTENT_SHA256.clone(),
            HeaderValue::from_static(self.payload_hash()),
        );
        headers.remove(http::header::TRANSFER_ENCODING);
        match self.trailer() {
            Some(a) => {
                headers.insert(
                    X_AMZ_TRAILER.clone(),
                    HeaderValue::from_static(a.header_name()),
                );
            }
            None => {
                headers.remove(&X_AMZ_TRAILER);
            }
        }
        Ok(framed)
    }
}

fn trailer_line_len(a: ChecksumAlgorithm) -> usize {
    a.header_name().len() + 1 + a.encoded_len() + 2
}

fn hex_digits(v: u64) -> u32 {
    if v == 0 {
        1
    } else {
        (64 - v.leading_zeros()).div_ceil(4)
    }
}

/// The signature chain: each signature signs the previous one.
#[derive(Clone)]
struct Chain {
    key: Arc<SigningKey>,
    /// `"\n" + date + "\n" + scope + "\n"`: what follows the algorithm in every string to sign.
    middle: Vec<u8>,
    previous: [u8; 64],
    buf: Vec<u8>,
}

impl Chain {
    fn new(
        key: Arc<SigningKey>,
        date: &AmzDate,
        region: &str,
        service: &str,
        seed: [u8; 64],
    ) -> Self {
        let mut middle = Vec::with_capacity(64);
        middle.push(b'\n');
        middle.extend_from_slice(date.as_bytes());
        middle.push(b'\n');
        Algorithm::SigV4.write_scope(&mut middle, date.date(), region, service);
        middle.push(b'\n');
        Self {
            key,
            buf: Vec::with_capacity(CHUNK_ALGORITHM.len() + middle.len() + 64 * 3 + 3),
            middle,
            previous: seed,
        }
    }

    /// The next signature in the chain, over `algorithm` and the hash lines.
    fn next(&mut self, algorithm: &[u8], hashes: &[&[u8]]) -> [u8; 64] {
        self.buf.clear();
        self.buf.extend_from_slice(algorithm);
        self.buf.extend_from_slice(&self.middle);
        self.buf.extend_from_slice(&self.previous);
        for hash in hashes {
            self.buf.push(b'\n');
            self.buf.extend_from_slice(hash);
        }
        self.previous = self.key.sign(&self.buf);
        self.previous
    }

    /// The signature of a chunk whose data hashes to `digest`.
    fn chunk(&mut self, digest: &[u8; 32]) -> [u8; 64] {
        self.next(CHUNK_ALGORITHM, &[EMPTY_SHA256.as_bytes(), &hex(digest)])
    }

    /// The trailer signature over the canonical trailer lines (`name:value\n` each).
    fn trailer(&mut self, canonical: &[u8]) -> [u8; 64] {
        let digest: [u8; 32] = Sha256::digest(canonical).into();
        self.next(TRAILER_ALGORITHM, &[&hex(&digest)])
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain").finish_non_exhaustive()
    }
}

/// The header line of one framed chunk (`hex(len);chunk-signature=SIG\r\n`, or `hex(len)\r\n`
/// unsigned), held on the stack. The data and a CRLF follow it on the wire.
#[derive(Clone, Copy)]
pub struct ChunkHeader {
    buf: [u8; 100],
    len: usize,
}

impl ChunkHeader {
    /// The header line's bytes, CRLF included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Debug for ChunkHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

/// What ends every chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// Frames the chunks of one aws-chunked body: signs each with a signature chained to the
/// previous one (starting from the seed), keeps the trailer's checksum, and writes the final
/// chunk and trailer. Made by [`Signer::chunk_signer`] or [`ChunkSigner::unsigned`]; see the
/// [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct ChunkSigner {
    chain: Option<Chain>,
    mode: ChunkedPayload,
    checksum: Option<Checksum>,
}

impl Signer {
    /// A [`ChunkSigner`] for a body whose head was signed with `params` and
    /// [`Payload::Precomputed`](crate::Payload::Precomputed) of `mode.payload_hash()`, giving
    /// `seed`. The signing key comes from this signer's cache.
    pub fn chunk_signer(
        &self,
        params: &SigningParams<'_>,
        seed: &Signature,
        mode: ChunkedPayload,
    ) -> Result<ChunkSigner, SigningError> {
        let chain = if mode.signs_chunks() {
            check_field("region", params.region)?;
            check_field("service", params.service)?;
            let date =
                AmzDate::from_system_time(params.time).map_err(|_| SigningError::TimeOutOfRange)?;
            let key = self.keys().v4_key(
                params.credentials.secret_access_key(),
                date.date(),
                params.region,
                params.service,
            );
            let mut seed_bytes = [0u8; 64];
            let text = seed.as_str().as_bytes();
            let n = text.len().min(64);
            seed_bytes[..n].copy_from_slice(&text[..n]);
            Some(Chain::new(
                key,
                &date,
                params.region,
                params.service,
                seed_bytes,
            ))
        } else {
            None
        };
        Ok(ChunkSigner {
            chain,
            mode,
            checksum: mode.trailer().map(Checksum::new),
        })
    }

    /// A [`ChunkedDecoder`] for the body of a request whose head passed verification
    /// ([`Signer::verify`]) with `credentials`: the chunk signatures chain from the request's
    /// signature (the seed). `decoded_length` is the request's `x-amz-decoded-content-length`.
    pub fn chunk_decoder(
        &self,
        claimed: &SignedRequest,
        credentials: &Credentials,
        mode: ChunkedPayload,
        decoded_length: u64,
    ) -> ChunkedDecoder {
        let chain = mode.signs_chunks().then(|| {
            let key = self.keys().v4_key(
                credentials.secret_access_key(),
                claimed.scope_date(),
                claimed.region(),
                claimed.service(),
            );
            let mut seed = [0u8; 64];
            let claimed_sig = claimed.signature().as_bytes();
            let n = claimed_sig.len().min(64);
            seed[..n].copy_from_slice(&claimed_sig[..n]);
            Chain::new(
                key,
                &claimed.date(),
                claimed.region(),
                claimed.service(),
                seed,
            )
        });
        ChunkedDecoder::with_chain(chain, mode, decoded_length)
    }
}

impl ChunkSigner {
    /// A framer for [`ChunkedPayload::UnsignedWithTrailer`]: no signatures, a checksum trailer.
    pub fn unsigned(checksum: ChecksumAlgorithm) -> Self {
        Self {
            chain: None,
            mode: ChunkedPayload::UnsignedWithTrailer(checksum),
            checksum: Some(Checksum::new(checksum)),
        }
    }

    /// The form this signer frames.
    pub fn mode(&self) -> ChunkedPayload {
        self.mode
    }

    /// Signs `data` as the next chunk (and adds it to the trailer's checksum); returns the header
    /// line to send before it. Send [`CHUNK_END`] after the data. `None` for empty data: an empty
    /// chunk would end the body (that is [`ChunkSigner::finish`]'s job).
    pub fn chunk_header(&mut self, data: &[u8]) -> Option<ChunkHeader> {
        if data.is_empty() {
            return None;
        }
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
        let signature = self.chain.as_mut().map(|chain| {
            let digest: [u8; 32] = Sha256::digest(data).into();
            chain.chunk(&digest)
        });
        Some(header_line(data.len() as u64, signature.as_ref()))
    }

    /// Appends the whole framed chunk (header, data, CRLF) to `out`; nothing for empty data.
    pub fn frame_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if let Some(header) = self.chunk_header(data) {
            out.reserve(header.len + data.len() + 2);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(CHUNK_END);
        }
    }

    /// The end of the body: the final empty chunk (signed when the chunks are), the trailer
    /// (the checksum, and its signature when signed) and the closing CRLF.
    pub fn finish(mut self) -> Bytes {
        let signature = self
            .chain
            .as_mut()
            .map(|chain| chain.chunk(&Sha256::digest([]).into()));
        let header = header_line(0, signature.as_ref());
        let mut out = Vec::with_capacity(header.len + 160);
        out.extend_from_slice(header.as_bytes());
        if let Some(checksum) = self.checksum.take() {
            let name = checksum.algorithm().header_name();
            let value = checksum.finalize();
            let start = out.len();
            out.extend_from_slice(name.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
            if let Some(chain) = self.chain.as_mut() {
                let signature = chain.trailer(&out[start..]);
                out.pop();
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(TRAILER_SIGNATURE.as_bytes());
                out.push(b':');
                out.extend_from_slice(&signature);
                out.extend_from_slice(b"\r\n");
            } else {
                out.pop();
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        Bytes::from(out)
    }
}

fn header_line(len: u64, signature: Option<&[u8; 64]>) -> ChunkHeader {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 100];
    let digits = hex_digits(len) as usize;
    for i in 0..digits {
        buf[digits - 1 - i] = HEX[((len >> (4 * i)) & 15) as usize];
    }
    let mut n = digits;
    if let Some(signature) = signature {
        buf[n..n + CHUNK_SIGNATURE.len()].copy_from_slice(CHUNK_SIGNATURE);
        n += CHUNK_SIGNATURE.len();
        buf[n..n + 64].copy_from_slice(signature);
        n += 64;
    }
    buf[n..n + 2].copy_from_slice(b"\r\n");
    ChunkHeader { buf, len: n + 2 }
}

/// Why an aws-chunked body was refused. Chunks are counted from 0; the final empty chunk's index
/// is the number of data chunks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkedError {
    /// The request's aws-chunked headers are missing or wrong.
    #[error("aws-chunked request headers: {0}")]
    Header(&'static str),
    /// A chunk header or trailer line could not be read.
    #[error("aws-chunked body is malformed at chunk {chunk}: {reason}")]
    Malformed {
        /// The chunk's index.
        chunk: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A chunk announced more bytes than the decoder holds.
    #[error("aws-chunked chunk {chunk} announces {size} bytes, over the limit of {max}")]
    ChunkTooLarge {
        /// The chunk's index.
        chunk: u64,
        /// The size it announced.
        size: u64,
        /// The decoder's limit.
        max: usize,
    },
    /// A chunk's signature does not match its data.
    #[error("aws-chunked chunk {chunk}: the chunk signature does not match its data")]
    ChunkSignatureDoesNotMatch {
        /// The chunk's index.
        chunk: u64,
    },
    /// The trailer's signature does not match the trailer.
    #[error("aws-chunked trailer: x-amz-trailer-signature does not match the trailer")]
    TrailerSignatureDoesNotMatch,
    /// The trailer lacks the checksum announced in `x-amz-trailer` (or, signed, its signature).
    #[error("aws-chunked trailer: {0} is missing")]
    MissingTrailer(&'static str),
    /// The trailer's checksum is not the data's.
    #[error("aws-chunked trailer: {header} is {sent:?} but the data's is {computed:?}")]
    ChecksumMismatch {
        /// The checksum header.
        header: &'static str,
        /// What the trailer says.
        sent: String,
        /// What the data hashes to.
        computed: String,
    },
    /// The data is not as long as `x-amz-decoded-content-length` says.
    #[error(
        "aws-chunked body decodes to {actual} bytes{}, but x-amz-decoded-content-length is {declared}",
        if *.at_least { " or more" } else { "" }
    )]
    DecodedLengthMismatch {
        /// `x-amz-decoded-content-length`.
        declared: u64,
        /// The data's length so far.
        actual: u64,
        /// True when the body was cut short of that length by more data than declared.
        at_least: bool,
    },
    /// The body ended before its final chunk and trailer.
    #[error("aws-chunked body ends in the middle of chunk {chunk}")]
    Truncated {
        /// The chunk's index.
        chunk: u64,
    },
    /// Bytes follow the end of the body.
    #[error("aws-chunked body: bytes follow the final chunk and trailer")]
    TrailingBytes,
}

impl ChunkedError {
    /// The index of the chunk the error is about, if it is about one.
    pub fn chunk(&self) -> Option<u64> {
        match self {
            ChunkedError::Malformed { chunk, .. }
            | ChunkedError::ChunkTooLarge { chunk, .. }
            | ChunkedError::ChunkSignatureDoesNotMatch { chunk }
            | ChunkedError::Truncated { chunk } => Some(*chunk),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    /// Reading a chunk header line.
    Header,
    /// Reading `len` bytes of data and the CRLF after them.
    Data { len: usize, signature: [u8; 64] },
    /// After the final empty chunk: trailer lines up to an empty line.
    Trailer,
    /// The body ended.
    Done,
    /// An error was returned; nothing more is read.
    Failed,
}

/// Decodes and verifies an aws-chunked body as its bytes arrive, without I/O: [`feed`] bytes,
/// take the data out with [`next_data`] (one whole verified chunk at a time), and call
/// [`finish`] at the end of the input. The first bad chunk, bad trailer or wrong length is an
/// error naming it, and the decoder stops there.
///
/// A chunk's data is held until the whole chunk and its signature are in, so a decoder holds at
/// most one chunk ([`DEFAULT_MAX_CHUNK_SIZE`] unless [`with_max_chunk_size`] says otherwise).
///
/// [`feed`]: ChunkedDecoder::feed
/// [`next_data`]: ChunkedDecoder::next_data
/// [`finish`]: ChunkedDecoder::finish
/// [`with_max_chunk_size`]: ChunkedDecoder::with_max_chunk_size
#[derive(Debug)]
pub struct ChunkedDecoder {
    chain: Option<Chain>,
    mode: ChunkedPayload,
    checksum: Option<Checksum>,
    declared: u64,
    decoded: u64,
    chunk: u64,
    max_chunk: usize,
    buf: BytesMut,
    state: DecodeState,
    trailer: Vec<u8>,
    trailer_lines: usize,
}

impl ChunkedDecoder {
    /// A decoder of a [`ChunkedPayload::UnsignedWithTrailer`] body of `decoded_length` bytes (the
    /// chunks carry no signature; the checksum trailer is checked). For signed chunks use
    /// [`Signer::chunk_decoder`].
    pub fn unsigned(checksum: ChecksumAlgorithm, decoded_length: u64) -> Self {
        Self::with_chain(
            None,
            ChunkedPayload::UnsignedWithTrailer(checksum),
            decoded_length,
        )
    }

    fn with_chain(chain: Option<Chain>, mode: ChunkedPayload, declared: u64) -> Self {
        Self {
            chain,
            mode,
            checksum: mode.trailer().map(Checksum::new),
            declared,
            decoded: 0,
            chunk: 0,
            max_chunk: DEFAULT_MAX_CHUNK_SIZE,
            buf: BytesMut::new(),
            state: DecodeState::Header,
            trailer: Vec::new(),
            trailer_lines: 0,
        }
    }

    /// Refuses chunks longer than `max` bytes (the decoder holds one chunk at a time).
    pub fn with_max_chunk_size(mut self, max: usize) -> Self {
        self.max_chunk = max;
        self
    }

    /// The form being decoded.
    pub fn mode(&self) -> ChunkedPayload {
        self.mode
    }

    /// Bytes fed and not yet given back (at most about one chunk).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True once the final chunk and the trailer were read and checked.
    pub fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// The data bytes decoded so far.
    pub fn decoded_length(&self) -> u64 {
        self.decoded
    }

    /// Adds received bytes. Call [`ChunkedDecoder::next_data`] until it gives `None` before
    /// feeding more, so that no more than a chunk is held.
    pub fn feed(&mut self, input: &[u8]) {
        self.buf.extend_from_slice(input);
    }

    /// The next chunk's verified data, `None` when more input is needed (or the body ended:
    /// see [`ChunkedDecoder::is_done`]). After an error, every call returns `None`.
    pub fn next_data(&mut self) -> Result<Option<Bytes>, ChunkedError> {
        let result = self.step();
        if result.is_err() {
            self.state = DecodeState::Failed;
            self.buf = BytesMut::new();
        }
        result
    }

    /// Checks that the input ended at the end of the body: an error when it was cut short. Call
    /// it at the end of the input, once [`ChunkedDecoder::next_data`] has given `None`: data it
    /// still holds is checked but not returned.
    pub fn finish(&mut self) -> Result<(), ChunkedError> {
        loop {
            match self.next_data() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(e) => return Err(e),
            }
        }
        match self.state {
            DecodeState::Done => Ok(()),
            DecodeState::Failed => Err(ChunkedError::Truncated { chunk: self.chunk }),
            _ => {
                self.state = DecodeState::Failed;
                Err(ChunkedError::Truncated { chunk: self.chunk })
            }
        }
    }

    fn malformed(&self, reason: &'static str) -> ChunkedError {
        ChunkedError::Malformed {
            chunk: self.chunk,
            reason,
        }
    }

    /// Takes one CRLF-terminated line out of the buffer (without the CRLF).
    fn line(&mut self) -> Result<Option<BytesMut>, ChunkedError> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(end) if end <= MAX_LINE => {
                let line = self.buf.split_to(end);
                self.buf.advance(2);
                Ok(Some(line))
            }
            Some(_) => Err(self.malformed("a line is too long")),
            None if self.buf.len() > MAX_LINE + 1 => Err(self.malformed("a line is too long")),
            None => Ok(None),
        }
    }

    fn step(&mut self) -> Result<Option<Bytes>, ChunkedError> {
        loop {
            match self.state {
                DecodeState::Failed => return Ok(None),
                DecodeState::Done => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    return Err(ChunkedError::TrailingBytes);
                }
                DecodeState::Header => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let (size, signature) = self.parse_header(&line)?;
                    if size == 0 {
                        if let Some(chain) = self.chain.as_mut() {
                            let want = chain.chunk(&Sha256::digest([]).into());
                            if !bool::from(want.ct_eq(&signature)) {
                                return Err(ChunkedError::ChunkSignatureDoesNotMatch {
                                    chunk: self.chunk,
                                });
                            }
                        }
                        if self.decoded != self.declared {
                            return Err(self.length_mismatch());
                        }
                        self.state = DecodeState::Trailer;
                        continue;
                    }
                    if size > self.max_chunk as u64 {
                        return Err(ChunkedError::ChunkTooLarge {
                            chunk: self.chunk,
                            size,
                            max: self.max_chunk,
                        });
                    }
                    if self.decoded + size > self.declared {
                        return Err(ChunkedError::DecodedLengthMismatch {
                            declared: self.declared,
                            actual: self.decoded + size,
                            at_least: true,
                        });
                    }
                    let len = size as usize;
                    self.buf.reserve((len + 2).saturating_sub(self.buf.len()));
                    self.state = DecodeState::Data { len, signature };
                }
                DecodeState::Data { len, signature } => {
                    if self.buf.len() < len + 2 {
                        return Ok(None);
                    }
                    if &self.buf[len..len + 2] != b"\r\n" {
                        return Err(self.malformed("chunk data is not followed by CRLF"));
                    }
                    let data = self.buf.split_to(len).freeze();
                    self.buf.advance(2);
                    if let Some(chain) = self.chain.as_mut() {
                        let want = chain.chunk(&Sha256::digest(&data).into());
                        if !bool::from(want.ct_eq(&signature)) {
                            return Err(ChunkedError::ChunkSignatureDoesNotMatch {
                                chunk: self.chunk,
                            });
                        }
                    }
                    if let Some(checksum) = &mut self.checksum {
                        checksum.update(&data);
                    }
                    self.decoded += len as u64;
                    self.chunk += 1;
                    self.state = DecodeState::Header;
                    return Ok(Some(data));
                }
                DecodeState::Trailer => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.check_trailer()?;
                        self.state = DecodeState::Done;
                        continue;
                    }
                    self.trailer_lines += 1;
                    if self.trailer_lines > MAX_TRAILER_LINES {
                        return Err(self.malformed("too many trailer lines"));
                    }
                    self.trailer.extend_from_slice(&line);
                    self.trailer.push(b'\n');
                }
            }
        }
    }

    fn length_mismatch(&self) -> ChunkedError {
        ChunkedError::DecodedLengthMismatch {
            declared: self.declared,
            actual: self.decoded,
            at_least: false,
        }
    }

    /// Reads `hex(size)[;chunk-signature=SIG]`.
    fn parse_header(&self, line: &[u8]) -> Result<(u64, [u8; 64]), ChunkedError> {
        let (size_text, rest) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, &[][..]),
        };
        if size_text.is_empty() || size_text.len() > 16 {
            return Err(self.malformed("the chunk size is not 1 to 16 hex digits"));
        }
        let mut size = 0u64;
        for &b in size_text {
            let digit = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.malformed("the chunk size is not hex"))?;
            size = (size << 4) | u64::from(digit);
        }
        let mut signature = [0u8; 64];
        if self.chain.is_some() {
            let sig = rest
                .strip_prefix(CHUNK_SIGNATURE)
                .ok_or_else(|| self.malformed("the chunk header has no chunk-signature"))?;
            if sig.len() != 64 {
                return Err(self.malformed("the chunk signature is not 64 hex digits"));
            }
            signature.copy_from_slice(sig);
        }
        Ok((size, signature))
    }

    /// Checks the trailer lines read: the checksum announced, and the trailer signature.
    fn check_trailer(&mut self) -> Result<(), ChunkedError> {
        let trailer = std::mem::take(&mut self.trailer);
        let text = String::from_utf8_lossy(&trailer);
        let mut sent_signature: Option<&str> = None;
        let mut fields: Vec<(String, &str)> = Vec::new();
        for line in text.lines() {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| self.malformed("a trailer line has no ':'"))?;
            let name = name.trim().to_ascii_lowercase();
            if name == TRAILER_SIGNATURE {
                sent_signature = Some(value.trim());
            } else {
                fields.push((name, value.trim()));
            }
        }
        let Some(algorithm) = self.mode.trailer() else {
            if trailer.is_empty() {
                return Ok(());
            }
            return Err(self.malformed("a trailer follows a body that announced none"));
        };
        if let Some(chain) = self.chain.as_mut() {
            let sent = sent_signature.ok_or(ChunkedError::MissingTrailer(TRAILER_SIGNATURE))?;
            fields.sort();
            let mut canonical = Vec::with_capacity(trailer.len());
            for (name, value) in &fields {
                canonical.extend_from_slice(name.as_bytes());
                canonical.push(b':');
                canonical.extend_from_slice(value.as_bytes());
                canonical.push(b'\n');
            }
            let want = chain.trailer(&canonical);
            if !bool::from(want.ct_eq(sent.as_bytes())) {
                return Err(ChunkedError::TrailerSignatureDoesNotMatch);
            }
        }
        let header = algorithm.header_name();
        let sent = fields
            .iter()
            .find(|(name, _)| name == header)
            .map(|(_, value)| *value)
            .ok_or(ChunkedError::MissingTrailer(header))?;
        let computed = self
            .checksum
            .take()
            .map(Checksum::finalize)
            .unwrap_or_default();
        if sent != computed {
            return Err(ChunkedError::ChecksumMismatch {
                header,
                sent: crate::error::shorten(sent),
                computed,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digit_counts() {
        for (v, n) in [(0, 1), (1, 1), (15, 1), (16, 2), (0x400, 3), (0x10000, 5)] {
            assert_eq!(hex_digits(v), n, "{v}");
        }
        assert_eq!(header_line(0x10000, None).as_bytes(), b"10000\r\n");
    }

    #[test]
    fn encoded_length_of_the_aws_example() {
        // 66560 bytes in 64 KiB chunks: AWS's Content-Length is 66824.
        assert_eq!(
            ChunkedPayload::Signed.encoded_length(66_560, 65_536),
            Some(66_824)
        );
        assert_eq!(ChunkedPayload::Signed.encoded_length(1, 0), None);
    }
}
