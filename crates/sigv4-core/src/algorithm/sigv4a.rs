//! SigV4a (`AWS4-ECDSA-P256-SHA256`): the credential scope without a region, the ECDSA P-256
//! key derived from the secret (once per access key, cached), and the DER-encoded signature in
//! hex.
//!
//! The key derivation is AWS's: NIST SP 800-108 KDF in counter mode with HMAC-SHA256, keyed by
//! `"AWS4A" + secret`, label `AWS4-ECDSA-P256-SHA256`, context = access key id + a one-byte
//! counter, 256 bits out. The output read as a big-endian number is a candidate: if it is at
//! most n − 2 (n the order of P-256), the private key is candidate + 1; otherwise the counter
//! goes up and the next candidate is tried (a one-in-2³² event).

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use sha2::Sha256;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use super::cache::BoundedCache;
use super::Signature;
use crate::credentials::Credentials;

/// The algorithm's name (also the KDF's label).
pub(crate) const NAME: &str = "AWS4-ECDSA-P256-SHA256";

/// Writes the credential scope `date/service/aws4_request` (the regions are in the region set).
pub(crate) fn write_scope(out: super::ScopeWriter<'_>, date: &str, service: &str) {
    out.parts(&[date, service]);
}

/// The order n of P-256, minus 2, big-endian.
const N_MINUS_2: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x4f,
];

/// The counter stops here (AWS's bound); reaching it has probability about 2^-8000.
const MAX_COUNTER: u8 = 254;

/// Why no key could be derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoKey;

/// Derives the SigV4a private key of an access key id and secret (AWS's counter-mode KDF).
pub(crate) fn derive_signing_key(access_key_id: &str, secret: &str) -> Result<SigningKey, NoKey> {
    let mut input_key = Zeroizing::new(Vec::with_capacity(5 + secret.len()));
    input_key.extend_from_slice(b"AWS4A");
    input_key.extend_from_slice(secret.as_bytes());
    let keyed = Hmac::<Sha256>::new_from_slice(&input_key).map_err(|_| NoKey)?;
    for counter in 1..=MAX_COUNTER {
        // Fixed input: i = 1 (32 bits), label, 0x00, context (access key id, counter), L = 256.
        let mut mac = keyed.clone();
        mac.update(&1u32.to_be_bytes());
        mac.update(NAME.as_bytes());
        mac.update(&[0]);
        mac.update(access_key_id.as_bytes());
        mac.update(&[counter]);
        mac.update(&256u32.to_be_bytes());
        let mut candidate = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        if at_most(&candidate, &N_MINUS_2) {
            add_one(&mut candidate);
            return SigningKey::from_bytes(p256::FieldBytes::from_slice(&candidate[..]))
                .map_err(|_| NoKey);
        }
    }
    Err(NoKey)
}

/// `a <= b` for big-endian numbers of the same length, in time independent of their values.
fn at_most(a: &[u8; 32], b: &[u8; 32]) -> bool {
    // b - a borrows exactly when a > b.
    let mut borrow = 0u16;
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        let diff = u16::from(*y)
            .wrapping_sub(u16::from(*x))
            .wrapping_sub(borrow);
        borrow = (diff >> 8) & 1;
    }
    bool::from(borrow.ct_eq(&0))
}

/// Adds one to a big-endian number (no overflow: the number is at most n − 2).
fn add_one(n: &mut [u8; 32]) {
    let mut carry = 1u16;
    for byte in n.iter_mut().rev() {
        let sum = u16::from(*byte) + carry;
        *byte = sum as u8;
        carry = u16::conditional_select(&0, &1, (sum >> 8).ct_eq(&1));
    }
}

/// A derived key pair, with what it was derived from (to find it in the cache). The secret and
/// the private key are wiped on drop and never shown.
pub(crate) struct KeyPair {
    access_key_id: Box<str>,
    secret: Zeroizing<String>,
    signing: Option<SigningKey>,
    verifying: Option<VerifyingKey>,
}

impl KeyPair {
    fn derive(access_key_id: &str, secret: &str) -> Self {
        let signing = derive_signing_key(access_key_id, secret).ok();
        let verifying = signing.as_ref().map(|k| *k.verifying_key());
        KeyPair {
            access_key_id: access_key_id.into(),
            secret: Zeroizing::new(secret.to_owned()),
            signing,
            verifying,
        }
    }

    fn matches(&self, access_key_id: &str, secret: &str) -> bool {
        *self.access_key_id == *access_key_id && self.secret.as_str() == secret
    }

    /// The ECDSA signature (SHA-256 of `string_to_sign`, RFC 6979 nonce), DER-encoded, in hex.
    /// Empty when no key could be derived (never seen in practice).
    pub(crate) fn sign(&self, string_to_sign: &[u8]) -> Signature {
        let Some(key) = &self.signing else {
            return Signature::from_text(b"");
        };
        let signature: EcdsaSignature = key.sign(string_to_sign);
        let mut der = [0u8; 72];
        let len = encode_der(&signature, &mut der);
        let mut text = [0u8; 144];
        for (i, b) in der[..len].iter().enumerate() {
            text[2 * i] = HEX[usize::from(b >> 4)];
            text[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        Signature::from_text(&text[..2 * len])
    }

    /// True when `signature_hex` is a DER-encoded ECDSA signature of `string_to_sign` by this
    /// key.
    pub(crate) fn verify(&self, string_to_sign: &[u8], signature_hex: &[u8]) -> bool {
        self.verifying
            .as_ref()
            .is_some_and(|key| verify_with(key, string_to_sign, signature_hex))
    }

    /// The public key, SEC1 uncompressed (`04 || X || Y`).
    pub(crate) fn public_key(&self) -> Option<[u8; 65]> {
        let point = self.verifying.as_ref()?.to_encoded_point(false);
        point.as_bytes().try_into().ok()
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn verify_with(key: &VerifyingKey, string_to_sign: &[u8], signature_hex: &[u8]) -> bool {
    let mut der = [0u8; 72];
    if signature_hex.len() % 2 != 0 || signature_hex.len() > 2 * der.len() {
        return false;
    }
    for (i, pair) in signature_hex.chunks_exact(2).enumerate() {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(hi), Some(lo)) => der[i] = hi << 4 | lo,
            _ => return false,
        }
    }
    let Some(signature) = decode_der(&der[..signature_hex.len() / 2]) else {
        return false;
    };
    key.verify(string_to_sign, &signature).is_ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Writes `SEQUENCE { INTEGER r, INTEGER s }` (DER: minimal integers, a zero byte before a high
/// bit) into `out`; returns its length (at most 72).
fn encode_der(signature: &EcdsaSignature, out: &mut [u8; 72]) -> usize {
    let (r, s) = signature.split_bytes();
    let mut len = 2;
    for int in [&r[..], &s[..]] {
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len() - 1);
        let digits = &int[start..];
        let pad = usize::from(digits[0] >= 0x80);
        out[len] = 0x02;
        out[len + 1] = (digits.len() + pad) as u8;
        out[len + 2] = 0;
        out[len + 2 + pad..len + 2 + pad + digits.len()].copy_from_slice(digits);
        len += 2 + pad + digits.len();
    }
    out[0] = 0x30;
    out[1] = (len - 2) as u8;
    len
}

/// Reads a DER `SEQUENCE { INTEGER r, INTEGER s }` strictly (short lengths, minimal positive
/// integers of at most 32 bytes, nothing after). `None` for anything else.
fn decode_der(der: &[u8]) -> Option<EcdsaSignature> {
    let (&tag, rest) = der.split_first()?;
    let (&len, mut body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let mut ints = [[0u8; 32]; 2];
    for int in &mut ints {
        let (&tag, rest) = body.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if tag != 0x02 || len == 0 || len > rest.len() {
            return None;
        }
        let (digits, after) = rest.split_at(len);
        // Positive and minimal: no high bit first; a leading zero only before a high bit.
        if digits[0] >= 0x80 || (digits[0] == 0 && digits.get(1).is_none_or(|&b| b < 0x80)) {
            return None;
        }
        let digits = if digits[0] == 0 { &digits[1..] } else { digits };
        if digits.len() > 32 {
            return None;
        }
        int[32 - digits.len()..].copy_from_slice(digits);
        body = after;
    }
    if !body.is_empty() {
        return None;
    }
    EcdsaSignature::from_scalars(
        p256::FieldBytes::from(ints[0]),
        p256::FieldBytes::from(ints[1]),
    )
    .ok()
}

/// The SigV4a key cache, keyed by (access key id, secret): one derivation per access key.
pub(crate) struct KeyCache(BoundedCache<KeyPair>);

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(BoundedCache::new(capacity))
    }

    pub(crate) fn get(&self, credentials: &Credentials) -> Arc<KeyPair> {
        let (akid, secret) = (credentials.access_key_id(), credentials.secret_access_key());
        self.0.get(
            |k| k.matches(akid, secret),
            || KeyPair::derive(akid, secret),
        )
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The SigV4a public key of an access key id and secret: SEC1 uncompressed (`04 || X || Y`,
/// 65 bytes). `None` only if no key can be derived (a probability of about 2^-8000).
///
/// ```
/// // aws-c-auth's SigV4a test suite: the key of AKIDEXAMPLE and the documentation's secret.
/// let key = sigv4_core::sigv4a::public_key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
///     .unwrap();
/// assert_eq!(key[0], 0x04);
/// assert_eq!(&key[1..5], &[0xb6, 0x61, 0x8f, 0x6a]);
/// ```
pub fn public_key(access_key_id: &str, secret_access_key: &str) -> Option<[u8; 65]> {
    KeyPair::derive(access_key_id, secret_access_key).public_key()
}

/// Checks a SigV4a signature (DER-encoded ECDSA, hex) of a string to sign against a public key
/// given in SEC1 form (uncompressed or compressed): what a server that holds only public keys
/// does. False for a malformed key or signature.
pub fn verify_with_public_key(
    public_key: &[u8],
    string_to_sign: &[u8],
    signature_hex: &str,
) -> bool {
    VerifyingKey::from_sec1_bytes(public_key)
        .is_ok_and(|key| verify_with(&key, string_to_sign, signature_hex.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_and_increment() {
        let mut a = [0u8; 32];
        assert!(at_most(&a, &N_MINUS_2));
        assert!(at_most(&N_MINUS_2, &N_MINUS_2));
        let mut above = N_MINUS_2;
        add_one(&mut above);
        assert!(!at_most(&above, &N_MINUS_2));
        a[31] = 0xff;
        add_one(&mut a);
        assert_eq!(&a[30..], &[1, 0]);
    }

    #[test]
    fn der_round_trip_and_strictness() {
        let key = derive_signing_key("AKID", "secret").unwrap();
        for msg in [&b"a"[..], b"b", b"c", b"d"] {
            let sig: EcdsaSignature = key.sign(msg);
            let mut der = [0u8; 72];
            let len = encode_der(&sig, &mut der);
            assert_eq!(decode_der(&der[..len]), Some(sig));
            // A trailing byte, a long-form length, a wrong tag: refused.
            assert_eq!(decode_der(&der[..len - 1]), None);
            let mut bad = der;
            bad[0] = 0x31;
            assert_eq!(decode_der(&bad[..len]), None);
        }
        // A non-minimal integer (a zero before a low byte).
        assert_eq!(decode_der(&[0x30, 6, 2, 2, 0, 1, 2, 1, 1]), None);
    }

    #[test]
    fn debug_shows_no_secret() {
        let pair = KeyPair::derive("AKID", "very-secret-value");
        let shown = format!("{pair:?}");
        assert!(shown.contains("AKID") && !shown.contains("very-secret"));
    }
}
