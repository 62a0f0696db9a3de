//! Why a request was refused, and the AWS-style response that says so.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use sigv4_core::verify::VerifyError;

/// `x-amzn-ErrorType`, the header that carries the error code on a refusal (HTTP header names are
/// case-insensitive; `http` writes them in lower case).
pub static X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// A refused request: status, AWS error code and message.
///
/// The [`Verify`](super::Verify) service answers a refusal itself (the inner service is not
/// called) with [`Rejection::to_response`]: the status, `content-type: application/json`,
/// `x-amzn-ErrorType: <code>` and the body `{"message":"<message>"}`, like API Gateway. The
/// `Rejection` is also put in the response's extensions, so an outer layer can log or count it.
///
/// | code | status | when |
/// | --- | --- | --- |
/// | `MissingAuthenticationToken` | 403 | neither an `Authorization` header nor a presigned query (message `Missing Authentication Token`) |
/// | `IncompleteSignature` | 403 | a malformed `Authorization` header or presigned query; a `SignedHeaders` list that is unsorted, repeats a name, names more than `MAX_SIGNED_HEADERS` (64) headers, or whose headers take more than `MAX_SIGNED_HEADER_BYTES` (32 KiB) (see `sigv4_core::verify::SignedHeadersError`) |
/// | `InvalidClientTokenId` | 403 | unknown access key id, or a session token that does not match it |
/// | `ExpiredToken` | 403 | the key store's credentials for that key have expired |
/// | `InvalidSignatureException` | 403 | the time is outside the allowed skew or the presigned URL expired (message starts `Signature expired`), or the credential scope is wrong |
/// | `SignatureDoesNotMatch` | 403 | the recomputed signature differs (changed body, header, path, or wrong secret): the message is API Gateway's, with the canonical string and string to sign expected (read back by `sigv4_core::mismatch`); also a signed `UNSIGNED-PAYLOAD` when that is not allowed |
/// | `XAmzContentSHA256Mismatch` | 400 | a signed `x-amz-content-sha256` that is not the body's SHA-256 |
/// | `InvalidArgument` | 400 | a signed `x-amz-content-sha256` that is neither a SHA-256 nor `UNSIGNED-PAYLOAD` |
/// | `RequestEntityTooLarge` | 413 | the body is over the limit (checked on `Content-Length` before reading) |
/// | `BadRequest` | 400 | the body could not be read |
/// | `InternalFailure` | 500 | the key store failed |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    access_key_id: Option<String>,
}

impl Rejection {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            access_key_id: None,
        }
    }

    pub(crate) fn from_verify(error: &VerifyError) -> Self {
        Self::new(StatusCode::FORBIDDEN, error.code(), error.to_string())
    }

    pub(crate) fn with_access_key_id(mut self, access_key_id: &str) -> Self {
        self.access_key_id = Some(access_key_id.to_owned());
        self
    }

    /// The HTTP status (403 for every signature problem).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The AWS error code, as sent in `x-amzn-ErrorType` (`SignatureDoesNotMatch`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message, as sent in the JSON body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The access key id the request claimed, when it got that far.
    pub fn access_key_id(&self) -> Option<&str> {
        self.access_key_id.as_deref()
    }

    /// The response for this refusal, with any body type that can be made from [`Bytes`]
    /// (`http_body_util::Full<Bytes>`, `axum::body::Body`, ...). The response's extensions hold a
    /// copy of the `Rejection`.
    pub fn to_response<B: From<Bytes>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(json_message(&self.message)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            X_AMZN_ERROR_TYPE.clone(),
            HeaderValue::from_static(self.code),
        );
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for Rejection {}

/// `{"message":"..."}` with the message escaped as a JSON string.
fn json_message(message: &str) -> Bytes {
    let mut out = String::with_capacity(message.len() + 16);
    out.push_str("{\"message\":\"");
    for c in message.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push_str("\"}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_escaped() {
        assert_eq!(
            json_message("a \"b\" \\ c\n\u{1}"),
            Bytes::from_static(b"{\"message\":\"a \\\"b\\\" \\\\ c\\n\\u0001\"}")
        );
    }

    #[test]
    fn missing_token_looks_like_api_gateway() {
        let rejection = Rejection::from_verify(&VerifyError::MissingAuthentication);
        let response: Response<Bytes> = rejection.to_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["x-amzn-ErrorType"],
            "MissingAuthenticationToken"
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.body(),
            &Bytes::from_static(br#"{"message":"Missing Authentication Token"}"#)
        );
    }
}
