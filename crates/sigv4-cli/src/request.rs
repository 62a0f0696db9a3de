//! What the spec form and the flag form share: signing settings from the few switches both
//! have, the payload choice, and how a request's headers are built and shown.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use sigv4_core::{
    Algorithm, ContentSha256Header, Payload, SessionTokenMode, SignatureLocation, SigningSettings,
};

/// How a request is to be signed: the switches of a spec or of the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switches {
    /// S3 rules (no path normalization, single encoding, `x-amz-content-sha256`).
    pub s3: bool,
    /// Sign `UNSIGNED-PAYLOAD` instead of the body's hash.
    pub unsigned_payload: bool,
    /// `Some(seconds)`: a presigned URL; `None`: an `Authorization` header.
    pub presign_expires: Option<u64>,
    /// Overrides; `None` takes the default that follows from `s3` / `unsigned_payload`.
    pub normalize_path: Option<bool>,
    /// Overrides the double encoding of the path (default: not S3).
    pub double_encode: Option<bool>,
    /// Overrides whether `x-amz-content-sha256` is added (default: S3 or unsigned payload).
    pub content_sha256_header: Option<bool>,
    /// Overrides whether the session token is signed (default: yes).
    pub sign_session_token: Option<bool>,
    /// SigV4a (the region is then a region set) instead of SigV4.
    pub sigv4a: bool,
}

impl Switches {
    /// Header signing with the defaults for `s3` and `unsigned_payload`.
    pub fn new(s3: bool, unsigned_payload: bool) -> Self {
        Self {
            s3,
            unsigned_payload,
            presign_expires: None,
            normalize_path: None,
            double_encode: None,
            content_sha256_header: None,
            sign_session_token: None,
            sigv4a: false,
        }
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        if self.sigv4a {
            Algorithm::SigV4a
        } else {
            Algorithm::SigV4
        }
    }

    /// The region to sign for: the SigV4a region set (`*` unless given) or the `--region`.
    pub fn region<'a>(
        &self,
        region: Option<&'a str>,
        region_set: Option<&'a str>,
    ) -> Option<&'a str> {
        if self.sigv4a {
            Some(region_set.unwrap_or("*"))
        } else {
            region
        }
    }

    /// Whether a `-T` upload goes aws-chunked (each chunk signed, no first pass to hash the
    /// file): S3 rules with a signed payload and SigV4.
    pub fn chunked_uploads(&self) -> bool {
        self.s3 && !self.unsigned_payload && !self.sigv4a
    }

    /// The core's settings for these switches.
    pub fn settings(&self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        settings.normalize_path = self.normalize_path.unwrap_or(!self.s3);
        settings.double_encode = self.double_encode.unwrap_or(!self.s3);
        settings.content_sha256_header = if self
            .content_sha256_header
            .unwrap_or(self.s3 || self.unsigned_payload)
        {
            ContentSha256Header::Always
        } else {
            ContentSha256Header::Never
        };
        settings.session_token_mode = if self.sign_session_token.unwrap_or(true) {
            SessionTokenMode::Signed
        } else {
            SessionTokenMode::AddedAfterSigning
        };
        // S3 presigned URLs sign UNSIGNED-PAYLOAD (the core applies the rule).
        settings.presigned_payload_unsigned = self.s3;
        settings.location = match self.presign_expires {
            None => SignatureLocation::Headers,
            Some(seconds) => SignatureLocation::Query {
                expires_in: Duration::from_secs(seconds),
            },
        };
        settings
    }

    /// The payload to sign: unsigned when asked, otherwise the body's bytes (for S3 presigned
    /// URLs the core signs `UNSIGNED-PAYLOAD` whatever is given: see
    /// [`SigningSettings::presigned_payload_unsigned`]).
    pub fn payload<'a>(&self, body: &'a [u8]) -> Payload<'a> {
        if self.unsigned_payload {
            Payload::Unsigned
        } else {
            Payload::Bytes(body)
        }
    }
}

/// Lower-case hex of `bytes` (a SigV4a public key).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A header the `http` crate refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadHeader {
    /// The name is not an HTTP token.
    Name(String),
    /// The value holds a control character (such as a newline).
    Value(String),
}

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadHeader::Name(name) => write!(
                f,
                "header name {:?} is not valid: use letters, digits and !#$%&'*+-.^_`|~ only",
                shorten(name, 60)
            ),
            // The value is not repeated: it may be a credential.
            BadHeader::Value(name) => write!(
                f,
                "the value of header {name} is not valid: it must not hold control characters such as newlines"
            ),
        }
    }
}

/// Appends one header (repeated names keep every value, in order).
pub fn append_header(map: &mut HeaderMap, name: &str, value: &str) -> Result<(), BadHeader> {
    let header_name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| BadHeader::Name(name.to_owned()))?;
    let header_value = HeaderValue::from_str(value)
        .map_err(|_| BadHeader::Value(header_name.as_str().to_owned()))?;
    map.append(header_name, header_value);
    Ok(())
}

/// Builds a header map from `(name, value)` pairs in order, repeated names kept (appended).
#[cfg(test)]
fn header_map<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap, BadHeader> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        append_header(&mut map, name, value)?;
    }
    Ok(map)
}

/// A header value as text (values built from strings are UTF-8; anything else is shown lossily).
pub fn value_text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// The first `max` characters of `text`, with `…` when cut.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// A session token as shown to people: its first 8 characters and `…`.
pub fn short_token(token: &str) -> String {
    let head: String = token.chars().take(8).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_s3_and_unsigned_payload() {
        let plain = Switches::new(false, false).settings();
        assert!(plain.normalize_path && plain.double_encode);
        assert_eq!(plain.content_sha256_header, ContentSha256Header::Never);
        assert_eq!(plain.session_token_mode, SessionTokenMode::Signed);
        assert_eq!(plain.location, SignatureLocation::Headers);

        let s3 = Switches::new(true, false).settings();
        assert!(!s3.normalize_path && !s3.double_encode);
        assert_eq!(s3.content_sha256_header, ContentSha256Header::Always);

        let unsigned = Switches::new(false, true).settings();
        assert!(unsigned.normalize_path);
        assert_eq!(unsigned.content_sha256_header, ContentSha256Header::Always);
    }

    #[test]
    fn overrides_win() {
        let mut switches = Switches::new(true, false);
        switches.normalize_path = Some(true);
        switches.content_sha256_header = Some(false);
        switches.sign_session_token = Some(false);
        switches.presign_expires = Some(60);
        let settings = switches.settings();
        assert!(settings.normalize_path && !settings.double_encode);
        assert_eq!(settings.content_sha256_header, ContentSha256Header::Never);
        assert_eq!(
            settings.session_token_mode,
            SessionTokenMode::AddedAfterSigning
        );
        assert_eq!(
            settings.location,
            SignatureLocation::Query {
                expires_in: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn payload_choice() {
        let body = b"abc";
        assert!(matches!(
            Switches::new(false, false).payload(body),
            Payload::Bytes(b"abc")
        ));
        assert!(matches!(
            Switches::new(false, true).payload(body),
            Payload::Unsigned
        ));
        // S3 presigning signs UNSIGNED-PAYLOAD: a setting the core applies.
        assert!(matches!(
            Switches::new(true, false).payload(body),
            Payload::Bytes(_)
        ));
        let mut presign = Switches::new(true, false);
        presign.presign_expires = Some(900);
        assert!(presign.settings().presigned_payload_unsigned);
        presign.s3 = false;
        assert!(!presign.settings().presigned_payload_unsigned);
    }

    #[test]
    fn header_map_keeps_repeats_in_order() {
        let map = header_map([("X-A", "1"), ("x-b", "2"), ("x-a", "3")]).unwrap();
        let values: Vec<_> = map
            .get_all("x-a")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(values, ["1", "3"]);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn header_map_rejects_bad_names_and_values_without_echoing_values() {
        assert_eq!(
            header_map([("bad name", "v")]),
            Err(BadHeader::Name("bad name".into()))
        );
        let err = header_map([("x-token", "secret\nvalue")]).unwrap_err();
        assert_eq!(err, BadHeader::Value("x-token".into()));
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(short_token("6e86291e8372ff2a"), "6e86291e…");
        assert_eq!(short_token("é漢字"), "é漢字…");
    }
}
