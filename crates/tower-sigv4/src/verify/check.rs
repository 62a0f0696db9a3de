//! The check itself: parse, look the key up, read the body, settle the payload hash, verify.

use std::borrow::Cow;
use std::sync::Arc;

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::request::Parts;
use http::{HeaderMap, Request, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sigv4_core::chunked::{ChunkedPayload, DEFAULT_MAX_CHUNK_SIZE, X_AMZ_DECODED_CONTENT_LENGTH};
use sigv4_core::verify::{SignedRequest, Verified, VerifyError};
use sigv4_core::Credentials;
use sigv4_core::{sha256_hex, Payload, UNSIGNED_PAYLOAD, X_AMZ_CONTENT_SHA256};
use std::time::SystemTime;

use super::body::VerifyBody;
use super::key_store::BoxError;
use super::layer::Config;
use super::rejection::Rejection;

fn too_large(max: usize) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!("Request Too Long: the body is larger than the limit of {max} bytes"),
    )
}

/// The declared `Content-Length`, when there is exactly one readable value.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Checks `request`; on success returns it with the body buffered (or, aws-chunked, decoded and
/// verified as it streams) and the [`Verified`] identity in its extensions.
///
/// [`Verified`]: sigv4_core::verify::Verified
pub(crate) async fn check<B>(
    config: Arc<Config>,
    request: Request<B>,
) -> Result<Request<VerifyBody>, Rejection>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let max = config.max_body_size;
    let chunked = ChunkedPayload::from_headers(&parts.headers);

    // 1. A declared body over the limit is refused before anything is read (an aws-chunked
    //    body is streamed, not buffered: only its chunks are bounded).
    let declared = content_length(&parts.headers).unwrap_or(0);
    let streamed = matches!(chunked, Ok(Some(_)));
    if !streamed && (declared > max as u64 || body.size_hint().lower() > max as u64) {
        return Err(too_large(max));
    }

    // 2. What the request claims.
    let claimed =
        SignedRequest::parse(&parts.uri, &parts.headers).map_err(|e| Rejection::from_verify(&e))?;
    let akid = claimed.access_key_id();
    let reject = |e: VerifyError| Rejection::from_verify(&e).with_access_key_id(akid);

    // 3. The secret.
    let credentials = match config.key_store.lookup(akid, claimed.session_token()).await {
        Ok(Some(credentials)) => credentials,
        Ok(None) => return Err(reject(VerifyError::InvalidClientTokenId)),
        Err(error) => {
            tracing::warn!(access_key_id = %akid, %error, "SigV4 key store lookup failed");
            return Err(Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "Internal server error",
            )
            .with_access_key_id(akid));
        }
    };
    let now = config.time_source.now();
    if credentials.is_expired_at(now) {
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
        .with_access_key_id(akid));
    }

    // An aws-chunked upload: the head now (its signature is the seed), the body as it streams.
    match chunked {
        Ok(None) => {}
        Err(error) => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                error.to_string(),
            )
            .with_access_key_id(akid))
        }
        Ok(Some(mode)) => {
            if !mode.signs_chunks() && !config.allow_unsigned_payload {
                return Err(unsigned_refused().with_access_key_id(akid));
            }
            let Some(decoded) = parts
                .headers
                .get(&X_AMZ_DECODED_CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
            else {
                return Err(Rejection::new(
                    StatusCode::LENGTH_REQUIRED,
                    "MissingContentLength",
                    "an aws-chunked upload needs an x-amz-decoded-content-length header",
                )
                .with_access_key_id(akid));
            };
            let payload = Payload::Precomputed(mode.payload_hash());
            let verified = verify_head(&config, &parts, &claimed, &credentials, now, payload)?;
            let decoder = config
                .signer
                .chunk_decoder(&claimed, &credentials, mode, decoded)
                .with_max_chunk_size(max.min(DEFAULT_MAX_CHUNK_SIZE));
            parts.extensions.insert(verified);
            // The handler reads the decoded data: say so in the head it sees.
            strip_aws_chunked(&mut parts.headers);
            parts.headers.insert(CONTENT_LENGTH, decoded.into());
            return Ok(Request::from_parts(
                parts,
                VerifyBody::aws_chunked(body, decoder, decoded),
            ));
        }
    }

    // 4. The body, buffered up to the limit.
    let bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Err(too_large(max).with_access_key_id(akid))
        }
        Err(error) => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("the request body could not be read: {error}"),
            )
            .with_access_key_id(akid))
        }
    };

    // 5. The payload hash: the body's, or a signed x-amz-content-sha256 once checked against it.
    let content_sha = claimed
        .signed_headers()
        .split(';')
        .any(|h| h == X_AMZ_CONTENT_SHA256.as_str())
        .then(|| parts.headers.get(&X_AMZ_CONTENT_SHA256))
        .flatten();
    let payload_hash: Option<Cow<'_, str>> = match content_sha {
        None => None,
        Some(value) => {
            let value = value.to_str().unwrap_or("").trim();
            if value == UNSIGNED_PAYLOAD {
                if !config.allow_unsigned_payload {
                    return Err(unsigned_refused().with_access_key_id(akid));
                }
                Some(Cow::Borrowed(UNSIGNED_PAYLOAD))
            } else if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                let actual = sha256_hex(&bytes);
                if !actual.eq_ignore_ascii_case(value) {
                    return Err(Rejection::new(
                        StatusCode::BAD_REQUEST,
                        "XAmzContentSHA256Mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was \
                         computed.",
                    )
                    .with_access_key_id(akid));
                }
                Some(Cow::Owned(value.to_owned()))
            } else {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "x-amz-content-sha256 must be the SHA-256 of the body in hex, or \
                     UNSIGNED-PAYLOAD",
                )
                .with_access_key_id(akid));
            }
        }
    };
    let payload = match &payload_hash {
        Some(hash) => Payload::Precomputed(hash),
        None => Payload::Bytes(&bytes),
    };

    // 6. The signature.
    let verified = verify_head(&config, &parts, &claimed, &credentials, now, payload)?;
    parts.extensions.insert(verified);
    Ok(Request::from_parts(parts, VerifyBody::full(bytes)))
}

/// Verifies the head's signature with `payload` as the payload hash; a mismatch is answered as
/// API Gateway does, with the canonical request and string to sign that were expected.
fn verify_head(
    config: &Config,
    parts: &Parts,
    claimed: &SignedRequest,
    credentials: &Credentials,
    now: SystemTime,
    payload: Payload<'_>,
) -> Result<Verified, Rejection> {
    let akid = claimed.access_key_id();
    let reject = |e: VerifyError| Rejection::from_verify(&e).with_access_key_id(akid);
    config
        .signer
        .verify(
            sigv4_core::RequestHead::from(parts),
            claimed,
            payload,
            &sigv4_core::verify::VerifyParams::new(credentials, now, &config.settings),
        )
        .map_err(|e| match e {
            VerifyError::SignatureDoesNotMatch => {
                match sigv4_core::mismatch::recompute(
                    sigv4_core::RequestHead::from(parts),
                    payload,
                    &config.settings.signing,
                ) {
                    Some(expected) => Rejection::new(
                        StatusCode::FORBIDDEN,
                        "SignatureDoesNotMatch",
                        sigv4_core::mismatch::api_gateway_message(&expected),
                    )
                    .with_access_key_id(akid),
                    None => reject(e),
                }
            }
            e => reject(e),
        })
}

fn unsigned_refused() -> Rejection {
    Rejection::new(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "This endpoint needs the body's SHA-256 in the signature; UNSIGNED-PAYLOAD is not \
         accepted.",
    )
}

/// Removes `aws-chunked` from `Content-Encoding` (the header goes when nothing else is left).
fn strip_aws_chunked(headers: &mut HeaderMap) {
    let Some(value) = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let rest: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    match http::HeaderValue::try_from(rest.join(",")) {
        Ok(v) if !rest.is_empty() => {
            headers.insert(CONTENT_ENCODING, v);
        }
        _ => {
            headers.remove(CONTENT_ENCODING);
        }
    }
}
