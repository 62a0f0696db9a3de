//! The token cache files the AWS CLI writes (`aws sso login`) and the SDKs read and refresh:
//! `~/.aws/sso/cache/<SHA-1 hex of the session name, or of the start URL>.json`.
//!
//! A file is read whole and written back whole and atomically: the new
//! contents go to a temporary file in the same directory, which is flushed to disk (`fsync`) and
//! then renamed over the old file. A reader (another process, the CLI) sees the old file or the new one, never a
//! half-written one, and a crash before the rename leaves the old file (and its refresh token) as
//! it was. Fields this crate does not know are kept as they are.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use sigv4_core::time::{format_rfc3339, parse_rfc3339};

pub(crate) use crate::atomic_file::write_atomically;
use crate::Env;

/// The file name the SDKs and the CLI give the token of a session name or start URL: the SHA-1
/// of its UTF-8 bytes in lower-case hex, then `.json`.
///
/// ```
/// use sigv4_credentials::sso::cache_file_name;
///
/// assert_eq!(cache_file_name("https://ssotest.awsapps.com/start"), "dace00cba5f8355ec9d274ceb2bcebdfbeed0e12.json");
/// assert_eq!(cache_file_name("dev"), "34c6fceca75e456f25e7e99531e2425c6c1de443.json");
/// ```
pub fn cache_file_name(session_or_start_url: &str) -> String {
    let digest = Sha1::digest(session_or_start_url.as_bytes());
    let mut name = String::with_capacity(45);
    for byte in digest {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".json");
    name
}

/// `~/.aws/sso/cache`, from the environment's home directory.
pub(crate) fn default_dir(env: &Env) -> Option<PathBuf> {
    env.home_dir()
        .map(|home| home.join(".aws").join("sso").join("cache"))
}

/// A token cache file as read: its fields (unknown ones kept for the write-back). `Debug` shows
/// which fields are present and the expiry, never a token or the client secret.
#[derive(Clone)]
pub(crate) struct TokenFile {
    fields: Map<String, Value>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("expires_at", &self.text("expiresAt"))
            .finish()
    }
}

/// Why a token file could not be used (messages never quote its contents).
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The file could not be read (missing, permissions).
    Io(io::Error),
    /// Not a JSON object, or a required field missing or malformed.
    Invalid(String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Invalid(why) => f.write_str(why),
        }
    }
}

impl TokenFile {
    /// Parses a file's contents; `accessToken` and `expiresAt` are required.
    pub(crate) fn parse(bytes: &[u8]) -> Result<TokenFile, ReadError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            ReadError::Invalid(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(fields) = value else {
            return Err(ReadError::Invalid("not a JSON object".to_owned()));
        };
        let file = TokenFile { fields };
        if file.text("accessToken").is_none() {
            return Err(ReadError::Invalid("it has no accessToken".to_owned()));
        }
        file.expires_at()?;
        Ok(file)
    }

    /// Reads and parses `path`.
    pub(crate) async fn read(path: &Path) -> Result<TokenFile, ReadError> {
        let bytes = tokio::fs::read(path).await.map_err(ReadError::Io)?;
        TokenFile::parse(&bytes)
    }

    /// A string field, if present and not empty.
    pub(crate) fn text(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The access token.
    pub(crate) fn access_token(&self) -> &str {
        self.text("accessToken").unwrap_or_default()
    }

    /// When the access token expires.
    pub(crate) fn expires_at(&self) -> Result<SystemTime, ReadError> {
        let raw = self
            .text("expiresAt")
            .ok_or_else(|| ReadError::Invalid("it has no expiresAt".to_owned()))?;
        parse_rfc3339(raw)
            .map_err(|e| ReadError::Invalid(format!("its expiresAt is not an RFC 3339 time: {e}")))
    }

    /// What a refresh needs, when all of it is there and the client registration has not
    /// expired at `now`.
    pub(crate) fn refresh_material(&self, now: SystemTime) -> Option<RefreshMaterial<'_>> {
        let registration_ok = match self.text("registrationExpiresAt") {
            Some(raw) => parse_rfc3339(raw).is_ok_and(|t| t > now),
            None => false,
        };
        if !registration_ok {
            return None;
        }
        Some(RefreshMaterial {
            client_id: self.text("clientId")?,
            client_secret: self.text("clientSecret")?,
            refresh_token: self.text("refreshToken")?,
        })
    }

    /// The file after a refresh: the new access token and expiry, and the new refresh token when
    /// the answer had one (else the old one is kept: a refresh token is never lost).
    pub(crate) fn refreshed(
        &self,
        access_token: &str,
        expires_at: SystemTime,
        refresh_token: Option<&str>,
    ) -> TokenFile {
        let mut fields = self.fields.clone();
        fields.insert("accessToken".into(), Value::String(access_token.to_owned()));
        fields.insert(
            "expiresAt".into(),
            Value::String(format_rfc3339(expires_at)),
        );
        if let Some(refresh) = refresh_token.filter(|r| !r.is_empty()) {
            fields.insert("refreshToken".into(), Value::String(refresh.to_owned()));
        }
        TokenFile { fields }
    }

    /// The file's contents, pretty-printed as the CLI writes them.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.fields).unwrap_or_default()
    }
}

/// The client registration and refresh token of a cache file.
pub(crate) struct RefreshMaterial<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) client_secret: &'a str,
    pub(crate) refresh_token: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
        "accessToken": "AT-DO-NOT-LOG",
        "expiresAt": "2199-11-14T04:05:45Z",
        "refreshToken": "RT-DO-NOT-LOG",
        "clientId": "client",
        "clientSecret": "CS-DO-NOT-LOG",
        "registrationExpiresAt": "2199-03-06T19:53:17Z",
        "region": "us-east-1",
        "startUrl": "https://d-abc123.awsapps.com/start",
        "somethingNew": {"kept": true}
    }"#;

    #[test]
    fn debug_shows_no_secret() {
        let file = TokenFile::parse(FILE.as_bytes()).unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("DO-NOT-LOG"), "{shown}");
        assert!(shown.contains("2199-11-14T04:05:45Z"), "{shown}");
    }

    #[test]
    fn a_refresh_keeps_unknown_fields_and_the_refresh_token() {
        let file = TokenFile::parse(FILE.as_bytes()).unwrap();
        let at = parse_rfc3339("2200-01-01T00:00:00Z").unwrap();
        let next = file.refreshed("AT2", at, None);
        let back = TokenFile::parse(&next.to_bytes()).unwrap();
        assert_eq!(back.access_token(), "AT2");
        assert_eq!(back.text("refreshToken"), Some("RT-DO-NOT-LOG"));
        assert_eq!(back.text("expiresAt"), Some("2200-01-01T00:00:00Z"));
        assert!(back.fields.contains_key("somethingNew"));
        let rotated = file.refreshed("AT3", at, Some("RT3"));
        assert_eq!(rotated.text("refreshToken"), Some("RT3"));
    }

    #[test]
    fn errors_never_quote_the_file() {
        let err = TokenFile::parse(b"{\"accessToken\": \"SECRET\", \"expiresAt\": \"nope\"}")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.contains("expiresAt"), "{err}");
    }

    #[test]
    fn registration_must_be_current_to_refresh() {
        let file = TokenFile::parse(FILE.as_bytes()).unwrap();
        let before = parse_rfc3339("2100-01-01T00:00:00Z").unwrap();
        let after = parse_rfc3339("2199-03-07T00:00:00Z").unwrap();
        assert!(file.refresh_material(before).is_some());
        assert!(file.refresh_material(after).is_none());
    }
}
