//! Recognizing a service's answer that the credentials are expired or not valid, from the
//! response head only (the body is never read: it streams to the caller untouched).

use http::header::HeaderName;
use http::{HeaderMap, StatusCode};

/// `x-amzn-ErrorType`: the error code of API Gateway and of the JSON and REST-JSON protocols
/// (`ExpiredTokenException:http://internal.amazon.com/...`, sometimes with a `namespace#` prefix).
static X_AMZN_ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
/// `x-amzn-query-error`: the query-protocol code of services that moved to JSON but stayed
/// query-compatible (`InvalidClientTokenId;Sender`).
static X_AMZN_QUERY_ERROR: HeaderName = HeaderName::from_static("x-amzn-query-error");

/// The AWS error codes that mean "these credentials are expired or not valid": a refresh can fix
/// them, so the layer invalidates the credentials it signed with.
///
/// | code | who answers it |
/// | --- | --- |
/// | `ExpiredToken` | STS, S3, API Gateway, most query and REST-XML services: the session token has expired |
/// | `ExpiredTokenException` | JSON-protocol services (DynamoDB, Lambda, ...): the same |
/// | `InvalidClientTokenId` | STS, IAM, API Gateway: the access key id or session token is not known (revoked, rotated, or a session of a deleted role) |
/// | `UnrecognizedClientException` | JSON-protocol services: the same |
/// | `InvalidToken` | S3: the session token is malformed or not valid |
/// | `TokenRefreshRequired` | S3: the session token must be refreshed |
/// | `InvalidAccessKeyId` | S3: the access key id does not exist |
///
/// Left out on purpose, because new credentials cannot fix them: `SignatureDoesNotMatch`,
/// `IncompleteSignature` and `InvalidSignatureException` (a signing or secret problem),
/// `RequestTimeTooSkewed`, `RequestExpired`, `RequestInTheFuture` and `AuthFailure` (clock skew;
/// the SDKs classify them as such), and `AccessDenied` (the identity is valid but not allowed).
pub const REFUSED_CREDENTIALS_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidAccessKeyId",
];

/// Whether `code` (an AWS error code such as `ExpiredToken`) says that the credentials are
/// expired or not valid; see [`REFUSED_CREDENTIALS_CODES`]. For callers that read error bodies the
/// layer does not look at (S3 and STS put the code in an XML body's `<Code>`): on `true`, call
/// the provider's [`invalidate`](sigv4_credentials::ProvideCredentials::invalidate).
pub fn is_refused_credentials_code(code: &str) -> bool {
    REFUSED_CREDENTIALS_CODES.contains(&code)
}

/// The error code of a response that refuses the credentials, if it is one: status 400 or 403
/// with `x-amzn-ErrorType` or `x-amzn-query-error` naming one of [`REFUSED_CREDENTIALS_CODES`].
pub(crate) fn refused_credentials_code(
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<&'static str> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::BAD_REQUEST {
        return None;
    }
    error_codes(headers).find_map(|code| {
        REFUSED_CREDENTIALS_CODES
            .iter()
            .find(|known| **known == code)
            .copied()
    })
}

/// The AWS error codes an answer's head names: `x-amzn-ErrorType` (`Code:http://...`, possibly
/// `namespace#Code`) and `x-amzn-query-error` (`Code;Sender`), trimmed.
pub(crate) fn error_codes(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    let error_type = headers
        .get(&X_AMZN_ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.split(':').next().unwrap_or(v);
            v.rsplit('#').next().unwrap_or(v)
        });
    let query_error = headers
        .get(&X_AMZN_QUERY_ERROR)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v));
    [error_type, query_error]
        .into_iter()
        .flatten()
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn code(status: u16, name: &'static str, value: &'static str) -> Option<&'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        refused_credentials_code(StatusCode::from_u16(status).unwrap(), &headers)
    }

    #[test]
    fn recognizes_the_header_forms() {
        assert_eq!(
            code(403, "x-amzn-ErrorType", "ExpiredToken"),
            Some("ExpiredToken")
        );
        assert_eq!(
            code(
                400,
                "x-amzn-ErrorType",
                "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/"
            ),
            Some("ExpiredTokenException")
        );
        assert_eq!(
            code(
                400,
                "x-amzn-errortype",
                "com.amazonaws.dynamodb.v20120810#UnrecognizedClientException"
            ),
            Some("UnrecognizedClientException")
        );
        assert_eq!(
            code(403, "x-amzn-query-error", "InvalidClientTokenId;Sender"),
            Some("InvalidClientTokenId")
        );
    }

    #[test]
    fn leaves_other_answers_alone() {
        for (status, value) in [
            (403, "SignatureDoesNotMatch"),
            (403, "InvalidSignatureException"),
            (403, "RequestTimeTooSkewed"),
            (400, "RequestExpired"),
            (403, "AccessDenied"),
            (403, "IncompleteSignature"),
            (500, "ExpiredToken"),
            (401, "ExpiredToken"),
            (200, "ExpiredToken"),
            (403, "ExpiredTokenX"),
            (403, ""),
        ] {
            assert_eq!(
                code(status, "x-amzn-ErrorType", value),
                None,
                "{status} {value}"
            );
        }
        assert_eq!(
            refused_credentials_code(StatusCode::FORBIDDEN, &HeaderMap::new()),
            None
        );
        assert_eq!(code(403, "x-amz-error-code", "ExpiredToken"), None);
    }

    #[test]
    fn the_list_is_what_the_public_check_says() {
        for code in REFUSED_CREDENTIALS_CODES {
            assert!(is_refused_credentials_code(code));
        }
        assert!(!is_refused_credentials_code("SignatureDoesNotMatch"));
        assert!(!is_refused_credentials_code("expiredtoken"));
    }
}
