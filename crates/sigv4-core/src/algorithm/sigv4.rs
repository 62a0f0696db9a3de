//! SigV4 (`AWS4-HMAC-SHA256`): the credential scope, signing-key derivation and the small
//! bounded cache that makes it a once-a-day cost, and the hex HMAC signature.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::digest::generic_array::GenericArray;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::cache::BoundedCache;

type HmacSha256 = Hmac<Sha256>;

/// The algorithm's name.
pub(crate) const NAME: &str = "AWS4-HMAC-SHA256";

/// Writes the credential scope `date/region/service/aws4_request`.
pub(crate) fn write_scope(out: super::ScopeWriter<'_>, date: &str, region: &str, service: &str) {
    out.parts(&[date, region, service]);
}

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cold]
fn unreachable_hmac() -> ! {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

/// Derives `kSigning` from the secret and scope:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// ```
/// // The example from AWS's documentation.
/// let key = sigv4_core::derive_signing_key(
///     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
/// assert!(key.starts_with(&[0xf4, 0x78, 0x0e, 0x2d]));
/// ```
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + secret.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = Zeroizing::new(hmac(&k_secret, date.as_bytes()));
    let k_region = Zeroizing::new(hmac(&*k_date, region.as_bytes()));
    let k_service = Zeroizing::new(hmac(&*k_region, service.as_bytes()));
    hmac(&*k_service, b"aws4_request")
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// One SHA-256 compression of `block` into `state` (`sha2`'s own, with its SHA-NI path).
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// The SHA-256 digest of a message whose first `done` whole blocks `state` has absorbed and
/// whose remaining bytes are `rest`: the rest's whole blocks, then the padded tail (the
/// message's length in bits last, FIPS 180-4, 5.1.1).
fn sha256_finish(mut state: [u32; 8], done: u64, rest: &[u8]) -> [u8; 32] {
    let mut blocks = rest.chunks_exact(64);
    for block in blocks.by_ref() {
        if let Ok(block) = block.try_into() {
            compress(&mut state, block);
        }
    }
    let tail = blocks.remainder();
    let bits = done
        .wrapping_mul(64)
        .wrapping_add(rest.len() as u64)
        .wrapping_mul(8);
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let end = if tail.len() < 56 { 64 } else { 128 };
    last[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    for block in last[..end].chunks_exact(64) {
        if let Ok(block) = block.try_into() {
            compress(&mut state, block);
        }
    }
    let mut digest = [0u8; 32];
    for (bytes, word) in digest.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// A SHA-256 state after whole blocks that depend on a key; wiped on drop.
#[derive(Clone)]
struct KeyedState([u32; 8]);

impl Drop for KeyedState {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// HMAC-SHA256 under one 32-byte key (RFC 2104: `H((K ^ opad) || H((K ^ ipad) || m))`), with
/// the states after the key's two pad blocks computed once. Signing then copies a 32-byte
/// state rather than cloning `hmac`'s keyed hashers, and the states are wiped on drop (which
/// `hmac` 0.12 does not offer). Checked against `hmac` by `first_block_reuse_is_plain_hmac`.
struct PreKeyed {
    inner: KeyedState,
    outer: KeyedState,
}

impl PreKeyed {
    fn new(key: &[u8; 32]) -> Self {
        let mut pads = Zeroizing::new([[0x36u8; 64], [0x5cu8; 64]]);
        for (i, &k) in key.iter().enumerate() {
            pads[0][i] ^= k;
            pads[1][i] ^= k;
        }
        let (mut inner, mut outer) = (SHA256_IV, SHA256_IV);
        compress(&mut inner, &pads[0]);
        compress(&mut outer, &pads[1]);
        PreKeyed {
            inner: KeyedState(inner),
            outer: KeyedState(outer),
        }
    }

    /// The MAC of a message of which the inner state `after` has absorbed `blocks` whole
    /// blocks (the pad block among them) and `rest` follows.
    fn finish(&self, after: &KeyedState, blocks: u64, rest: &[u8]) -> [u8; 32] {
        let inner = sha256_finish(after.0, blocks, rest);
        sha256_finish(self.outer.0, 1, &inner)
    }
}

/// A derived key with its HMAC states keyed once, so signing is one short SHA-256 on each
/// side, and its credential scope written once.
pub(crate) struct SigningKey {
    secret: Zeroizing<String>,
    date: [u8; 8],
    region: Box<str>,
    service: Box<str>,
    scope: Box<[u8]>,
    mac: PreKeyed,
    /// Tells this key from every other one made in this process (for [`FIRST_BLOCK`]).
    id: u64,
}

/// Where [`SigningKey`] ids come from; never reused, so a freed key's id cannot match a new one.
static NEXT_KEY_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The inner HMAC state of the last key that signed on this thread, after the first 64
    /// bytes of its string to sign. Those bytes (the algorithm, the time to the second, the
    /// start of the scope) are the same for every signing with one key within one second, so
    /// a busy client compresses one block fewer per signing. Wiped when replaced.
    static FIRST_BLOCK: RefCell<Option<(u64, [u8; 64], KeyedState)>> =
        const { RefCell::new(None) };
}

impl SigningKey {
    fn new(secret: &str, date: &str, region: &str, service: &str) -> Self {
        let key = Zeroizing::new(derive_signing_key(secret, date, region, service));
        let mut d = [0u8; 8];
        let n = date.len().min(8);
        d[..n].copy_from_slice(&date.as_bytes()[..n]);
        let mut scope = Vec::with_capacity(date.len() + region.len() + service.len() + 15);
        super::Algorithm::SigV4.write_scope(&mut scope, date, region, service);
        SigningKey {
            secret: Zeroizing::new(secret.to_owned()),
            scope: scope.into_boxed_slice(),
            id: NEXT_KEY_ID.fetch_add(1, Ordering::Relaxed),
            date: d,
            region: region.into(),
            service: service.into(),
            mac: PreKeyed::new(&key),
        }
    }

    fn matches(&self, secret: &str, date: &str, region: &str, service: &str) -> bool {
        date.as_bytes() == self.date
            && *self.region == *region
            && *self.service == *service
            && self.secret.as_str() == secret
    }

    /// The credential scope the key is derived for: `date/region/service/aws4_request`.
    pub(crate) fn scope(&self) -> &[u8] {
        &self.scope
    }

    /// `hex(HMAC(kSigning, data))` into a stack buffer.
    pub(crate) fn sign(&self, data: &[u8]) -> [u8; 64] {
        let mac = match data.split_first_chunk::<64>() {
            Some((first, rest)) => self.mac.finish(&self.after_first_block(first), 2, rest),
            None => self.mac.finish(&self.mac.inner, 1, data),
        };
        hex(&mac)
    }

    /// The inner HMAC state after `first`: from this thread's [`FIRST_BLOCK`] when it holds
    /// this key and block, else computed (and kept there).
    fn after_first_block(&self, first: &[u8; 64]) -> KeyedState {
        let compute = || {
            let mut state = self.mac.inner.clone();
            compress(&mut state.0, first);
            state
        };
        let cached = FIRST_BLOCK.try_with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            match &*slot {
                Some((id, block, state)) if *id == self.id && block == first => Some(state.clone()),
                _ => {
                    let state = compute();
                    *slot = Some((self.id, *first, state.clone()));
                    Some(state)
                }
            }
        });
        cached.ok().flatten().unwrap_or_else(compute)
    }
}

/// Lower-case hex of a 32-byte digest: one table lookup per byte (two digits at a time).
pub(crate) fn hex(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    out
}

/// The two lower-case hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [HEX[b >> 4], HEX[b & 15]];
        b += 1;
    }
    table
};

/// The SigV4 key cache, keyed by (secret, date, region, service).
pub(crate) struct KeyCache(BoundedCache<SigningKey>);

impl KeyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self(BoundedCache::new(capacity))
    }

    pub(crate) fn get(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> Arc<SigningKey> {
        self.0.get(
            |k| k.matches(secret, date, region, service),
            || SigningKey::new(secret, date, region, service),
        )
    }

    /// Runs `f` with the key for this secret and scope (from the cache or derived), without
    /// taking a reference count on it.
    #[inline]
    pub(crate) fn with<R>(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
        f: impl FnOnce(&SigningKey) -> R,
    ) -> R {
        self.0.with(
            |k| k.matches(secret, date, region, service),
            || SigningKey::new(secret, date, region, service),
            f,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_documented_key() {
        // From AWS's "Examples of how to derive a signing key for Signature Version 4".
        let key = derive_signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            &hex(&key)[..],
            b"f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// Signing through the per-thread first-block state gives plain HMAC-SHA256, whether the
    /// state is reused (same key, same first block), replaced (another block, another key with
    /// the same block) or not used (shorter than a block).
    #[test]
    fn first_block_reuse_is_plain_hmac() {
        let keys = [
            SigningKey::new("secret-a", "20240101", "us-east-1", "execute-api"),
            SigningKey::new("secret-b", "20240101", "us-east-1", "execute-api"),
        ];
        let derived = [
            derive_signing_key("secret-a", "20240101", "us-east-1", "execute-api"),
            derive_signing_key("secret-b", "20240101", "us-east-1", "execute-api"),
        ];
        let first = [b'a'; 64];
        let other = [b'b'; 64];
        let mut data = Vec::new();
        for (round, (key, prefix, tail)) in [
            (0, &first[..], &b"one"[..]),
            (0, &first[..], &b"two"[..]),
            (1, &first[..], &b"two"[..]),
            (0, &first[..], &b"three"[..]),
            (0, &other[..], &b"three"[..]),
            (0, &other[..], &b""[..]),
            (1, &first[..40], &b""[..]),
            (0, &first[..], &[b'x'; 200][..]),
        ]
        .into_iter()
        .enumerate()
        {
            data.clear();
            data.extend_from_slice(prefix);
            data.extend_from_slice(tail);
            assert_eq!(
                keys[key].sign(&data),
                hex(&hmac(&derived[key], &data)),
                "round {round}"
            );
        }
        // Every length from empty to four blocks: the padding alone in the last block, split
        // over two (a tail of 56 to 63 bytes), and whole blocks.
        let bytes: Vec<u8> = (0..=255u8).collect();
        for len in 0..=256 {
            let data = &bytes[..len];
            assert_eq!(
                keys[len % 2].sign(data),
                hex(&hmac(&derived[len % 2], data)),
                "length {len}"
            );
        }
    }

    #[test]
    fn cache_is_bounded_and_reuses() {
        let cache = KeyCache::new(2);
        let a = cache.get("s", "20200101", "r", "svc");
        let again = cache.get("s", "20200101", "r", "svc");
        assert!(Arc::ptr_eq(&a, &again));
        cache.get("s", "20200102", "r", "svc");
        cache.get("s", "20200103", "r", "svc");
        assert_eq!(cache.len(), 2);
        let other_secret = cache.get("t", "20200103", "r", "svc");
        assert!(!Arc::ptr_eq(
            &other_secret,
            &cache.get("s", "20200103", "r", "svc")
        ));
    }
}
