//! The sign-in token refresh: `POST /v1/token` with a DPoP proof, on the crate's transport.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{Method, StatusCode, Uri};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::dpop::DpopKey;
use super::PROVIDER_NAME;
use crate::endpoint::origin as shown;
use crate::sso::{token_refusal, Secret};
use crate::transport::{retry, transport_failure, Attempt, HttpClient, TransportOptions};
use crate::CredentialsError;

const DPOP: HeaderName = HeaderName::from_static("dpop");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenAnswer {
    pub(super) access_token: AccessToken,
    #[serde(default)]
    pub(super) refresh_token: Option<Secret>,
    pub(super) expires_in: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccessToken {
    pub(super) access_key_id: String,
    pub(super) secret_access_key: Secret,
    pub(super) session_token: Secret,
}

/// Exchanges the refresh token; 4xx answers are non-recoverable (sign in again), 5xx and 429
/// are retried.
pub(super) async fn create_token(
    transport: &TransportOptions,
    endpoint: &Uri,
    key: &DpopKey,
    client_id: &str,
    refresh_token: &str,
    now: SystemTime,
    advice: &str,
) -> Result<TokenAnswer, CredentialsError> {
    let uri = crate::endpoint::join(endpoint, "/v1/token").map_err(|e| {
        CredentialsError::failed(PROVIDER_NAME, format!("bad sign-in endpoint: {e}"))
    })?;
    let body = Zeroizing::new(
        serde_json::json!({
            "clientId": client_id,
            "refreshToken": refresh_token,
            "grantType": "refresh_token",
        })
        .to_string(),
    );
    let body = Bytes::from(body.as_bytes().to_vec());
    let client = HttpClient::from_options(transport);
    let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let htu = uri.to_string();
    let (uri, body, client, htu) = (&uri, &body, &client, &htu);
    retry(transport, "sign-in token refresh", |attempt| async move {
        // A fresh proof (new jti) for every attempt.
        let mut proof = match HeaderValue::from_str(&key.proof("POST", htu, iat)) {
            Ok(v) => v,
            Err(_) => {
                return Attempt::Done(Err(CredentialsError::failed(
                    PROVIDER_NAME,
                    "cannot build the DPoP header",
                )))
            }
        };
        proof.set_sensitive(true);
        let headers = [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (ACCEPT, HeaderValue::from_static("application/json")),
            (DPOP, proof),
        ];
        let response = match client.send(Method::POST, uri, &headers, body.clone()).await {
            Ok(r) => r,
            Err(e) => {
                let message = format!(
                    "refreshing aws login credentials at {} failed (attempt {})",
                    shown(uri),
                    attempt.number
                );
                return transport_failure(e, PROVIDER_NAME, &message);
            }
        };
        let status = response.status;
        if status == StatusCode::OK {
            return Attempt::Done(serde_json::from_slice::<TokenAnswer>(&response.body).map_err(|e| {
                CredentialsError::failed(
                    PROVIDER_NAME,
                    format!(
                        "the sign-in service at {} answered a document without usable accessToken/expiresIn (line {}, column {})",
                        shown(uri),
                        e.line(),
                        e.column()
                    ),
                )
            }));
        }
        #[derive(Deserialize, Default)]
        struct ErrorBody {
            #[serde(default)]
            error: Option<String>,
            #[serde(default, alias = "error_description")]
            message: Option<String>,
        }
        let detail: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
        let described = match (detail.error, detail.message) {
            (Some(code), Some(m)) => format!("{code}: {}", m.chars().take(300).collect::<String>()),
            (Some(code), None) => code,
            (None, Some(m)) => m.chars().take(300).collect(),
            (None, None) => format!("HTTP {}", status.as_u16()),
        };
        let text = format!(
            "refreshing aws login credentials at {} was refused (HTTP {}): {described}",
            shown(uri),
            status.as_u16()
        );
        token_refusal(status, PROVIDER_NAME, text, &format!("the session has ended: {advice}"))
    })
    .await
}
