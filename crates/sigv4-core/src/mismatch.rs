//! Explaining a `SignatureDoesNotMatch`: AWS's view of the request beside ours, line by line.
//!
//! When AWS refuses a signature it often says what it computed: API Gateway's message holds
//! "The Canonical String for this request should have been '…'" and "The String-to-Sign should
//! have been '…'"; S3's XML error holds `<CanonicalRequest>` and `<StringToSign>`.
//! [`AwsView::from_body`] reads either; [`diff_lines`] sets AWS's text beside ours with the
//! differing lines marked; [`explain`] does both for a request we signed.
//!
//! ```
//! use sigv4_core::mismatch::{diff_lines, AwsView};
//!
//! let body = br#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'GET\n/prod/items\n\nhost:api.example.com\nx-amz-date:20240101T000000Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/execute-api/aws4_request\n0123'\n"}"#;
//! let aws = AwsView::from_body(body).unwrap();
//! let ours = "GET\n/prod/item\n\nhost:api.example.com\nx-amz-date:20240101T000000Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
//! let diff = diff_lines(aws.canonical_request.as_deref().unwrap(), ours);
//! assert_eq!(diff.first_difference(), Some(2)); // the path, line 2
//! assert!(diff.to_string().contains("-   2 /prod/items   <- AWS expected"));
//! assert!(diff.to_string().contains("+   2 /prod/item   <- we signed"));
//! ```
//!
//! Session tokens are shortened in every rendering (`x-amz-security-token:` lines and the
//! `X-Amz-Security-Token` query parameter): a diff is safe to log.

use std::fmt::{self, Write as _};

use http::HeaderMap;

use crate::verify::SignedRequest;
use crate::RequestHead;
use crate::{
    Credentials, ExcludedHeaders, Inspection, Payload, SignatureLocation, Signer, SigningParams,
    SigningSettings,
};

const APIGW_CANONICAL: &str = "The Canonical String for this request should have been";
const APIGW_STRING_TO_SIGN: &str = "The String-to-Sign should have been";
/// The first sentence of AWS's `SignatureDoesNotMatch` message (API Gateway, STS, most services).
pub const SIGNATURE_DOES_NOT_MATCH_MESSAGE: &str = "The request signature we calculated does not \
match the signature you provided. Check your AWS Secret Access Key and signing method. Consult \
the service documentation for details.";

/// What AWS said it computed for a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsView {
    /// AWS's canonical request, when shown.
    pub canonical_request: Option<String>,
    /// AWS's string to sign, when shown.
    pub string_to_sign: Option<String>,
}

impl AwsView {
    /// Reads AWS's view from a refusal's body: API Gateway's JSON (or plain text) message, or
    /// S3's XML error. `None` when the body shows neither text.
    pub fn from_body(body: &[u8]) -> Option<AwsView> {
        let text = std::str::from_utf8(body).ok()?;
        let view = if text.contains("<CanonicalRequest>") || text.contains("<StringToSign>") {
            AwsView {
                canonical_request: xml_element(text, "CanonicalRequest"),
                string_to_sign: xml_element(text, "StringToSign"),
            }
        } else {
            let message = json_message(text).unwrap_or_else(|| text.to_owned());
            AwsView {
                canonical_request: quoted_after(&message, APIGW_CANONICAL, true),
                string_to_sign: quoted_after(&message, APIGW_STRING_TO_SIGN, false),
            }
        };
        (view.canonical_request.is_some() || view.string_to_sign.is_some()).then_some(view)
    }
}

/// API Gateway's `SignatureDoesNotMatch` message for a request it recomputed as `inspection`
/// (what a verifying server answers so that clients can show the mismatch).
pub fn api_gateway_message(inspection: &Inspection) -> String {
    format!(
        "{SIGNATURE_DOES_NOT_MATCH_MESSAGE}\n\n{APIGW_CANONICAL}\n'{}'\n\n{APIGW_STRING_TO_SIGN}\n'{}'\n",
        inspection.canonical_request, inspection.string_to_sign
    )
}

/// The text of `<name>…</name>`, XML entities decoded.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(xml_unescape(&text[start..end]))
}

fn xml_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of the `"message"` (or `"Message"`) string of a JSON object, decoded.
fn json_message(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    let key = ["\"message\"", "\"Message\""]
        .iter()
        .find_map(|k| trimmed.find(k).map(|at| at + k.len()))?;
    let rest = trimmed[key..].trim_start().strip_prefix(':')?.trim_start();
    let mut chars = rest.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    if (0xD800..0xDC00).contains(&unit) {
                        // A surrogate pair: \uD83D\uDE00.
                        let low: String = chars.by_ref().skip(2).take(4).collect();
                        let low = u32::from_str_radix(&low, 16).ok()?;
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low.checked_sub(0xDC00)?);
                        out.push(char::from_u32(c)?);
                    } else {
                        out.push(char::from_u32(unit)?);
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// The `'…'` text after `phrase`. A canonical request may itself hold quotes (in header
/// values), so it ends at the last quote before the string to sign's phrase (or the end).
fn quoted_after(message: &str, phrase: &str, until_next_phrase: bool) -> Option<String> {
    let after = &message[message.find(phrase)? + phrase.len()..];
    let start = after.find('\'')? + 1;
    let body = &after[start..];
    let limit = if until_next_phrase {
        body.find(APIGW_STRING_TO_SIGN).unwrap_or(body.len())
    } else {
        body.find('\'').map_or(body.len(), |q| q + 1)
    };
    let end = body[..limit].rfind('\'')?;
    Some(body[..end].to_owned())
}

/// One line of a [`LineDiff`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiffLine {
    /// The same on both sides.
    Same(String),
    /// Only in AWS's text (what AWS expected).
    Aws(String),
    /// Only in ours (what we signed).
    Ours(String),
}

/// AWS's text against ours, line by line (a longest-common-subsequence diff). `Display` writes
/// `  ` before a line both have, `- ` before AWS's, `+ ` before ours, with a line number on
/// each changed line; session tokens shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDiff {
    lines: Vec<DiffLine>,
}

impl LineDiff {
    /// The lines, in order.
    pub fn lines(&self) -> &[DiffLine] {
        &self.lines
    }

    /// True when the two texts differ.
    pub fn differs(&self) -> bool {
        self.lines.iter().any(|l| !matches!(l, DiffLine::Same(_)))
    }

    /// The 1-based line number, in AWS's text, of the first line that differs.
    pub fn first_difference(&self) -> Option<usize> {
        let mut aws_line = 0;
        for line in &self.lines {
            match line {
                DiffLine::Same(_) => aws_line += 1,
                DiffLine::Aws(_) | DiffLine::Ours(_) => return Some(aws_line + 1),
            }
        }
        None
    }
}

/// The most lines compared (the diff is quadratic): past it, the rest is shown as changed.
const MAX_DIFF_LINES: usize = 2000;

/// Sets `aws` beside `ours`, line by line.
pub fn diff_lines(aws: &str, ours: &str) -> LineDiff {
    let a: Vec<&str> = aws.split('\n').collect();
    let b: Vec<&str> = ours.split('\n').collect();
    let (n, m) = (a.len().min(MAX_DIFF_LINES), b.len().min(MAX_DIFF_LINES));
    // lcs[i][j]: the longest common subsequence of a[i..n] and b[j..m].
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let mut lines = Vec::with_capacity(n.max(m));
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            lines.push(DiffLine::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if lcs[at(i + 1, j)] >= lcs[at(i, j + 1)] {
            lines.push(DiffLine::Aws(a[i].to_owned()));
            i += 1;
        } else {
            lines.push(DiffLine::Ours(b[j].to_owned()));
            j += 1;
        }
    }
    lines.extend(a[i..].iter().map(|l| DiffLine::Aws((*l).to_owned())));
    lines.extend(b[j..].iter().map(|l| DiffLine::Ours((*l).to_owned())));
    LineDiff { lines }
}

/// A line as shown: session tokens shortened.
fn shown(line: &str) -> String {
    fn short(token: &str) -> String {
        if token.chars().count() <= 8 {
            token.to_owned()
        } else {
            format!("{}…", token.chars().take(8).collect::<String>())
        }
    }
    if let Some(token) = line.strip_prefix("x-amz-security-token:") {
        return format!("x-amz-security-token:{}", short(token));
    }
    if let Some(at) = line.find("X-Amz-Security-Token=") {
        let start = at + "X-Amz-Security-Token=".len();
        let end = line[start..].find('&').map_or(line.len(), |e| start + e);
        return format!(
            "{}{}{}",
            &line[..start],
            short(&line[start..end]),
            &line[end..]
        );
    }
    line.to_owned()
}

impl fmt::Display for LineDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut aws_no, mut ours_no) = (0usize, 0usize);
        for line in &self.lines {
            match line {
                DiffLine::Same(text) => {
                    aws_no += 1;
                    ours_no += 1;
                    writeln!(f, "      {}", shown(text))?;
                }
                DiffLine::Aws(text) => {
                    aws_no += 1;
                    writeln!(f, "- {aws_no:>3} {}   <- AWS expected", shown(text))?;
                }
                DiffLine::Ours(text) => {
                    ours_no += 1;
                    writeln!(f, "+ {ours_no:>3} {}   <- we signed", shown(text))?;
                }
            }
        }
        Ok(())
    }
}

/// AWS's view against ours, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// AWS's canonical request against ours (when AWS showed it).
    pub canonical_request: Option<LineDiff>,
    /// AWS's string to sign against ours (when AWS showed it).
    pub string_to_sign: Option<LineDiff>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (what, diff) in [
            ("canonical request", &self.canonical_request),
            ("string to sign", &self.string_to_sign),
        ] {
            let Some(diff) = diff else { continue };
            if !first {
                f.write_char('\n')?;
            }
            first = false;
            match diff.first_difference() {
                Some(line) => writeln!(
                    f,
                    "{what}: AWS's (-) against ours (+); first difference on line {line}:"
                )?,
                None => writeln!(f, "{what}: AWS's and ours are the same:")?,
            }
            write!(f, "{diff}")?;
        }
        Ok(())
    }
}

/// Recomputes the canonical request and string to sign of a request signed in its
/// `Authorization` header, as a verifier does: only the headers it lists as signed, its date,
/// region and service; `settings` gives the path rules (normalization, double encoding). The
/// secret plays no part in these texts, so none is needed (the `signature` field of the result
/// means nothing). `None` when the request carries no readable SigV4 `Authorization`.
pub fn recompute(
    head: RequestHead<'_>,
    payload: Payload<'_>,
    settings: &SigningSettings,
) -> Option<Inspection> {
    let RequestHead {
        method,
        uri,
        headers,
        ..
    } = head;
    let claimed = SignedRequest::parse(uri, headers).ok()?;
    if claimed.is_presigned() {
        return None;
    }
    let mut signed = HeaderMap::new();
    for name in claimed.signed_headers().split(';') {
        for value in headers.get_all(name) {
            if let Ok(name) = http::HeaderName::from_bytes(name.as_bytes()) {
                signed.append(name, value.clone());
            }
        }
    }
    let settings = SigningSettings {
        excluded_headers: ExcludedHeaders::new([]),
        content_sha256_header: crate::ContentSha256Header::Never,
        location: SignatureLocation::Headers,
        ..settings.clone()
    };
    // The secret does not enter the canonical request or the string to sign. A session token
    // listed among the signed headers comes from the credentials (the signer never signs a token
    // header it finds in the request).
    let token = claimed
        .signed_headers()
        .split(';')
        .any(|h| h == "x-amz-security-token")
        .then(|| signed.remove("x-amz-security-token"))
        .flatten()
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    let credentials = Credentials::builder(claimed.access_key_id(), "-")
        .session_token_opt(token)
        .build();
    let params = SigningParams::new(
        &credentials,
        claimed.region(),
        claimed.service(),
        claimed.date().to_system_time(),
    )
    .with_settings(&settings)
    .with_algorithm(claimed.algorithm());
    let (_, inspection) = Signer::with_cache_capacity(0)
        .inspect(RequestHead::new(method, uri, &signed), payload, &params)
        .ok()?;
    Some(inspection)
}

/// For a request we signed (its head as sent, with `Authorization`) and the body of AWS's
/// refusal: AWS's canonical request and string to sign against ours. `None` when the refusal
/// shows neither or the request cannot be recomputed.
pub fn explain(
    refusal_body: &[u8],
    head: RequestHead<'_>,
    payload: Payload<'_>,
    settings: &SigningSettings,
) -> Option<Explanation> {
    let aws = AwsView::from_body(refusal_body)?;
    let ours = recompute(head, payload, settings)?;
    Some(explain_against(&aws, &ours))
}

/// AWS's view against an [`Inspection`] of ours (what `Signer::inspect` returned when signing).
pub fn explain_against(aws: &AwsView, ours: &Inspection) -> Explanation {
    Explanation {
        canonical_request: aws
            .canonical_request
            .as_deref()
            .map(|text| diff_lines(text, &ours.canonical_request)),
        string_to_sign: aws
            .string_to_sign
            .as_deref()
            .map(|text| diff_lines(text, &ours.string_to_sign)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn s3_xml_is_read_and_unescaped() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/s3/aws4_request\nabc</StringToSign><SignatureProvided>def</SignatureProvided><StringToSignBytes>41 57</StringToSignBytes><CanonicalRequest>GET\n/key\na=1&amp;b=%3C\nhost:bucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD</CanonicalRequest><CanonicalRequestBytes>47</CanonicalRequestBytes><RequestId>X</RequestId></Error>";
        let view = AwsView::from_body(body).unwrap();
        assert_eq!(
            view.canonical_request.as_deref(),
            Some("GET\n/key\na=1&b=%3C\nhost:bucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD")
        );
        assert!(view.string_to_sign.unwrap().ends_with("aws4_request\nabc"));
    }

    #[test]
    fn other_bodies_show_nothing() {
        assert_eq!(AwsView::from_body(br#"{"message":"Forbidden"}"#), None);
        assert_eq!(AwsView::from_body(b"\xff\xfe"), None);
        assert_eq!(AwsView::from_body(b""), None);
    }

    #[test]
    fn the_message_round_trips_with_quotes_inside() {
        let inspection = Inspection {
            canonical_request: "GET\n/\n\nhost:h\nx-note:it's\n\nhost;x-note\nabc".to_owned(),
            string_to_sign: "AWS4-HMAC-SHA256\nT\nS\nH".to_owned(),
            signed_headers: String::new(),
            credential_scope: String::new(),
            payload_hash: String::new(),
            signature: String::new(),
        };
        let message = api_gateway_message(&inspection);
        let view = AwsView::from_body(message.as_bytes()).unwrap();
        assert_eq!(
            view.canonical_request.unwrap(),
            inspection.canonical_request
        );
        assert_eq!(view.string_to_sign.unwrap(), inspection.string_to_sign);
        let json = format!(
            "{{\"message\":\"{}\"}}",
            message.replace('\n', "\\n").replace('\'', "\\u0027")
        );
        let view = AwsView::from_body(json.as_bytes()).unwrap();
        assert_eq!(
            view.canonical_request.unwrap(),
            inspection.canonical_request
        );
    }

    #[test]
    fn diffs_mark_the_changed_line_and_hide_tokens() {
        let diff = diff_lines(
            "GET\n/a\n\nhost:h\nx-amz-security-token:SECRETTOKENVALUE1\n\nhost",
            "GET\n/a\n\nhost:h2\nx-amz-security-token:SECRETTOKENVALUE1\n\nhost",
        );
        assert_eq!(diff.first_difference(), Some(4));
        let text = diff.to_string();
        assert!(text.contains("-   4 host:h   <- AWS expected"), "{text}");
        assert!(text.contains("+   4 host:h2   <- we signed"), "{text}");
        assert!(!text.contains("SECRETTOKENVALUE1"), "{text}");
        assert!(!diff_lines("a\nb", "a\nb").differs());
    }

    #[test]
    fn recompute_matches_the_signer() {
        let signer = Signer::new();
        let creds = Credentials::builder("AKIDEXAMPLE", "secret")
            .session_token("TOKEN")
            .build();
        let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut request = http::Request::post("https://api.example.com/a/b?x=1")
            .header("host", "api.example.com")
            .header("content-type", "application/json")
            .header("user-agent", "not signed")
            .body(())
            .unwrap();
        let params = SigningParams::new(&creds, "eu-west-1", "execute-api", time);
        let (output, inspection) = signer
            .inspect((&request).into(), Payload::Bytes(b"{}"), &params)
            .unwrap();
        output.apply_to_request(&mut request).unwrap();
        let again = recompute(
            (&request).into(),
            Payload::Bytes(b"{}"),
            &SigningSettings::default(),
        )
        .unwrap();
        assert_eq!(again.canonical_request, inspection.canonical_request);
        assert_eq!(again.string_to_sign, inspection.string_to_sign);
        // A header changed after signing shows up on its own line.
        request
            .headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        let changed = recompute(
            (&request).into(),
            Payload::Bytes(b"{}"),
            &SigningSettings::default(),
        )
        .unwrap();
        let diff = diff_lines(&inspection.canonical_request, &changed.canonical_request);
        assert_eq!(diff.first_difference(), Some(4)); // content-type
    }
}
