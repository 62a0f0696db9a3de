//! The JSON credentials document that IMDS and container endpoints serve, parsed in one place:
//!
//! ```text
//! {"Code": "Success", "AccessKeyId": "ASIA…", "SecretAccessKey": "…", "Token": "…",
//!  "Expiration": "2026-11-22T12:00:00Z", "AccountId": "123456789012"}
//! ```
//!
//! `Expiration` goes through the one RFC 3339 parser ([`sigv4_core::time::parse_rfc3339`]).
//!
//! ```
//! use sigv4_credentials::document::parse_credentials_document;
//!
//! let creds = parse_credentials_document(
//!     br#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z","AccountId":"123456789012"}"#,
//!     "container",
//!     true,
//! ).unwrap();
//! assert_eq!(creds.account_id(), Some("123456789012"));
//! ```

use std::borrow::Cow;

use sigv4_core::time::parse_rfc3339;
use zeroize::Zeroizing;

use crate::{Credentials, CredentialsError};

/// The JSON credentials document served by IMDS and container endpoints. Deliberately no `Debug`:
/// it holds secrets.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsDocument {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<SecretString>,
    token: Option<SecretString>,
    expiration: Option<String>,
    account_id: Option<String>,
}

/// A string from the document that is wiped when dropped.
struct SecretString(Zeroizing<String>);

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| SecretString(Zeroizing::new(s)))
    }
}

/// Parses a credentials document (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, and an
/// optional `Code` that must be `Success`, and `AccountId` when the endpoint knows it). Error
/// messages never quote the document. `expiration_required`: IMDS and container endpoints always
/// send one; pass `false` where a missing `Expiration` means credentials that never expire.
pub fn parse_credentials_document(
    body: &[u8],
    provider: &'static str,
    expiration_required: bool,
) -> Result<Credentials, CredentialsError> {
    let doc: CredentialsDocument = serde_json::from_slice(body).map_err(|e| {
        // Position and category only: serde's message could quote a value.
        let category = match e.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "unexpected value",
            serde_json::error::Category::Eof => "truncated document",
        };
        CredentialsError::failed(
            provider,
            format!(
                "malformed credentials JSON ({category} error at line {} column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    if let Some(code) = doc.code.as_deref() {
        if code != "Success" {
            let detail = doc
                .message
                .as_deref()
                .map(|m| format!(": {}", truncate(m, 200)))
                .unwrap_or_default();
            return Err(CredentialsError::failed(
                provider,
                format!(
                    "the credentials document has Code `{}`{detail}",
                    truncate(code, 64)
                ),
            ));
        }
    }
    let missing = |field: &str| {
        CredentialsError::failed(provider, format!("the credentials document has no {field}"))
    };
    let access_key_id = doc
        .access_key_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("AccessKeyId"))?;
    let secret = doc
        .secret_access_key
        .filter(|v| !v.0.is_empty())
        .ok_or_else(|| missing("SecretAccessKey"))?;
    let expiry = match doc.expiration.as_deref() {
        Some(raw) => Some(parse_rfc3339(raw.trim()).map_err(|e| {
            CredentialsError::failed(
                provider,
                format!(
                    "the credentials document has an Expiration that is not an RFC 3339 UTC time (`{}`): {e}",
                    truncate(raw, 40)
                ),
            )
        })?),
        None if expiration_required => return Err(missing("Expiration")),
        None => None,
    };
    let mut builder =
        Credentials::builder(access_key_id, secret.0.as_str()).provider_name(provider);
    if let Some(token) = doc.token.filter(|t| !t.0.is_empty()) {
        builder = builder.session_token(token.0.as_str());
    }
    if let Some(expiry) = expiry {
        builder = builder.expiry(expiry);
    }
    Ok(builder.account_id_opt(doc.account_id).build())
}

fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    const EXAMPLE: &str = r#"{
        "Code" : "Success",
        "LastUpdated" : "2026-11-22T05:50:13Z",
        "Type" : "AWS-HMAC",
        "AccessKeyId" : "ASIAEXAMPLEKEYID",
        "SecretAccessKey" : "secretSECRETsecret",
        "Token" : "tokenTOKENtoken",
        "Expiration" : "2026-11-22T12:00:00Z"
    }"#;

    #[test]
    fn parses_the_imds_document() {
        let creds = parse_credentials_document(EXAMPLE.as_bytes(), "imds", true).unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLEKEYID");
        assert_eq!(creds.secret_access_key(), "secretSECRETsecret");
        assert_eq!(creds.session_token(), Some("tokenTOKENtoken"));
        assert_eq!(creds.provider_name(), "imds");
        // 2026-11-22T12:00:00Z = 1795348800 (date -u -d 2026-11-22T12:00:00Z +%s).
        assert_eq!(
            creds.expiry(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_348_800))
        );
    }

    #[test]
    fn fractional_expiration_is_accepted() {
        let doc =
            r#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2026-11-22T12:00:00.500Z"}"#;
        let creds = parse_credentials_document(doc.as_bytes(), "container", true).unwrap();
        assert_eq!(
            creds.expiry(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_348_800_500))
        );
        assert_eq!(creds.session_token(), None);
    }

    #[test]
    fn non_success_code_is_an_error() {
        let doc = r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"no trust","LastUpdated":"2026-11-22T05:50:13Z"}"#;
        let err = parse_credentials_document(doc.as_bytes(), "imds", true).unwrap_err();
        let text = err.to_string();
        assert!(!err.is_not_configured());
        assert!(text.contains("AssumeRoleUnauthorizedAccess"), "{text}");
        assert!(text.contains("no trust"), "{text}");
    }

    #[test]
    fn malformed_json_does_not_quote_the_document() {
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"verysecret","Token":12}"#;
        let err = parse_credentials_document(doc.as_bytes(), "imds", true).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("malformed credentials JSON"), "{text}");
        assert!(!text.contains("verysecret"), "{text}");
        assert!(!text.contains("12"), "{text}");
    }

    #[test]
    fn missing_fields_are_named() {
        let doc = r#"{"Code":"Success","AccessKeyId":"A","Expiration":"2026-11-22T12:00:00Z"}"#;
        let err = parse_credentials_document(doc.as_bytes(), "imds", true).unwrap_err();
        assert!(err.to_string().contains("SecretAccessKey"), "{err}");
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#;
        let err = parse_credentials_document(doc.as_bytes(), "imds", true).unwrap_err();
        assert!(err.to_string().contains("Expiration"), "{err}");
        assert!(parse_credentials_document(doc.as_bytes(), "imds", false).is_ok());
    }

    #[test]
    fn bad_expiration_is_an_error() {
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}"#;
        let err = parse_credentials_document(doc.as_bytes(), "imds", true).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn account_id_is_kept_and_blank_is_none() {
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"S","AccountId":"123456789012"}"#;
        let creds = parse_credentials_document(doc.as_bytes(), "container", false).unwrap();
        assert_eq!(creds.account_id(), Some("123456789012"));
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"S","AccountId":""}"#;
        let creds = parse_credentials_document(doc.as_bytes(), "container", false).unwrap();
        assert_eq!(creds.account_id(), None);
    }

    #[test]
    fn offsets_and_microseconds_are_accepted() {
        let doc = r#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2026-11-22T13:00:00.000001+01:00"}"#;
        let creds = parse_credentials_document(doc.as_bytes(), "container", true).unwrap();
        assert_eq!(
            creds.expiry(),
            Some(
                SystemTime::UNIX_EPOCH
                    + Duration::from_secs(1_795_348_800)
                    + Duration::from_micros(1)
            )
        );
    }
}
