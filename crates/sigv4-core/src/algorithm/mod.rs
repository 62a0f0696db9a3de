//! The parts of a signing that depend on the algorithm: the credential scope, the string to
//! sign, the key (derivation and cache) and the encoding of the signature. One module per
//! algorithm; the canonical request, written once in `canonical`, is shared by all of them.
//!
//! - [`sigv4`]: `AWS4-HMAC-SHA256`, an HMAC key derived per (secret, date, region, service).
//! - `sigv4a` (feature `sigv4a`): `AWS4-ECDSA-P256-SHA256`, an ECDSA P-256 key derived once per
//!   access key, a region set instead of one region.

use std::fmt;

use crate::canonical::encode_into;
use crate::credentials::Credentials;
use crate::time::AmzDate;

mod cache;
pub(crate) mod sigv4;
#[cfg(feature = "sigv4a")]
pub(crate) mod sigv4a;

/// The signature algorithm of a signing or of a signed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `AWS4-HMAC-SHA256`: SigV4, scoped to one region.
    #[default]
    SigV4,
    /// `AWS4-ECDSA-P256-SHA256`: SigV4a, valid in a set of regions (`X-Amz-Region-Set`), signed
    /// with an ECDSA P-256 key derived from the secret (feature `sigv4a`).
    #[cfg(feature = "sigv4a")]
    SigV4a,
}

impl Algorithm {
    /// The name as written in `Authorization` and `X-Amz-Algorithm`.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::SigV4 => sigv4::NAME,
            #[cfg(feature = "sigv4a")]
            Algorithm::SigV4a => sigv4a::NAME,
        }
    }

    /// The algorithm with this name, if this build knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            sigv4::NAME => Some(Algorithm::SigV4),
            #[cfg(feature = "sigv4a")]
            sigv4a::NAME => Some(Algorithm::SigV4a),
            _ => None,
        }
    }

    /// True when the signing names a region set (`X-Amz-Region-Set`) rather than a region in
    /// its credential scope.
    pub const fn uses_region_set(self) -> bool {
        match self {
            Algorithm::SigV4 => false,
            #[cfg(feature = "sigv4a")]
            Algorithm::SigV4a => true,
        }
    }

    /// Appends the credential scope: `date/region/service/aws4_request` (SigV4) or
    /// `date/service/aws4_request` (SigV4a, the regions are in the region set).
    pub(crate) fn write_scope(self, out: &mut Vec<u8>, date: &str, region: &str, service: &str) {
        let verbatim = |out: &mut Vec<u8>, part: &[u8]| out.extend_from_slice(part);
        self.write_scope_with(out, date, region, service, b"/", verbatim);
    }

    /// Appends the credential scope percent-encoded (`/` as `%2F`), as `X-Amz-Credential`
    /// holds it in a presigned URL.
    pub(crate) fn write_scope_encoded(
        self,
        out: &mut Vec<u8>,
        date: &str,
        region: &str,
        service: &str,
    ) {
        self.write_scope_with(out, date, region, service, b"%2F", encode_into);
    }

    fn write_scope_with(
        self,
        out: &mut Vec<u8>,
        date: &str,
        region: &str,
        service: &str,
        separator: &[u8],
        part: fn(&mut Vec<u8>, &[u8]),
    ) {
        let writer = ScopeWriter {
            out,
            separator,
            part,
        };
        match self {
            Algorithm::SigV4 => sigv4::write_scope(writer, date, region, service),
            #[cfg(feature = "sigv4a")]
            Algorithm::SigV4a => sigv4a::write_scope(writer, date, service),
        }
    }

    /// Appends the string to sign: the name, the time, the scope (written by `scope`) and the
    /// hex hash of the canonical request, one per line.
    fn write_string_to_sign(
        self,
        out: &mut Vec<u8>,
        date: &AmzDate,
        canonical_hash: &[u8; 32],
        scope: impl FnOnce(&mut Vec<u8>),
    ) {
        out.extend_from_slice(self.name().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(date.as_bytes());
        out.push(b'\n');
        scope(out);
        out.push(b'\n');
        out.extend_from_slice(&sigv4::hex(canonical_hash));
    }
}

/// The longest signature text: a DER-encoded ECDSA P-256 signature (at most 72 bytes) in hex.
const MAX_SIGNATURE: usize = 144;

/// A hex-encoded signature, held on the stack: 64 digits for SigV4, the DER-encoded ECDSA
/// signature (up to 144 digits) for SigV4a.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    text: [u8; MAX_SIGNATURE],
    len: u8,
}

impl Signature {
    /// No digits (a placeholder until a signing sets it).
    pub(crate) const EMPTY: Signature = Signature {
        text: [0; MAX_SIGNATURE],
        len: 0,
    };

    /// The hex digits (lower-case).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }

    /// Reads a signature's hex digits (as an aws-chunked seed kept from signing the head, say):
    /// 64 digits (SigV4) or an even number up to 144 (SigV4a); `None` for anything else.
    /// Upper-case digits are lower-cased.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_SIGNATURE
            && bytes.len() % 2 == 0
            && bytes.iter().all(u8::is_ascii_hexdigit);
        ok.then(|| Self::from_text(&bytes.to_ascii_lowercase()))
    }

    /// A signature from hex digits of a length known when compiling (SigV4's 64): copied
    /// without a call to `memcpy`.
    pub(crate) fn from_digits<const N: usize>(hex: &[u8; N]) -> Self {
        const { assert!(N <= MAX_SIGNATURE) };
        let mut text = [0u8; MAX_SIGNATURE];
        text[..N].copy_from_slice(hex);
        Signature { text, len: N as u8 }
    }

    /// A signature from its hex text (at most [`MAX_SIGNATURE`] bytes, longer is cut).
    pub(crate) fn from_text(hex: &[u8]) -> Self {
        let len = hex.len().min(MAX_SIGNATURE);
        let mut text = [0u8; MAX_SIGNATURE];
        text[..len].copy_from_slice(&hex[..len]);
        Signature {
            text,
            len: len as u8,
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.as_str())
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key caches of every algorithm, shared by the clones of a `Signer`.
pub(crate) struct Keys {
    v4: sigv4::KeyCache,
    #[cfg(feature = "sigv4a")]
    v4a: sigv4a::KeyCache,
}

impl Keys {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            v4: sigv4::KeyCache::new(capacity),
            #[cfg(feature = "sigv4a")]
            v4a: sigv4a::KeyCache::new(capacity),
        }
    }

    /// How many derived keys the caches hold.
    pub(crate) fn len(&self) -> usize {
        #[cfg(feature = "sigv4a")]
        let v4a = self.v4a.len();
        #[cfg(not(feature = "sigv4a"))]
        let v4a = 0;
        self.v4.len() + v4a
    }

    /// The SigV4 signing key for this secret and scope, from the cache or derived (the
    /// streaming signers chain their chunk and message signatures with it).
    pub(crate) fn v4_key(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> std::sync::Arc<sigv4::SigningKey> {
        self.v4.get(secret, date, region, service)
    }

    /// Appends the string to sign of a canonical request hashed to `canonical_hash` (at the end
    /// of `buf`) and signs it with the key of `credentials` for this scope.
    pub(crate) fn sign(
        &self,
        algorithm: Algorithm,
        credentials: &Credentials,
        scope: &Scope<'_>,
        string_to_sign: StringToSign<'_>,
        buf: &mut Vec<u8>,
    ) -> Signature {
        self.with_string_to_sign(
            algorithm,
            credentials,
            scope,
            string_to_sign,
            buf,
            |key, sts| match key {
                KeyRef::V4(key) => Signature::from_digits(&key.sign(sts)),
                #[cfg(feature = "sigv4a")]
                KeyRef::V4a(pair) => pair.sign(sts),
            },
        )
    }

    /// True when `claimed` (hex, lower-case) is the signature, by the key of `credentials` for
    /// this scope, of the string to sign of a canonical request hashed to `canonical_hash`
    /// (appended to `buf`). SigV4 compares in constant time; SigV4a verifies the ECDSA
    /// signature with the public key derived from the secret.
    pub(crate) fn check(
        &self,
        algorithm: Algorithm,
        credentials: &Credentials,
        scope: &Scope<'_>,
        string_to_sign: StringToSign<'_>,
        buf: &mut Vec<u8>,
        claimed: &[u8],
    ) -> bool {
        self.with_string_to_sign(
            algorithm,
            credentials,
            scope,
            string_to_sign,
            buf,
            |key, sts| match key {
                KeyRef::V4(key) => crate::verify::constant_time_eq(&key.sign(sts), claimed),
                #[cfg(feature = "sigv4a")]
                KeyRef::V4a(pair) => pair.verify(sts, claimed),
            },
        )
    }

    /// Finds the key, appends the string to sign to `buf` (the SigV4 scope copied from the
    /// cached key) and hands both to `with`.
    fn with_string_to_sign<R>(
        &self,
        algorithm: Algorithm,
        credentials: &Credentials,
        scope: &Scope<'_>,
        string_to_sign: StringToSign<'_>,
        buf: &mut Vec<u8>,
        with: impl FnOnce(KeyRef<'_>, &[u8]) -> R,
    ) -> R {
        let StringToSign {
            date,
            canonical_hash,
        } = string_to_sign;
        let start = buf.len();
        match algorithm {
            Algorithm::SigV4 => self.v4.with(
                credentials.secret_access_key(),
                scope.date,
                scope.region,
                scope.service,
                |key| {
                    algorithm.write_string_to_sign(buf, date, canonical_hash, |out| {
                        out.extend_from_slice(key.scope())
                    });
                    with(KeyRef::V4(key), &buf[start..])
                },
            ),
            #[cfg(feature = "sigv4a")]
            Algorithm::SigV4a => {
                algorithm.write_string_to_sign(buf, date, canonical_hash, |out| {
                    algorithm.write_scope(out, scope.date, scope.region, scope.service)
                });
                with(KeyRef::V4a(&self.v4a.get(credentials)), &buf[start..])
            }
        }
    }

    /// The SigV4a key pair of `credentials`, from the cache or derived.
    #[cfg(feature = "sigv4a")]
    pub(crate) fn sigv4a(&self, credentials: &Credentials) -> std::sync::Arc<sigv4a::KeyPair> {
        self.v4a.get(credentials)
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Keys");
        s.field("sigv4", &self.v4);
        #[cfg(feature = "sigv4a")]
        s.field("sigv4a", &self.v4a);
        s.finish()
    }
}

/// The time and canonical-request hash a string to sign is made of (besides the scope).
#[derive(Clone, Copy)]
pub(crate) struct StringToSign<'a> {
    pub(crate) date: &'a AmzDate,
    pub(crate) canonical_hash: &'a [u8; 32],
}

/// The key a signing found, of either algorithm.
enum KeyRef<'a> {
    V4(&'a sigv4::SigningKey),
    #[cfg(feature = "sigv4a")]
    V4a(&'a sigv4a::KeyPair),
}

/// The scope a key is derived for: the date (`YYYYMMDD`), the region (SigV4) or region set
/// (SigV4a, not part of its key) and the service.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

/// Writes the parts of a credential scope, separated, each as it is or percent-encoded.
pub(crate) struct ScopeWriter<'a> {
    out: &'a mut Vec<u8>,
    separator: &'a [u8],
    part: fn(&mut Vec<u8>, &[u8]),
}

impl ScopeWriter<'_> {
    /// Appends the parts, separated, then the `aws4_request` terminator.
    pub(crate) fn parts(self, parts: &[&str]) {
        for part in parts {
            (self.part)(self.out, part.as_bytes());
            self.out.extend_from_slice(self.separator);
        }
        self.out.extend_from_slice(b"aws4_request");
    }
}
