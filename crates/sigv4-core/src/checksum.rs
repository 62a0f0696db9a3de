//! S3's flexible checksums: `x-amz-checksum-crc32`, `-crc32c` and `-sha256`, computed
//! incrementally and written base64-encoded, as S3 expects them in a header or an aws-chunked
//! trailer.
//!
//! ```
//! use sigv4_core::checksum::{Checksum, ChecksumAlgorithm};
//!
//! let mut crc = Checksum::new(ChecksumAlgorithm::Crc32c);
//! crc.update(b"Hello ");
//! crc.update(b"world");
//! // Checksums are big-endian bytes, base64-encoded.
//! assert_eq!(crc.finalize(), "crUfeA==");
//! assert_eq!(ChecksumAlgorithm::Crc32c.header_name(), "x-amz-checksum-crc32c");
//! ```

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A checksum algorithm S3 accepts in `x-amz-checksum-*` headers and trailers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// CRC-32 (IEEE), `x-amz-checksum-crc32`.
    Crc32,
    /// CRC-32C (Castagnoli), `x-amz-checksum-crc32c`.
    Crc32c,
    /// SHA-256, `x-amz-checksum-sha256`.
    Sha256,
}

impl ChecksumAlgorithm {
    /// The header (or trailer) that carries the checksum: `x-amz-checksum-crc32`, ...
    pub const fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The name S3 uses in `x-amz-sdk-checksum-algorithm` (`CRC32`, `CRC32C`, `SHA256`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The length of the base64 value: 8 for the CRCs (4 bytes), 44 for SHA-256 (32 bytes).
    pub const fn encoded_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 8,
            ChecksumAlgorithm::Sha256 => 44,
        }
    }

    /// The algorithm whose header is `name` (compared ASCII case-insensitively).
    pub fn from_header_name(name: &str) -> Option<Self> {
        [Self::Crc32, Self::Crc32c, Self::Sha256]
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checksum algorithm name that is not `CRC32`, `CRC32C` or `SHA256`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown checksum algorithm {0:?}: use CRC32, CRC32C or SHA256")]
pub struct UnknownChecksumAlgorithm(pub String);

impl FromStr for ChecksumAlgorithm {
    type Err = UnknownChecksumAlgorithm;

    /// Reads `CRC32`, `CRC32C`, `SHA256` (any case) or a header name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Crc32, Self::Crc32c, Self::Sha256]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .or_else(|| Self::from_header_name(s))
            .ok_or_else(|| UnknownChecksumAlgorithm(crate::error::shorten(s)))
    }
}

/// A checksum being computed: feed it the bytes with [`Checksum::update`], then read the base64
/// value with [`Checksum::finalize`].
#[derive(Clone)]
pub struct Checksum {
    state: State,
}

#[derive(Clone)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha256(Sha256),
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checksum")
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

impl Checksum {
    /// A checksum of nothing yet.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Sha256 => State::Sha256(Sha256::new()),
        };
        Self { state }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            State::Crc32(_) => ChecksumAlgorithm::Crc32,
            State::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            State::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    /// Adds `bytes` to the checksum.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(bytes),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, bytes),
            State::Sha256(h) => h.update(bytes),
        }
    }

    /// The checksum, base64-encoded (big-endian bytes for the CRCs), as S3 writes it.
    pub fn finalize(self) -> String {
        match self.state {
            State::Crc32(h) => base64(&h.finalize().to_be_bytes()),
            State::Crc32c(crc) => base64(&crc.to_be_bytes()),
            State::Sha256(h) => base64(&h.finalize()),
        }
    }
}

/// The checksum of `bytes` in one call, base64-encoded.
pub fn checksum(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> String {
    let mut c = Checksum::new(algorithm);
    c.update(bytes);
    c.finalize()
}

/// Standard base64 with padding (RFC 4648 section 4): only small values are encoded here (a CRC or
/// a digest), so a dependency would weigh more than these lines.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648, section 10.
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn check_values_of_the_crc_catalogue() {
        // The "check" values of the CRC catalogue (CRC-32/ISO-HDLC 0xCBF43926, CRC-32/ISCSI
        // 0xE3069283) for "123456789".
        assert_eq!(
            checksum(ChecksumAlgorithm::Crc32, b"123456789"),
            base64(&0xCBF4_3926u32.to_be_bytes())
        );
        assert_eq!(
            checksum(ChecksumAlgorithm::Crc32c, b"123456789"),
            base64(&0xE306_9283u32.to_be_bytes())
        );
        // SHA-256 of "abc" (FIPS 180-2 example), base64.
        assert_eq!(
            checksum(ChecksumAlgorithm::Sha256, b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Sha256,
        ] {
            let mut c = Checksum::new(alg);
            for part in data.chunks(333) {
                c.update(part);
            }
            let value = c.finalize();
            assert_eq!(value, checksum(alg, &data));
            assert_eq!(value.len(), alg.encoded_len());
        }
    }

    #[test]
    fn names_parse() {
        assert_eq!("crc32c".parse(), Ok(ChecksumAlgorithm::Crc32c));
        assert_eq!(
            "x-amz-checksum-sha256".parse(),
            Ok(ChecksumAlgorithm::Sha256)
        );
        assert!("md5".parse::<ChecksumAlgorithm>().is_err());
    }
}
