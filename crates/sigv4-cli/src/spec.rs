//! `sigv4 sign --spec FILE`: requests described in JSON, one JSON line out per request.
//!
//! This is the interface other tools use to compare us with other SDKs; keep it stable.
//!
//! Input: one JSON object, an array of them, or several such documents one after another
//! (JSON lines). Each object:
//!
//! ```text
//! {id, method, url (percent-encoded), headers: [[name, value], ...], body | body_b64,
//!  access_key, secret_key, session_token (null/absent: none), region, service,
//!  timestamp ("YYYYMMDDTHHMMSSZ"), mode ("header" | "query", default "header"),
//!  expires (seconds, query mode), s3 (bool), unsigned_payload (bool),
//!  normalize_path, double_encode, content_sha256_header, sign_session_token (optional bools),
//!  algorithm ("sigv4" | "sigv4a", default "sigv4"), region_set (SigV4a: "*" or
//!  "us-east-1,us-west-2"; region is then not needed)}
//! ```
//!
//! Output, one line per object, in input order:
//!
//! ```text
//! {id, canonical_request, string_to_sign, signature, signed_headers, credential_scope,
//!  payload_hash, authorization (header mode only), headers: [[name, value], ...] (every header
//!  after signing, `host` included: when the spec has none it is the one signed from the URL),
//!  url, public_key (SigV4a only: the ECDSA P-256 key derived from the access key and secret,
//!  uncompressed SEC1 `04 || X || Y`, lower-case hex)}
//! ```
//!
//! or `{id, error}` for an object that cannot be signed; the run goes on. A document that is
//! not JSON, or not an object or array, stops the run before any output (exit 2).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::ops::Range;

use base64::Engine as _;
use http::header::{HeaderMap, AUTHORIZATION};
use http::{Method, Uri};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use sigv4_core::{
    AmzDate, Credentials, Inspection, RequestHead, Signer, SigningError, SigningParams, TimeError,
};

use crate::error::{read_input, CliError};
use crate::request::{append_header, hex, shorten, value_text, BadHeader, Switches};

/// Why one spec could not be signed; the message goes on the spec's output line. Messages
/// never hold the secret key or the session token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpecError {
    /// The array element is not an object.
    #[error("a spec must be a JSON object")]
    NotAnObject,
    /// A required field is absent or null.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `algorithm` is neither `sigv4` nor `sigv4a`.
    #[error("field `algorithm` must be \"sigv4\" or \"sigv4a\", not {0:?}")]
    BadAlgorithm(String),
    /// SigV4a without `region_set`.
    #[error(
        "field `region_set` is required when `algorithm` is \"sigv4a\" (\"*\" for every region)"
    )]
    MissingRegionSet,
    /// `mode` is neither `header` nor `query`.
    #[error("field `mode` must be \"header\" or \"query\", not {0:?}")]
    BadMode(String),
    /// Query mode without `expires`.
    #[error("field `expires` (seconds) is required when `mode` is \"query\"")]
    MissingExpires,
    /// Both `body` and `body_b64`.
    #[error("give `body` or `body_b64`, not both")]
    TwoBodies,
    /// `body_b64` is not base64.
    #[error("field `body_b64` is not valid base64 (standard alphabet, padded): {0}")]
    BadBase64(base64::DecodeError),
    /// `method` is not an HTTP method token.
    #[error("field `method` {0:?} is not a valid HTTP method")]
    BadMethod(String),
    /// `url` is not a URI `http` accepts.
    #[error("field `url` {url:?} is not a valid URI ({reason}): percent-encode spaces and other reserved characters")]
    BadUrl {
        /// The URL, shortened.
        url: String,
        /// What `http` said.
        reason: String,
    },
    /// A header `http` refuses.
    #[error("headers[{index}]: {reason}")]
    BadHeader {
        /// Position in `headers`.
        index: usize,
        /// Why.
        reason: BadHeader,
    },
    /// `timestamp` is not `YYYYMMDDTHHMMSSZ`.
    #[error("field `timestamp`: {0}")]
    Timestamp(TimeError),
    /// The signer refused the request.
    #[error(transparent)]
    Signing(#[from] SigningError),
}

/// The fields of one spec object, read with typed errors.
struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    /// The field, `None` when absent or null.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn str_opt(&self, name: &'static str) -> Result<Option<&'a str>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(SpecError::WrongType {
                field: name,
                expected: "a string",
            }),
        }
    }

    fn str_req(&self, name: &'static str) -> Result<&'a str, SpecError> {
        self.str_opt(name)?.ok_or(SpecError::Missing(name))
    }

    fn bool_opt(&self, name: &'static str) -> Result<Option<bool>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(SpecError::WrongType {
                field: name,
                expected: "true or false",
            }),
        }
    }

    fn u64_opt(&self, name: &'static str) -> Result<Option<u64>, SpecError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or(SpecError::WrongType {
                field: name,
                expected: "a whole number of seconds",
            }),
        }
    }

    fn headers(&self) -> Result<HeaderMap, SpecError> {
        const EXPECTED: &str = "an array of [name, value] string pairs";
        let wrong = || SpecError::WrongType {
            field: "headers",
            expected: EXPECTED,
        };
        let list = match self.get("headers") {
            None => return Ok(HeaderMap::new()),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(wrong()),
        };
        let mut map = HeaderMap::with_capacity(list.len() + 4);
        for (index, pair) in list.iter().enumerate() {
            let (name, value) = match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(name), Value::String(value)]) => (name, value),
                _ => return Err(wrong()),
            };
            append_header(&mut map, name, value)
                .map_err(|reason| SpecError::BadHeader { index, reason })?;
        }
        Ok(map)
    }
}

/// A signed spec, ready to be written.
struct Signed {
    inspection: Inspection,
    authorization: Option<String>,
    headers: HeaderMap,
    url: String,
    /// SigV4a: the derived public key, hex.
    public_key: Option<String>,
}

/// Signs one spec.
fn sign_spec(signer: &Signer, spec: &Value) -> Result<Signed, SpecError> {
    let fields = Fields(spec.as_object().ok_or(SpecError::NotAnObject)?);
    let method = fields.str_req("method")?;
    let url = fields.str_req("url")?;
    let headers = fields.headers()?;
    let body: Cow<'_, [u8]> = match (fields.str_opt("body")?, fields.str_opt("body_b64")?) {
        (Some(_), Some(_)) => return Err(SpecError::TwoBodies),
        (Some(text), None) => Cow::Borrowed(text.as_bytes()),
        (None, Some(b64)) => Cow::Owned(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(SpecError::BadBase64)?,
        ),
        (None, None) => Cow::Borrowed(&[]),
    };
    let access_key = fields.str_req("access_key")?;
    let secret_key = fields.str_req("secret_key")?;
    let session_token = fields.str_opt("session_token")?;
    let sigv4a = match fields.str_opt("algorithm")?.unwrap_or("sigv4") {
        "sigv4" => false,
        "sigv4a" => true,
        other => return Err(SpecError::BadAlgorithm(shorten(other, 40).into_owned())),
    };
    let region = if sigv4a {
        fields
            .str_opt("region_set")?
            .ok_or(SpecError::MissingRegionSet)?
    } else {
        fields.str_req("region")?
    };
    let service = fields.str_req("service")?;
    let timestamp = fields.str_req("timestamp")?;
    let s3 = fields.bool_opt("s3")?.unwrap_or(false);
    let unsigned_payload = fields.bool_opt("unsigned_payload")?.unwrap_or(false);
    let expires = fields.u64_opt("expires")?;
    let mut switches = Switches::new(s3, unsigned_payload);
    switches.presign_expires = match fields.str_opt("mode")?.unwrap_or("header") {
        "header" => None,
        "query" => Some(expires.ok_or(SpecError::MissingExpires)?),
        other => return Err(SpecError::BadMode(shorten(other, 40).into_owned())),
    };
    switches.normalize_path = fields.bool_opt("normalize_path")?;
    switches.double_encode = fields.bool_opt("double_encode")?;
    switches.content_sha256_header = fields.bool_opt("content_sha256_header")?;
    switches.sign_session_token = fields.bool_opt("sign_session_token")?;
    switches.sigv4a = sigv4a;

    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| SpecError::BadMethod(shorten(method, 40).into_owned()))?;
    let uri = Uri::try_from(url).map_err(|e| SpecError::BadUrl {
        url: shorten(url, 100).into_owned(),
        reason: e.to_string(),
    })?;
    let time = AmzDate::parse(timestamp)
        .map_err(SpecError::Timestamp)?
        .to_system_time();
    let credentials = Credentials::builder(access_key, secret_key)
        .session_token_opt(session_token.map(str::to_owned))
        .build();

    let settings = switches.settings();
    let params = SigningParams::new(&credentials, region, service, time)
        .with_settings(&settings)
        .with_algorithm(switches.algorithm());
    let (output, inspection) = signer.inspect(
        RequestHead::new(&method, &uri, &headers),
        switches.payload(&body),
        &params,
    )?;
    let authorization = output
        .headers()
        .find(|(name, _)| *name == AUTHORIZATION)
        .map(|(_, value)| value_text(value).into_owned());
    let (mut uri, mut headers) = (uri, headers);
    output.apply(&mut uri, &mut headers)?;
    if !headers.contains_key(http::header::HOST) {
        // The signer signed `host` from the URL (as an HTTP client will send it): list it
        // first among the headers after signing, with the value that was signed.
        let signed_host = inspection
            .canonical_request
            .lines()
            .skip(3)
            .take_while(|line| !line.is_empty())
            .find_map(|line| line.strip_prefix("host:"))
            .and_then(|value| http::HeaderValue::from_str(value).ok());
        if let Some(value) = signed_host {
            let mut with_host = HeaderMap::with_capacity(headers.len() + 1);
            with_host.insert(http::header::HOST, value);
            with_host.extend(headers);
            headers = with_host;
        }
    }
    let public_key = if sigv4a {
        signer.sigv4a_public_key(&credentials).map(|key| hex(&key))
    } else {
        None
    };
    Ok(Signed {
        inspection,
        authorization,
        headers,
        url: uri.to_string(),
        public_key,
    })
}

/// Headers as `[[name, value], ...]` in the map's order.
struct HeadersJson<'a>(&'a HeaderMap);

impl Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (name, value) in self.0 {
            seq.serialize_element(&(name.as_str(), value_text(value)))?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct OkLine<'a> {
    id: &'a Value,
    canonical_request: &'a str,
    string_to_sign: &'a str,
    signature: &'a str,
    signed_headers: &'a str,
    credential_scope: &'a str,
    payload_hash: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<&'a str>,
    headers: HeadersJson<'a>,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    id: &'a Value,
    error: String,
}

/// Signs specs one by one and writes a line for each.
struct Runner<W: Write> {
    signer: Signer,
    out: W,
    lines: u64,
    write_error: Option<io::Error>,
}

impl<W: Write> Runner<W> {
    fn spec(&mut self, spec: &Value) -> io::Result<()> {
        static NULL: Value = Value::Null;
        let id = spec.get("id").unwrap_or(&NULL);
        let written = match sign_spec(&self.signer, spec) {
            Ok(signed) => {
                let i = &signed.inspection;
                serde_json::to_writer(
                    &mut self.out,
                    &OkLine {
                        id,
                        canonical_request: &i.canonical_request,
                        string_to_sign: &i.string_to_sign,
                        signature: &i.signature,
                        signed_headers: &i.signed_headers,
                        credential_scope: &i.credential_scope,
                        payload_hash: &i.payload_hash,
                        authorization: signed.authorization.as_deref(),
                        headers: HeadersJson(&signed.headers),
                        url: &signed.url,
                        public_key: signed.public_key.as_deref(),
                    },
                )
            }
            Err(e) => serde_json::to_writer(
                &mut self.out,
                &ErrorLine {
                    id,
                    error: e.to_string(),
                },
            ),
        };
        written.map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.lines += 1;
        Ok(())
    }
}

/// A top-level document, handed to the runner spec by spec as it is parsed.
struct Document<'r, W: Write>(&'r mut Runner<W>);

impl<'de, W: Write> DeserializeSeed<'de> for Document<'_, W> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, W: Write> Visitor<'de> for Document<'_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(spec) = seq.next_element::<Value>()? {
            self.0.one(&spec)?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let spec = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.0.one(&spec)
    }
}

impl<W: Write> Runner<W> {
    /// One spec from inside the parser: a write error is kept and stops the parse.
    fn one<E: de::Error>(&mut self, spec: &Value) -> Result<(), E> {
        self.spec(spec).map_err(|e| {
            self.write_error = Some(e);
            E::custom("output failed")
        })
    }
}

/// Checks that a top-level document is an object or an array, without keeping it.
struct Shape;

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (one spec) or an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element::<Decoded>()?.is_some() {}
        Ok(Shape)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        while map.next_entry::<Decoded, Decoded>()?.is_some() {}
        Ok(Shape)
    }
}

/// Any JSON value, read through and dropped. Unlike `IgnoredAny` (which skips strings unread),
/// every string is decoded as the signing pass will decode it (UTF-8, escapes, surrogate pairs),
/// so input the signing pass would stop at is refused before any output.
struct Decoded;

impl<'de> Deserialize<'de> for Decoded {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DecodedVisitor)
    }
}

struct DecodedVisitor;

impl<'de> Visitor<'de> for DecodedVisitor {
    type Value = Decoded;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_str<E>(self, _: &str) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_unit<E>(self) -> Result<Decoded, E> {
        Ok(Decoded)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Decoded, A::Error> {
        while seq.next_element::<Decoded>()?.is_some() {}
        Ok(Decoded)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        while map.next_entry::<Decoded, Decoded>()?.is_some() {}
        Ok(Decoded)
    }
}

/// Where each top-level document lies in `input`; every one is checked to be well-formed JSON
/// and an object or array, so a broken file gives no partial output.
fn documents(input: &[u8]) -> Result<Vec<Range<usize>>, serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_slice(input).into_iter::<Shape>();
    let mut ranges = Vec::new();
    let mut start = 0;
    while let Some(shape) = stream.next() {
        shape?;
        let end = stream.byte_offset();
        ranges.push(start..end);
        start = end;
    }
    Ok(ranges)
}

/// Signs every spec in `input` and writes one line per spec to `out`; returns the line count.
pub(crate) fn run(input: &[u8], out: impl Write) -> Result<u64, CliError> {
    let ranges = documents(input)
        .map_err(|e| CliError::Usage(format!("the spec input is not usable: {e}")))?;
    if ranges.is_empty() {
        return Err(CliError::Usage(
            "the spec input is empty: give a JSON object or an array of objects".to_owned(),
        ));
    }
    let mut runner = Runner {
        signer: Signer::new(),
        out: BufWriter::with_capacity(64 * 1024, out),
        lines: 0,
        write_error: None,
    };
    for range in ranges {
        let mut deserializer = serde_json::Deserializer::from_slice(&input[range]);
        if let Err(e) = Document(&mut runner).deserialize(&mut deserializer) {
            return Err(match runner.write_error.take() {
                Some(io) => CliError::Output(io),
                // Not expected: the document was checked above.
                None => CliError::Usage(format!("the spec input is not usable: {e}")),
            });
        }
    }
    runner.out.flush()?;
    Ok(runner.lines)
}

/// `sigv4 sign --spec PATH` (`-` for standard input), writing to standard output.
pub(crate) fn run_file(path: &str) -> Result<(), CliError> {
    let input = read_input(path, "spec")?;
    run(&input, io::stdout().lock()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        run(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn base() -> Value {
        json!({
            "id": "x", "method": "GET", "url": "https://example.amazonaws.com/",
            "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "region": "us-east-1", "service": "service", "timestamp": "20150830T123600Z"
        })
    }

    fn error_of(change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut spec = base();
        change(spec.as_object_mut().unwrap());
        let out = lines(&spec.to_string());
        out[0]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {}", out[0]))
            .to_owned()
    }

    #[test]
    fn get_vanilla_header_signature() {
        // aws-c-auth v4/get-vanilla/header-signature.txt
        let out = lines(&base().to_string());
        assert_eq!(
            out[0]["signature"],
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(out[0]["id"], "x");
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(
            error_of(|m| drop(m.remove("region"))),
            "missing field `region`"
        );
        assert_eq!(
            error_of(|m| drop(m.insert("region".into(), Value::Null))),
            "missing field `region`"
        );
        assert!(error_of(|m| drop(m.insert("s3".into(), json!("yes")))).contains("`s3`"));
        assert!(error_of(|m| drop(m.insert("mode".into(), json!("query")))).contains("`expires`"));
        assert!(error_of(|m| drop(m.insert("mode".into(), json!("body")))).contains("`mode`"));
        assert!(error_of(|m| drop(m.insert("expires".into(), json!(-1)))).contains("`expires`"));
        assert!(
            error_of(|m| drop(m.insert("headers".into(), json!([["a"]])))).contains("`headers`")
        );
        assert!(error_of(|m| drop(m.insert("body_b64".into(), json!("!!")))).contains("base64"));
        assert!(error_of(|m| {
            m.insert("body".into(), json!("a"));
            m.insert("body_b64".into(), json!("YQ=="));
        })
        .contains("not both"));
        assert!(
            error_of(|m| drop(m.insert("url".into(), json!("https://a b/")))).contains("`url`")
        );
        assert!(error_of(|m| drop(m.insert("method".into(), json!("G T")))).contains("`method`"));
        assert!(
            error_of(|m| drop(m.insert("timestamp".into(), json!("2015-08-30"))))
                .contains("`timestamp`")
        );
    }

    #[test]
    fn errors_never_show_secrets() {
        let message = error_of(|m| {
            m.insert("session_token".into(), json!("tok\nen-SECRET"));
        });
        assert!(!message.contains("SECRET"), "{message}");
        let message = error_of(|m| {
            m.insert(
                "headers".into(),
                json!([["x-amz-security-token", "SECRET\u{1}"]]),
            );
        });
        assert!(
            message.starts_with("headers[0]") && !message.contains("SECRET"),
            "{message}"
        );
    }

    #[test]
    fn body_b64_is_the_same_as_body() {
        let mut text = base();
        text["body"] = json!("hello");
        let mut b64 = base();
        b64["body_b64"] = json!("aGVsbG8=");
        assert_eq!(
            lines(&text.to_string())[0]["signature"],
            lines(&b64.to_string())[0]["signature"]
        );
        // hex(sha256("hello"))
        assert_eq!(
            lines(&b64.to_string())[0]["payload_hash"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn documents_in_a_row_and_bad_shapes() {
        let one = base().to_string();
        assert_eq!(lines(&format!("{one}\n[{one},{one}]\n")).len(), 3);
        assert_eq!(lines("[]").len(), 0);
        for bad in ["", "  ", "3", "\"x\"", "[1,", "{} 5", "{\"a\":}"] {
            let mut out = Vec::new();
            let err = run(bad.as_bytes(), &mut out).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(out.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn non_object_element_is_an_error_line() {
        let out = lines(&format!("[1, {}]", base()));
        assert_eq!(
            out[0],
            json!({"id": null, "error": "a spec must be a JSON object"})
        );
        assert!(out[1]["signature"].is_string());
    }
}
