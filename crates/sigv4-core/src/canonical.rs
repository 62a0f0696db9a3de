//! Writing the canonical request into one buffer.
//!
//! Everything here appends to a `Vec<u8>` that the caller sized once; sorting works on small
//! index arrays on the stack, so a typical request allocates nothing here beyond that buffer.

use http::header::{HeaderMap, HeaderName, HOST};
use http::{Method, Uri};
use percent_encoding::percent_decode;

use crate::error::SigningError;
use crate::settings::SigningSettings;
use crate::sign::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN};

/// `A-Z a-z 0-9 - _ . ~`: the bytes SigV4 leaves as they are; every other byte is `%XX`.
const fn unreserved_table(keep_slash: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || b == b'-'
            || b == b'_'
            || b == b'.'
            || b == b'~'
            || (keep_slash && b == b'/');
        i += 1;
    }
    table
}

/// The visible ASCII bytes (`!` to `~`) but those of `excluded`: what a scope field or a header
/// name may hold.
pub(crate) const fn visible_ascii_except(excluded: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b < 0x7f {
        table[b] = true;
        b += 1;
    }
    let mut i = 0;
    while i < excluded.len() {
        table[excluded[i] as usize] = false;
        i += 1;
    }
    table
}

static UNRESERVED: [bool; 256] = unreserved_table(false);
static UNRESERVED_OR_SLASH: [bool; 256] = unreserved_table(true);
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Branch-free "is unreserved" (so a chunk test vectorizes).
#[inline(always)]
fn is_unreserved(b: u8) -> bool {
    (b.wrapping_sub(b'0') < 10)
        | (b.wrapping_sub(b'A') < 26)
        | (b.wrapping_sub(b'a') < 26)
        | (b == b'-')
        | (b == b'_')
        | (b == b'.')
        | (b == b'~')
}

/// Bytes tested at once for "nothing to encode".
const CHUNK: usize = 16;

/// Copies runs of kept bytes in one go and writes `%XX` (upper-case hex) for the others; `/` is
/// kept when `keep_slash`.
///
/// Works in chunks of 16 bytes: a chunk with nothing to encode (the usual case: tokens, dates,
/// names) is passed over with one branch-free test the compiler vectorizes and copied later with
/// its neighbours in one `memcpy`; only a chunk holding a byte to encode is looked at byte by
/// byte.
fn encode_with(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    let keep = if keep_slash {
        &UNRESERVED_OR_SLASH
    } else {
        &UNRESERVED
    };
    if bytes.len() < CHUNK && all_in(bytes, keep) {
        // A short value with nothing to encode (a date, a region, a service): one copy.
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len());
    // `bytes[start..i]` is kept and not yet copied.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + CHUNK) {
            if all_in(chunk, keep) {
                i += CHUNK;
                continue;
            }
        }
        let end = (i + CHUNK).min(bytes.len());
        for (j, &b) in bytes.iter().enumerate().take(end).skip(i) {
            if !keep[b as usize] {
                out.extend_from_slice(&bytes[start..j]);
                out.extend_from_slice(&[
                    b'%',
                    HEX_UPPER[(b >> 4) as usize],
                    HEX_UPPER[(b & 15) as usize],
                ]);
                start = j + 1;
            }
        }
        i = end;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `bytes` percent-encoded per SigV4 (upper-case hex).
pub(crate) fn encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    encode_with(out, bytes, false);
}

/// Appends `out[range]` percent-encoded per SigV4 (a part already written, encoded once more).
pub(crate) fn encode_within(out: &mut Vec<u8>, range: std::ops::Range<usize>) {
    for i in range {
        let b = out[i];
        if UNRESERVED[usize::from(b)] {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[usize::from(b >> 4)],
                HEX_UPPER[usize::from(b & 15)],
            ]);
        }
    }
}

fn encode_path_into(out: &mut Vec<u8>, bytes: &[u8]) {
    encode_with(out, bytes, true);
}

/// Appends the canonical URI of `path` (the wire form, as `http::Uri` holds it).
pub(crate) fn write_canonical_path(out: &mut Vec<u8>, path: &str, settings: &SigningSettings) {
    let path = if path.is_empty() { "/" } else { path };
    if !settings.normalize_path {
        if settings.double_encode {
            encode_path_into(out, path.as_bytes());
        } else {
            out.extend_from_slice(path.as_bytes());
        }
        return;
    }
    if is_normal_path(path.as_bytes()) {
        // Nothing to remove, collapse or encode: the canonical path is the path.
        out.extend_from_slice(path.as_bytes());
        return;
    }
    write_normalized_path(out, path, settings.double_encode);
}

/// Appends `path` with its dot segments removed and empty segments dropped, each segment
/// encoded once more when `double_encode`.
fn write_normalized_path(out: &mut Vec<u8>, path: &str, double_encode: bool) {
    // RFC 3986 §5.2.4 dot-segment removal with empty segments dropped (`//` collapsed), writing
    // each kept segment (encoded once more when asked) straight into `out`; `..` truncates back to
    // the previous `/`. Encoding never produces a `/`, so truncation stays on segment bounds.
    let start = out.len();
    let mut trailing_slash = false;
    let rest = path.strip_prefix('/').unwrap_or(path);
    for segment in rest.as_bytes().split(|&b| b == b'/') {
        match segment {
            b"" | b"." => trailing_slash = true,
            b".." => {
                let keep = out[start..]
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(start, |i| start + i);
                out.truncate(keep);
                trailing_slash = true;
            }
            _ => {
                out.push(b'/');
                if double_encode {
                    encode_into(out, segment);
                } else {
                    out.extend_from_slice(segment);
                }
                trailing_slash = false;
            }
        }
    }
    if out.len() == start || trailing_slash {
        out.push(b'/');
    }
}

/// True when normalizing and encoding `path` once more would give `path` back: it starts with
/// `/`, holds only unreserved bytes and `/`, and has no empty (`//`), `.` or `..` segment but
/// maybe a trailing `/`. (The common case: `/prod/items`.)
fn is_normal_path(path: &[u8]) -> bool {
    let Some(mut rest) = path.strip_prefix(b"/") else {
        return false;
    };
    if !all_in(path, &UNRESERVED_OR_SLASH) {
        return false;
    }
    loop {
        let end = rest.iter().position(|&b| b == b'/');
        match (&rest[..end.unwrap_or(rest.len())], end) {
            (b"", Some(_)) | (b"." | b"..", _) => return false,
            (_, Some(end)) => rest = &rest[end + 1..],
            (_, None) => return true,
        }
    }
}

/// A parameter the signer adds to the canonical query (`X-Amz-*` when presigning), its value
/// already percent-encoded: each is encoded once and copied into both the canonical query and
/// the presigned URL.
#[derive(Clone, Copy)]
pub(crate) struct ExtraParam<'a> {
    pub(crate) name: &'static str,
    pub(crate) value: &'a [u8],
}

const STACK_PARAMS: usize = 16;

/// The query parameters a signing writes. A re-signing leaves none of the old ones in place:
/// the verifier would read them instead of the new ones.
pub(crate) const SIGNING_QUERY_PARAMS: [&str; 8] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Region-Set",
];

/// True when the wire-form parameter name `name` decodes to one of `names`.
pub(crate) fn name_is_one_of(name: &[u8], names: &[&str]) -> bool {
    if names.is_empty() {
        return false;
    }
    if !name.contains(&b'%') {
        return names.iter().any(|n| n.as_bytes() == name);
    }
    names.iter().any(|n| percent_decode(name).eq(n.bytes()))
}

/// Appends the canonical query string: every `key=value` of `query` decoded and re-encoded, plus
/// `extra` (values already encoded, given in order by name), sorted by key then value. `skip` drops parameters by their decoded
/// names (verification drops `X-Amz-Signature`, a re-signing every old signing parameter).
/// Returns how many parameters were dropped.
pub(crate) fn write_canonical_query(
    out: &mut Vec<u8>,
    query: Option<&str>,
    extra: &[ExtraParam<'_>],
    skip: &[&str],
) -> usize {
    if extra.is_empty() {
        if let Some(query) = query.filter(|q| is_canonical_query(q.as_bytes(), skip)) {
            out.extend_from_slice(query.as_bytes());
            return 0;
        }
    }
    match write_plain_query(out, query, extra, skip) {
        Some(skipped) => skipped,
        None => write_recoded_query(out, query, extra, skip),
    }
}

/// What a byte of a query is to [`is_canonical_query`].
const Q_OTHER: u8 = 0;
const Q_KEPT: u8 = 1;
const Q_EQUALS: u8 = 2;
const Q_AMPERSAND: u8 = 3;
static QUERY_CLASS: [u8; 256] = {
    let mut table = [Q_OTHER; 256];
    let mut i = 0;
    while i < 256 {
        if UNRESERVED[i] {
            table[i] = Q_KEPT;
        }
        i += 1;
    }
    table[b'=' as usize] = Q_EQUALS;
    table[b'&' as usize] = Q_AMPERSAND;
    table
};

/// True when `query` is already its own canonical form, so it can be copied whole (the usual
/// case: `limit=10&next=abc`): every pair is `name=value` with nothing to encode (one `=`, no
/// empty pair), the pairs are in order by name then value, and no name is one of `skip`.
fn is_canonical_query(query: &[u8], skip: &[&str]) -> bool {
    // The previous pair, and the current one's start and `=` (`usize::MAX`: none yet).
    let mut prev: (&[u8], &[u8]) = (&[], &[]);
    let mut start = 0usize;
    let mut equals = usize::MAX;
    // Names shorter than every name to skip are not compared with them.
    let shortest_skipped = skip.iter().map(|s| s.len()).min().unwrap_or(usize::MAX);
    // Takes the pair ending at `end`: false when it has no `=`, comes before the previous one
    // or is to be skipped.
    let mut take = |start: usize, equals: usize, end: usize| -> bool {
        if equals == usize::MAX {
            return false;
        }
        let pair = (&query[start..equals], &query[equals + 1..end]);
        let in_order = start == 0
            || byte_order(pair.0, prev.0)
                .then_with(|| pair.1.cmp(prev.1))
                .is_ge();
        if !in_order
            || (pair.0.len() >= shortest_skipped && skip.iter().any(|s| s.as_bytes() == pair.0))
        {
            return false;
        }
        prev = pair;
        true
    };
    for (i, &b) in query.iter().enumerate() {
        match QUERY_CLASS[usize::from(b)] {
            Q_KEPT => {}
            Q_EQUALS if equals == usize::MAX => equals = i,
            Q_AMPERSAND => {
                if !take(start, equals, i) {
                    return false;
                }
                start = i + 1;
                equals = usize::MAX;
            }
            _ => return false,
        }
    }
    take(start, equals, query.len())
}

/// `a.cmp(b)` for names (of headers, of query parameters), in fewer instructions for the usual
/// pair: two names usually differ in their first eight bytes (`x-amz-date`,
/// `x-amz-security-token`), which are compared as one number, or in their first byte; the
/// byte-wise comparison (a call to `memcmp`) is for a tie.
#[inline]
pub(crate) fn byte_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.first_chunk::<8>(), b.first_chunk::<8>()) {
        (Some(x), Some(y)) if x != y => u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y)),
        _ => a.first().cmp(&b.first()).then_with(|| a.cmp(b)),
    }
}

/// [`write_canonical_query`] for any query: each pair decoded, re-encoded and staged after the
/// end of `out`, then sorted and moved into place.
fn write_recoded_query(
    out: &mut Vec<u8>,
    query: Option<&str>,
    extra: &[ExtraParam<'_>],
    skip: &[&str],
) -> usize {
    let mut skipped = 0;
    // First write every encoded pair after the current end of `out`, remembering where each is,
    // then sort the ranges and append them in order, then move the sorted run down.
    let region_start = out.len();
    let mut stack = [(0u32, 0u32, 0u32); STACK_PARAMS];
    let mut heap: Vec<(u32, u32, u32)> = Vec::new();
    let mut count = 0usize;
    let mut push = |range: (u32, u32, u32)| {
        if count < STACK_PARAMS {
            stack[count] = range;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(range);
        }
        count += 1;
    };
    if let Some(query) = query {
        for pair in query.as_bytes().split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            if name_is_one_of(name, skip) {
                skipped += 1;
                continue;
            }
            let begin = out.len();
            recode_into(out, name);
            let key_end = out.len();
            recode_into(out, value);
            push((begin as u32, key_end as u32, out.len() as u32));
        }
    }
    for param in extra {
        let begin = out.len();
        // The names are the `X-Amz-*` constants: nothing to encode.
        debug_assert!(param.name.bytes().all(is_unreserved));
        out.extend_from_slice(param.name.as_bytes());
        let key_end = out.len();
        out.extend_from_slice(param.value);
        push((begin as u32, key_end as u32, out.len() as u32));
    }
    let ranges: &mut [(u32, u32, u32)] = if count <= STACK_PARAMS {
        &mut stack[..count]
    } else {
        &mut heap
    };
    {
        let buf: &[u8] = out;
        ranges.sort_unstable_by(|a, b| {
            let (ka, va) = (
                &buf[a.0 as usize..a.1 as usize],
                &buf[a.1 as usize..a.2 as usize],
            );
            let (kb, vb) = (
                &buf[b.0 as usize..b.1 as usize],
                &buf[b.1 as usize..b.2 as usize],
            );
            ka.cmp(kb).then_with(|| va.cmp(vb))
        });
    }
    let sorted_start = out.len();
    for (i, &(begin, key_end, end)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_within(begin as usize..key_end as usize);
        out.push(b'=');
        out.extend_from_within(key_end as usize..end as usize);
    }
    out.copy_within(sorted_start.., region_start);
    let len = out.len() - sorted_start;
    out.truncate(region_start + len);
    skipped
}

/// `text` split at each `sep` (an ASCII byte), like `str::split`, with the separator found by
/// [`find_byte`]: no `memchr` call (the pieces of a credential or a header list are a few bytes
/// long) and no byte-by-byte branch on long pieces (the parts of an `Authorization` value).
pub(crate) fn split_ascii(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match find_byte(current.as_bytes(), sep) {
            Some(i) => {
                rest = current.get(i + 1..);
                current.get(..i)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// A byte in every byte of a word, for the word-at-a-time byte tests ([`find_byte`],
/// [`all_visible`]).
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
/// The high bit of every byte of a word: where those tests flag a byte.
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The position of the first `needle` in `bytes`, eight bytes at a time: each word is XORed
/// with the needle in every byte, and the classic zero-byte test flags the bytes that matched.
/// Its lowest flag is always a real match (a false flag can only follow a real one), so its
/// position is the answer. The tail, under eight bytes, is searched byte by byte.
pub(crate) fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    let mut words = bytes.chunks_exact(8);
    for (n, word) in words.by_ref().enumerate() {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let x = u64::from_le_bytes(le) ^ pattern;
        let flags = x.wrapping_sub(ONES) & !x & HIGHS;
        if flags != 0 {
            return Some(n * 8 + (flags.trailing_zeros() / 8) as usize);
        }
    }
    let tail = words.remainder();
    let start = bytes.len() - tail.len();
    tail.iter().position(|&b| b == needle).map(|i| start + i)
}

/// True when no byte of `bytes` needs encoding.
fn all_unreserved(bytes: &[u8]) -> bool {
    all_in(bytes, &UNRESERVED)
}

/// True when every byte of `bytes` is in `table` (`UNRESERVED` or `UNRESERVED_OR_SLASH`): whole
/// chunks are tested branch-free (the compiler vectorizes it), the rest by table lookups.
fn all_in(bytes: &[u8], table: &[bool; 256]) -> bool {
    let keep_slash = table[usize::from(b'/')];
    let mut chunks = bytes.chunks_exact(CHUNK);
    let whole = chunks.by_ref().all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            ok & (is_unreserved(b) | (keep_slash & (b == b'/')))
        })
    });
    whole
        && chunks
            .remainder()
            .iter()
            .fold(true, |ok, &b| ok & table[usize::from(b)])
}

/// The common case of [`write_canonical_query`]: every name and value of `query` is already in
/// canonical form (no byte to decode or encode), so the pairs are sorted as they stand and
/// written once, with no staging copy. `None` (nothing written) when a pair needs re-encoding
/// or there are more pairs than fit on the stack.
fn write_plain_query(
    out: &mut Vec<u8>,
    query: Option<&str>,
    extra: &[ExtraParam<'_>],
    skip: &[&str],
) -> Option<usize> {
    let mut pairs: [(&[u8], &[u8]); STACK_PARAMS] = [(&[], &[]); STACK_PARAMS];
    let mut count = 0usize;
    let mut skipped = 0;
    for pair in query
        .unwrap_or("")
        .as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if !all_unreserved(name) || !all_unreserved(value) {
            return None;
        }
        if skip.iter().any(|s| s.as_bytes() == name) {
            skipped += 1;
            continue;
        }
        *pairs.get_mut(count)? = (name, value);
        count += 1;
    }
    // Only the signer's own parameters, given in order (a presigned URL for a request with no
    // query), need no sort.
    let from_query = count;
    debug_assert!(extra.is_sorted_by_key(|p| (p.name, p.value)));
    for param in extra {
        *pairs.get_mut(count)? = (param.name.as_bytes(), param.value);
        count += 1;
    }
    let pairs = &mut pairs[..count];
    if from_query > 0 {
        pairs.sort_unstable();
    }
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
    Some(skipped)
}

/// Decodes `%XX` escapes and encodes the result per SigV4. Bytes that need no change (the usual
/// case for short keys and values) are copied in one go.
fn recode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.contains(&b'%') {
        encode_into(out, bytes);
        return;
    }
    for b in percent_decode(bytes) {
        if UNRESERVED[b as usize] {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'%',
                HEX_UPPER[(b >> 4) as usize],
                HEX_UPPER[(b & 15) as usize],
            ]);
        }
    }
}

/// A header that goes into the signature but is not (yet) in the request's map: `host` from the
/// URI, `x-amz-date`, the session token, the payload hash.
#[derive(Clone, Copy)]
pub(crate) struct ExtraHeader<'a> {
    pub(crate) name: &'static str,
    pub(crate) value: &'a [u8],
    /// The value is already canonical (the signer made it): copied without a scan.
    pub(crate) verbatim: bool,
    /// The value (canonical) is left out of the written block and hashed where it stands:
    /// its place is given back as a [`Hole`].
    pub(crate) deferred: bool,
}

/// Where a deferred header value belongs in a written canonical request (see
/// [`ExtraHeader::deferred`]): the hash reads `out[..at]`, then `value`, then the rest.
#[derive(Clone, Copy)]
pub(crate) struct Hole<'a> {
    pub(crate) at: usize,
    pub(crate) value: &'a [u8],
}

impl<'a> ExtraHeader<'a> {
    pub(crate) const EMPTY: ExtraHeader<'static> = ExtraHeader {
        name: "",
        value: b"",
        verbatim: true,
        deferred: false,
    };

    pub(crate) fn new(name: &'static str, value: &'a [u8], verbatim: bool) -> Self {
        Self {
            name,
            value,
            verbatim,
            deferred: false,
        }
    }

    /// A canonical value hashed where it stands rather than copied into the canonical request
    /// (a session token: about 1 KiB copied less per signing).
    pub(crate) fn deferred(name: &'static str, value: &'a [u8]) -> Self {
        Self {
            name,
            value,
            verbatim: true,
            deferred: true,
        }
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), SigningError> {
        if self.verbatim {
            out.extend_from_slice(self.value);
            Ok(())
        } else {
            write_header_value(out, self.name, self.value)
        }
    }
}

/// One value to sign: a header of the request or one the signer adds, with its name's first
/// eight bytes as a number (most comparisons while sorting end there, without a `memcmp`) and
/// its position (so repeated headers keep their order through an unstable sort; extras, which
/// never repeat a name, come last).
#[derive(Clone, Copy)]
struct Entry<'a> {
    key: u64,
    name: &'a str,
    value: &'a [u8],
    position: u32,
    /// The value is already canonical: copied without a scan.
    verbatim: bool,
    /// The value is not copied: its place is given back (see [`ExtraHeader::deferred`]).
    deferred: bool,
}

impl<'a> Entry<'a> {
    const EMPTY: Entry<'static> = Entry {
        key: 0,
        name: "",
        value: b"",
        position: 0,
        verbatim: true,
        deferred: false,
    };

    fn new(name: &'a str, value: &'a [u8], position: u32, verbatim: bool) -> Self {
        // Most names are eight bytes or longer: one load. Shorter ones byte by byte (a copy
        // of a length unknown when compiling would be a call to `memcpy`).
        let key = match name.as_bytes().first_chunk::<8>() {
            Some(first) => u64::from_be_bytes(*first),
            None => name
                .bytes()
                .chain(std::iter::repeat(0))
                .take(8)
                .fold(0, |key, b| key << 8 | u64::from(b)),
        };
        Entry {
            key,
            name,
            value,
            position,
            verbatim,
            deferred: false,
        }
    }

    fn same_name(&self, other: &Entry<'_>) -> bool {
        self.key == other.key && self.name == other.name
    }

    fn order(&self, other: &Entry<'_>) -> std::cmp::Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| self.name.cmp(other.name))
            .then_with(|| self.position.cmp(&other.position))
    }

    fn write_value(&self, out: &mut Vec<u8>) -> Result<(), SigningError> {
        if self.verbatim {
            out.extend_from_slice(self.value);
            Ok(())
        } else {
            write_header_value(out, self.name, self.value)
        }
    }
}

const STACK_HEADERS: usize = 16;

/// Appends the canonical headers block of a signing (each `name:value\n`), a blank line, then
/// the signed headers list and a newline: every header of the request but the excluded ones
/// and those in `replaced` (which the signer sets itself), plus the extras. Returns the byte
/// range of the signed headers list in `out`. (Verifying writes the headers a request lists:
/// [`write_listed_headers`].) A deferred extra's value is left out and its place stored in
/// `hole`. When the request has no `Host` header, `host` is signed from the URI (`uri_host`
/// keeps the value).
pub(crate) fn write_canonical_headers<'a>(
    out: &mut Vec<u8>,
    headers: &'a HeaderMap,
    (uri, uri_host): (&Uri, &'a mut Option<UriHost>),
    extras: &[ExtraHeader<'a>],
    settings: &SigningSettings,
    replaced: &[&'static str],
    hole: &mut Option<Hole<'a>>,
) -> Result<(usize, usize), SigningError> {
    let mut stack = [Entry::EMPTY; STACK_HEADERS];
    let mut heap: Vec<Entry<'a>> = Vec::new();
    let mut count = 0usize;
    let mut push = |entry: Entry<'a>| {
        if count < STACK_HEADERS {
            stack[count] = entry;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(entry);
        }
        count += 1;
    };
    // One pass over every value; `http` keeps names lower-case and yields the values of
    // a repeated name in their order.
    let mut last: Option<(&HeaderName, bool)> = None;
    let mut has_host = false;
    for (i, (name, value)) in headers.iter().enumerate() {
        let skip = match last {
            Some((prev, skip)) if prev == name => skip,
            _ => {
                has_host |= name == HOST;
                // Every name the signer sets starts with `x-amz-`.
                let skip = settings.excluded_headers.contains(name)
                    || (name.as_str().starts_with("x-amz-")
                        && replaced.iter().any(|r| *r == name.as_str()));
                last = Some((name, skip));
                skip
            }
        };
        if !skip {
            push(Entry::new(name.as_str(), value.as_bytes(), i as u32, false));
        }
    }
    if !has_host {
        let host = uri_host.insert(UriHost::from_uri(uri)?);
        push(Entry::new("host", host.as_bytes(), u32::MAX, true));
    }
    for extra in extras {
        push(Entry {
            deferred: extra.deferred,
            ..Entry::new(extra.name, extra.value, u32::MAX, extra.verbatim)
        });
    }
    let entries: &mut [Entry<'a>] = if count <= STACK_HEADERS {
        &mut stack[..count]
    } else {
        &mut heap
    };
    entries.sort_unstable_by(Entry::order);
    let mut prev: Option<&Entry<'_>> = None;
    for entry in entries.iter() {
        if prev.is_some_and(|p| p.same_name(entry)) {
            out.push(b',');
        } else {
            if prev.is_some() {
                out.push(b'\n');
            }
            out.extend_from_slice(entry.name.as_bytes());
            out.push(b':');
        }
        if entry.deferred {
            *hole = Some(Hole {
                at: out.len(),
                value: entry.value,
            });
        } else {
            entry.write_value(out)?;
        }
        prev = Some(entry);
    }
    if prev.is_some() {
        out.push(b'\n');
    }
    out.push(b'\n');
    let begin = out.len();
    let mut prev: Option<&Entry<'_>> = None;
    for entry in entries.iter() {
        if prev.is_some_and(|p| p.same_name(entry)) {
            continue;
        }
        if prev.is_some() {
            out.push(b';');
        }
        out.extend_from_slice(entry.name.as_bytes());
        prev = Some(entry);
    }
    let end = out.len();
    out.push(b'\n');
    Ok((begin, end))
}

/// Why the headers a request lists could not be written.
pub(crate) enum ListedError {
    /// A value is not visible ASCII or UTF-8.
    Value(SigningError),
    /// The listed headers are larger than the bound.
    TooLarge,
}

/// Appends the canonical headers block for exactly the `;`-separated names of `list` (as a signed
/// request lists them; the verifier has checked it), a blank line, the list and a newline.
/// Refuses, before copying it, a header that would take the block past `max_bytes` (counted on
/// the values as sent, before trimming), so the work is bounded whatever the request holds.
/// Returns the byte range of the list in `out`.
///
/// `known` names a header and a value already in canonical form (the verified session token):
/// when the request holds exactly that one value for the name, it is copied without a scan.
/// When `known`'s bytes are that header value itself (the same bytes in memory, as the parsed
/// claim keeps them), they are not compared again. The known value is not copied either: its
/// place is stored in `hole`, for the hash to read it where it stands.
pub(crate) fn write_listed_headers<'k>(
    out: &mut Vec<u8>,
    headers: &HeaderMap,
    extras: &[ExtraHeader<'_>],
    known: Option<(&str, &'k [u8])>,
    list: &str,
    max_bytes: usize,
    hole: &mut Option<Hole<'k>>,
) -> Result<(usize, usize), ListedError> {
    let block_start = out.len();
    // The bytes left out of `out` for the hash to read in place (they count toward the bound).
    let mut deferred = 0usize;
    for name in split_ascii(list, b';') {
        let extra = extras.iter().find(|e| e.name == name);
        // The names every signed request lists are looked up by their static `HeaderName`;
        // others by `&str` (a `HeaderName` made from the text would allocate for every name
        // that is not a standard header).
        let values = match (extra, name) {
            (Some(_), _) => None,
            (None, "host") => Some(headers.get_all(HOST)),
            (None, "x-amz-date") => Some(headers.get_all(&X_AMZ_DATE)),
            (None, "x-amz-security-token") => Some(headers.get_all(&X_AMZ_SECURITY_TOKEN)),
            (None, "x-amz-content-sha256") => Some(headers.get_all(&X_AMZ_CONTENT_SHA256)),
            (None, _) => Some(headers.get_all(name)),
        };
        let raw_len = match (extra, &values) {
            (Some(extra), _) => extra.value.len(),
            (None, Some(values)) => values.iter().map(|v| v.len() + 1).sum(),
            (None, None) => 0,
        };
        if out.len() - block_start + deferred + name.len() + 2 + raw_len > max_bytes {
            return Err(ListedError::TooLarge);
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        if let Some(extra) = extra {
            extra.write(out).map_err(ListedError::Value)?;
        } else if let Some(values) = values {
            let mut iter = values.iter();
            if let (Some((known_name, known_value)), Some(first), None) =
                (known, iter.next(), iter.next())
            {
                let first = first.as_bytes();
                if known_name == name && (std::ptr::eq(first, known_value) || first == known_value)
                {
                    if hole.is_none() {
                        *hole = Some(Hole {
                            at: out.len(),
                            value: known_value,
                        });
                        deferred += known_value.len();
                    } else {
                        out.extend_from_slice(known_value);
                    }
                    out.push(b'\n');
                    continue;
                }
            }
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_header_value(out, name, value.as_bytes()).map_err(ListedError::Value)?;
            }
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    let begin = out.len();
    out.extend_from_slice(list.as_bytes());
    let end = out.len();
    out.push(b'\n');
    Ok((begin, end))
}

/// Appends one header value: SP/HTAB trimmed at both ends, inner runs of SP/HTAB collapsed to one
/// space, everything else kept. Values must be visible ASCII or UTF-8.
pub(crate) fn write_header_value(
    out: &mut Vec<u8>,
    name: &str,
    value: &[u8],
) -> Result<(), SigningError> {
    // The usual value (a host, a date, a media type, a token): visible ASCII with no space at
    // all, so nothing to trim or collapse.
    if all_visible(value) {
        out.extend_from_slice(value);
        return Ok(());
    }
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    let value = &value[start..end];
    // One pass decides the next common case: visible ASCII with single spaces is copied as is.
    let mut plain = true;
    let mut prev_space = false;
    for &b in value {
        let space = b == b' ';
        if !(0x21..0x7f).contains(&b) && !space || (space && prev_space) {
            plain = false;
            break;
        }
        prev_space = space;
    }
    if plain {
        out.extend_from_slice(value);
        return Ok(());
    }
    if !value.is_ascii() && std::str::from_utf8(value).is_err() {
        return Err(SigningError::InvalidHeaderValue {
            name: name.to_owned(),
        });
    }
    let mut in_ws = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            if !in_ws {
                out.push(b' ');
            }
            in_ws = true;
        } else if b < 0x20 || b == 0x7f {
            return Err(SigningError::InvalidHeaderValue {
                name: name.to_owned(),
            });
        } else {
            out.push(b);
            in_ws = false;
        }
    }
    Ok(())
}

/// True when every byte of `bytes` is visible ASCII (`!` to `~`). Tested eight bytes at a time
/// and without a branch per word (header values are short: a host, a date, a media type), with
/// the two classic word tests: a byte below `!` sets its high bit in `(x - 0x21…) & !x`, a byte
/// above `~` sets it in `(x + 0x01…) | x`. Either test can only flag a word that has such a byte.
fn all_visible(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    let mut flags = 0u64;
    for word in words.by_ref() {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let x = u64::from_le_bytes(le);
        flags |= (x.wrapping_sub(ONES * 0x21) & !x) | (x.wrapping_add(ONES) | x);
    }
    flags & HIGHS == 0 && words.remainder().iter().all(u8::is_ascii_graphic)
}

/// The value to sign for `host` when the request has no `Host` header: the URI's host,
/// lower-cased, with the port kept unless it is the scheme's default. Held on the stack (a heap
/// buffer only for a host longer than any DNS name).
pub(crate) struct UriHost {
    stack: [u8; 280],
    len: usize,
    heap: Vec<u8>,
}

impl UriHost {
    pub(crate) fn from_uri(uri: &Uri) -> Result<Self, SigningError> {
        let (host, port) = host_and_port(uri);
        let host = host
            .filter(|h| !h.is_empty())
            .ok_or(SigningError::MissingHost)?;
        let mut value = UriHost {
            stack: [0; 280],
            len: 0,
            heap: Vec::new(),
        };
        match value.stack.get_mut(..host.len()) {
            Some(slot) => {
                slot.copy_from_slice(host.as_bytes());
                slot.make_ascii_lowercase();
                value.len = host.len();
            }
            None => value.heap = host.to_ascii_lowercase().into_bytes(),
        }
        if let Some(port) = port.filter(|&port| !is_default_port(uri, port)) {
            value.push(b':');
            let mut digits = [0u8; 5];
            let mut n = port;
            let mut start = digits.len();
            loop {
                start -= 1;
                digits[start] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            for &d in &digits[start..] {
                value.push(d);
            }
        }
        Ok(value)
    }

    fn push(&mut self, b: u8) {
        if self.heap.is_empty() && self.len < self.stack.len() {
            self.stack[self.len] = b;
            self.len += 1;
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.stack[..self.len]);
            }
            self.heap.push(b);
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.stack[..self.len]
        } else {
            &self.heap
        }
    }
}

/// The URI's host and port, as `Uri::host` and `Uri::port_u16` give them. An authority with
/// neither user info (`@`) nor an IPv6 literal (`[`), the usual `host` or `host:port`, is split
/// at its one `:` after a single pass over its bytes; any other goes to `http`'s own accessors (each of which
/// searches the authority again, from the end).
fn host_and_port(uri: &Uri) -> (Option<&str>, Option<u16>) {
    let Some(authority) = uri.authority().map(|a| a.as_str()) else {
        return (None, None);
    };
    let (mut first_colon, mut colons, mut plain) = (None, 0usize, true);
    for (i, &b) in authority.as_bytes().iter().enumerate() {
        match b {
            b':' => {
                first_colon = first_colon.or(Some(i));
                colons += 1;
            }
            b'@' | b'[' => plain = false,
            _ => {}
        }
    }
    match first_colon {
        None if plain => (Some(authority), None),
        // `http` reads the port after the last `:`: with one, that is the first.
        Some(i) if plain && colons == 1 => {
            let (host, port) = (&authority[..i], &authority[i + 1..]);
            (Some(host), port.parse().ok())
        }
        _ => (uri.host(), uri.port_u16()),
    }
}

/// True when `port` is the default port of the URI's scheme (443 for https, 80 for http).
fn is_default_port(uri: &Uri, port: u16) -> bool {
    let default = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => Some(443),
        Some(s) if s.eq_ignore_ascii_case("http") => Some(80),
        _ => None,
    };
    default == Some(port)
}

/// Does the request carry its own `Host` header?
pub(crate) fn has_host_header(headers: &HeaderMap) -> bool {
    headers.contains_key(HOST)
}

/// Appends the first three lines of a canonical request, the part that signing, presigning and
/// verifying write alike: the method, the canonical path and the canonical query (with `extra`
/// parameters added and `skip` parameters left out), each followed by a newline. The headers
/// (chosen by the signer, or listed by the request) and the payload hash follow. Returns how many
/// query parameters were left out.
pub(crate) fn write_request_lines(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    settings: &SigningSettings,
    extra: &[ExtraParam<'_>],
    skip: &[&str],
) -> usize {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b'\n');
    write_canonical_path(out, uri.path(), settings);
    out.push(b'\n');
    let skipped = write_canonical_query(out, uri.query(), extra, skip);
    out.push(b'\n');
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, settings: &SigningSettings) -> String {
        let mut out = Vec::new();
        write_canonical_path(&mut out, p, settings);
        String::from_utf8(out).unwrap()
    }

    fn query(q: &str) -> String {
        let mut out = b"prefix".to_vec();
        write_canonical_query(&mut out, Some(q), &[], &[]);
        String::from_utf8(out[6..].to_vec()).unwrap()
    }

    #[test]
    fn path_normalization_per_rfc3986() {
        let s = SigningSettings::default();
        assert_eq!(path("/a/b/..", &s), "/a/");
        assert_eq!(path("/a/b/../c", &s), "/a/c");
        assert_eq!(path("/../..", &s), "/");
        assert_eq!(path("//a//b//", &s), "/a/b/");
        assert_eq!(path("/./a/.", &s), "/a/");
        assert_eq!(path("", &s), "/");
        assert_eq!(path("/a/..b", &s), "/a/..b");
        assert_eq!(
            path("/test/@connections/abc%3D", &s),
            "/test/%40connections/abc%253D"
        );
    }

    /// The fast path (`is_normal_path`) only takes paths the full normalization gives back
    /// unchanged, and takes the plain ones.
    #[test]
    fn normal_paths_are_what_normalization_gives_back() {
        let mut rng_state = 0x2545_f491_u32;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 17;
            rng_state ^= rng_state << 5;
            rng_state
        };
        let mut taken = 0;
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let path: String = (0..len)
                .map(|_| ['/', '/', '.', 'a', 'b', '-', '%', ' ', '~'][(next() % 9) as usize])
                .collect();
            let mut slow = Vec::new();
            write_normalized_path(&mut slow, &path, true);
            if is_normal_path(path.as_bytes()) {
                taken += 1;
                assert_eq!(String::from_utf8(slow).unwrap(), path);
            }
        }
        assert!(taken > 1000, "the fast path was taken {taken} times");
        for plain in ["/", "/prod/items", "/a/", "/a-b/c~d/e.json"] {
            assert!(is_normal_path(plain.as_bytes()), "{plain}");
        }
        for not in [
            "", "a", "//", "/a//b", "/./a", "/a/..", "/a/.", "/a%20b", "/a b",
        ] {
            assert!(!is_normal_path(not.as_bytes()), "{not}");
        }
    }

    #[test]
    fn s3_path_is_verbatim() {
        let s = SigningSettings::s3();
        assert_eq!(path("/a//b/../c%3D", &s), "/a//b/../c%3D");
    }

    #[test]
    fn query_encoding_and_order() {
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("a+b=c+d"), "a%2Bb=c%2Bd");
        assert_eq!(query("k=%7e%2f"), "k=~%2F");
        assert_eq!(query("x&y="), "x=&y=");
        assert_eq!(query("v=a=b"), "v=a%3Db");
        assert_eq!(query("bad=%zz%"), "bad=%25zz%25");
        assert_eq!(query("&&"), "");
    }

    /// The plain-query fast path writes what the full decode-and-encode path writes, whenever
    /// it takes a query, and takes the plain ones.
    #[test]
    fn plain_queries_match_the_recoding_path() {
        let mut rng_state = 0x1234_5678_u32;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 17;
            rng_state ^= rng_state << 5;
            rng_state
        };
        let extra = [ExtraParam {
            name: "X-Amz-Date",
            value: b"20150830T123600Z",
        }];
        let skip = ["X-Amz-Signature", "b"];
        let mut taken = 0;
        for round in 0..20_000 {
            let len = (next() % 16) as usize;
            let query: String = (0..len)
                .map(|_| ['a', 'b', 'B', '=', '&', '&', '%', '+', '~', '.'][(next() % 10) as usize])
                .collect();
            let extra: &[ExtraParam<'_>] = if round % 2 == 0 { &extra } else { &[] };
            let mut slow = b"prefix".to_vec();
            let slow_skipped = write_recoded_query(&mut slow, Some(&query), extra, &skip);
            let mut fast = b"prefix".to_vec();
            if let Some(skipped) = write_plain_query(&mut fast, Some(&query), extra, &skip) {
                taken += 1;
                assert_eq!(fast, slow, "{query}");
                assert_eq!(skipped, slow_skipped, "{query}");
            } else {
                assert_eq!(fast, b"prefix", "{query}");
            }
        }
        assert!(taken > 2000, "the fast path was taken {taken} times");
    }

    /// A query the whole-copy path takes is exactly what the full decode-and-encode path
    /// writes, and the path takes canonical queries: random pairs, sorted or not, some with
    /// bytes to encode, a missing `=`, an empty pair or a name to skip.
    #[test]
    fn canonical_queries_are_copied_whole_only_when_recoding_gives_them_back() {
        let mut rng = fastrand::Rng::with_seed(7);
        let skip = ["X-Amz-Signature"];
        let (mut taken, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut pairs: Vec<String> = (0..rng.usize(1..5))
                .map(|_| {
                    let part = |rng: &mut fastrand::Rng| -> String {
                        let bytes = ['a', 'b', 'B', '~', '.', '-', '1', '%', '+', '='];
                        (0..rng.usize(0..3))
                            .map(|_| bytes[rng.usize(..10)])
                            .collect()
                    };
                    let name = if rng.u8(..) < 8 {
                        "X-Amz-Signature".to_owned()
                    } else {
                        part(&mut rng)
                    };
                    match rng.u8(..) {
                        0..10 => String::new(),
                        10..20 => name,
                        _ => format!("{name}={}", part(&mut rng)),
                    }
                })
                .collect();
            if rng.bool() {
                pairs.sort_by(|a, b| {
                    let split = |p: &str| {
                        let (n, v) = p.split_once('=').unwrap_or((p, ""));
                        (n.to_owned(), v.to_owned())
                    };
                    split(a).cmp(&split(b))
                });
            }
            let query = pairs.join("&");
            let mut recoded = Vec::new();
            write_recoded_query(&mut recoded, Some(&query), &[], &skip);
            if is_canonical_query(query.as_bytes(), &skip) {
                taken += 1;
                assert_eq!(String::from_utf8(recoded).unwrap(), query);
            } else {
                refused += 1;
            }
        }
        assert!(
            taken > 3000 && refused > 3000,
            "taken {taken}, refused {refused}"
        );
        assert!(is_canonical_query(b"limit=10&next=abc", &skip));
        for not in [
            "next=abc&limit=10",
            "a=1&",
            "a",
            "a=b=c",
            "a%20=1",
            "X-Amz-Signature=x",
        ] {
            assert!(!is_canonical_query(not.as_bytes(), &skip), "{not}");
        }
    }

    /// The name order agrees with the byte-wise order on names that differ early, late, in
    /// length only, or not at all.
    #[test]
    fn name_order_is_byte_order() {
        let mut rng = fastrand::Rng::with_seed(11);
        let stems = ["", "x-amz-", "content-", "x-amz-da", "a", "x-amz-date"];
        for _ in 0..50_000 {
            let name = |rng: &mut fastrand::Rng| -> Vec<u8> {
                let mut n = stems[rng.usize(..stems.len())].as_bytes().to_vec();
                n.extend((0..rng.usize(0..4)).map(|_| [b'a', b'd', b'-', b'z'][rng.usize(..4)]));
                n
            };
            let (a, b) = (name(&mut rng), name(&mut rng));
            assert_eq!(byte_order(&a, &b), a.cmp(&b), "{a:?} {b:?}");
        }
    }

    #[test]
    fn many_query_params_spill_to_heap() {
        let q: Vec<String> = (0..40).rev().map(|i| format!("k{i:02}=v")).collect();
        let got = query(&q.join("&"));
        let mut want: Vec<String> = (0..40).map(|i| format!("k{i:02}=v")).collect();
        want.sort();
        assert_eq!(got, want.join("&"));
    }

    /// The chunked encoder against the byte-at-a-time definition, on lengths around the chunk
    /// size with the bytes to encode at every position.
    #[test]
    fn chunked_encoding_matches_the_definition() {
        fn reference(bytes: &[u8], keep_slash: bool) -> Vec<u8> {
            let mut out = Vec::new();
            for &b in bytes {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                }
            }
            out
        }
        let mut rng_state = 0x9e37_79b9_u32;
        let mut next = || {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 17;
            rng_state ^= rng_state << 5;
            rng_state
        };
        for len in 0..70 {
            for _ in 0..40 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| match next() % 8 {
                        0 => b"/+= %\xff\x00"[(next() % 7) as usize],
                        _ => b"aZ09-_.~"[(next() % 8) as usize],
                    })
                    .collect();
                for keep_slash in [false, true] {
                    let mut out = b"pre".to_vec();
                    encode_with(&mut out, &bytes, keep_slash);
                    assert_eq!(&out[3..], reference(&bytes, keep_slash), "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn host_and_port_are_what_http_gives() {
        let fixed = [
            "example.com",
            "example.com:443",
            "Example.COM:8080",
            "h:0",
            "h:65535",
            "h:65536",
            "h:",
            "h:+80",
            "h:08",
            "user@host",
            "user:pw@host:99",
            "[::1]",
            "[::1]:8080",
            "127.0.0.1:80",
        ];
        let mut rng = fastrand::Rng::with_seed(443);
        let alphabet = b"aZ9.-:@[]+_~%";
        let random = (0..20_000).map(|_| {
            let len = rng.usize(1..14);
            (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
                .collect::<String>()
        });
        let mut checked = 0;
        for authority in fixed.iter().map(|a| a.to_string()).chain(random) {
            for scheme in ["https", "http"] {
                let Ok(uri) = format!("{scheme}://{authority}/x").parse::<Uri>() else {
                    continue;
                };
                let want = (uri.host(), uri.port_u16());
                assert_eq!(host_and_port(&uri), want, "{uri}");
                checked += 1;
            }
        }
        assert!(checked > 5_000, "{checked}");
        let no_authority: Uri = "/only/a/path".parse().unwrap();
        assert_eq!(host_and_port(&no_authority), (None, None));
    }

    #[test]
    fn split_ascii_is_str_split() {
        for text in ["", ";", "a", "a;b", ";a;;b;", "é;ü;", "host;x-amz-date"] {
            let ours: Vec<&str> = split_ascii(text, b';').collect();
            let std: Vec<&str> = text.split(';').collect();
            assert_eq!(ours, std, "{text:?}");
        }
        // Separators before, inside, across and after the 8-byte words `find_byte` tests.
        let mut rng = fastrand::Rng::with_seed(16);
        for _ in 0..5_000 {
            let len = rng.usize(..80);
            let text: String = (0..len)
                .map(|_| if rng.u8(..) < 20 { ';' } else { 'a' })
                .collect();
            let ours: Vec<&str> = split_ascii(&text, b';').collect();
            let std: Vec<&str> = text.split(';').collect();
            assert_eq!(ours, std, "{text:?}");
            assert_eq!(find_byte(text.as_bytes(), b';'), text.find(';'), "{text:?}");
        }
    }

    #[test]
    fn visible_ascii_is_tested_word_by_word_as_byte_by_byte() {
        // Every byte value at every position of a visible value, lengths around the word size.
        for len in 1..=17 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut value = vec![b'a'; len];
                    value[at] = b;
                    assert_eq!(
                        all_visible(&value),
                        b.is_ascii_graphic(),
                        "{b:#x} at {at} of {len}"
                    );
                }
            }
        }
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let value: Vec<u8> = (0..rng.usize(0..40))
                .map(|_| match rng.u8(..) {
                    0..8 => rng.u8(..),
                    _ => rng.u8(0x21..0x7f),
                })
                .collect();
            assert_eq!(all_visible(&value), value.iter().all(u8::is_ascii_graphic));
        }
    }

    #[test]
    fn header_values_trim_and_collapse() {
        let mut out = Vec::new();
        write_header_value(&mut out, "x", b" \t a \t\t b  c\t").unwrap();
        assert_eq!(out, b"a b c");
        out.clear();
        write_header_value(&mut out, "x", "a\u{a0}\u{a0}b".as_bytes()).unwrap();
        assert_eq!(out, "a\u{a0}\u{a0}b".as_bytes());
        assert!(write_header_value(&mut out, "x", b"\xff").is_err());
    }
}
