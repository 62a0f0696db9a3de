//! Credentials from an external command (`credential_process` in a profile).
//!
//! The command line is run the way the SDKs run it: through `sh -c` on Unix and `cmd.exe /C` on
//! Windows, so pipes and quoting work as in a shell. Its standard output must be JSON:
//!
//! ```json
//! { "Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
//!   "SessionToken": "...", "Expiration": "2030-01-01T00:00:00Z" }
//! ```
//!
//! (`SessionToken` and `Expiration` optional; `Expiration` is RFC 3339.) A non-zero exit is an
//! error that shows the command's standard error (trimmed, at most 1 KiB) but never its standard
//! output, which holds the secret. The command is killed when it runs longer than the timeout
//! (60 s by default).
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigv4_credentials::CredentialsError> {
//! use std::time::Duration;
//! use sigv4_credentials::process::CredentialProcess;
//! use sigv4_credentials::ProvideCredentials;
//!
//! let source = CredentialProcess::new("/usr/local/bin/get-aws-creds --role dev")
//!     .timeout(Duration::from_secs(10));
//! let creds = source.provide_credentials().await?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sigv4_core::time::parse_rfc3339;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use zeroize::Zeroizing;

use crate::{
    Credentials, CredentialsError, ProvideCredentials, ProvideCredentialsFuture, SharedTimeSource,
    SystemClock,
};

/// The provider name given to the credentials (and used in errors of a stand-alone process).
pub const PROVIDER_NAME: &str = "credential_process";

/// How long the command may run by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most standard output read (the JSON is a few hundred bytes; more is a broken command).
const MAX_STDOUT: usize = 64 * 1024;
/// The most standard error shown in an error message.
const MAX_STDERR_SHOWN: usize = 1024;

/// Runs a command that prints credentials as JSON. See the [module docs](self).
///
/// `Debug` shows only the program's name, not its arguments (they may hold secrets).
#[derive(Clone)]
pub struct CredentialProcess {
    command: Arc<Zeroizing<String>>,
    timeout: Duration,
    time_source: SharedTimeSource,
    error_provider: Cow<'static, str>,
    profile: Option<String>,
}

impl fmt::Debug for CredentialProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialProcess")
            .field("command", &self.program_hint())
            .field("timeout", &self.timeout)
            .field("profile", &self.profile)
            .finish()
    }
}

impl CredentialProcess {
    /// A source that runs `command` (a shell command line) on every call.
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: Arc::new(Zeroizing::new(command.into())),
            timeout: DEFAULT_TIMEOUT,
            time_source: Arc::new(SystemClock),
            error_provider: Cow::Borrowed(PROVIDER_NAME),
            profile: None,
        }
    }

    /// How long the command may run before it is killed (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock used to reject credentials that are already expired when they arrive.
    pub fn time_source(mut self, time_source: SharedTimeSource) -> Self {
        self.time_source = time_source;
        self
    }

    /// Marks the process as configured by a profile: errors are reported by the `profile`
    /// provider and name the profile.
    pub(crate) fn for_profile(mut self, provider: &'static str, profile: &str) -> Self {
        self.error_provider = Cow::Borrowed(provider);
        self.profile = Some(profile.to_owned());
        self
    }

    /// "`prog …`" (the first word only), or "`prog`" for a command without arguments.
    fn program_hint(&self) -> String {
        let trimmed = self.command.trim();
        let mut words = trimmed.split_whitespace();
        let first = words.next().unwrap_or("");
        if words.next().is_some() {
            format!("`{first} …`")
        } else {
            format!("`{first}`")
        }
    }

    fn what(&self) -> String {
        match &self.profile {
            Some(profile) => format!(
                "credential_process {} of profile `{profile}`",
                self.program_hint()
            ),
            None => format!("credential_process {}", self.program_hint()),
        }
    }

    fn failed(&self, message: impl fmt::Display) -> CredentialsError {
        CredentialsError::failed(
            self.error_provider.clone(),
            format!("{} {message}", self.what()),
        )
    }

    /// Runs the command and parses its output.
    pub async fn load(&self) -> Result<Credentials, CredentialsError> {
        if self.command.trim().is_empty() {
            return Err(self.failed("is empty; set it to a command that prints credentials JSON"));
        }
        let mut command = shell_command(&self.command);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            CredentialsError::failed_with(
                self.error_provider.clone(),
                format!("{} could not be started: {e}", self.what()),
                e,
            )
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let (status, out, err) = tokio::join!(
                child.wait(),
                read_bounded(stdout, MAX_STDOUT),
                read_bounded(stderr, MAX_STDERR_SHOWN * 4),
            );
            (status, out, err)
        };
        let (status, (stdout, stdout_overflow), (stderr, _)) =
            match tokio::time::timeout(self.timeout, run).await {
                Ok(done) => done,
                Err(_) => {
                    // `kill_on_drop` ends the command when `child` is dropped on return.
                    return Err(CredentialsError::Timeout {
                        provider: self.error_provider.clone(),
                        after: self.timeout,
                        hint: format!(
                            "{} did not finish and was killed; check that it runs without \
                             prompting, or raise the timeout",
                            self.what()
                        ),
                    });
                }
            };
        let status = status.map_err(|e| {
            CredentialsError::failed_with(
                self.error_provider.clone(),
                format!("{} could not be waited for: {e}", self.what()),
                e,
            )
        })?;
        if !status.success() {
            let stderr = shown_stderr(&stderr);
            let tail = if stderr.is_empty() {
                "(no standard error output)".to_owned()
            } else {
                format!("standard error: {stderr}")
            };
            return Err(self.failed(format_args!("exited with {status}; {tail}")));
        }
        if stdout_overflow {
            return Err(self.failed(format_args!(
                "printed more than {MAX_STDOUT} bytes; expected a small JSON object"
            )));
        }
        let creds = parse_output(&stdout).map_err(|why| self.failed(why))?;
        if let Some(expiry) = creds.expiry() {
            if expiry <= self.time_source.now() {
                return Err(self.failed(format_args!(
                    "returned credentials that expired at {}; the command must print fresh \
                     credentials",
                    sigv4_core::time::format_rfc3339(expiry)
                )));
            }
        }
        Ok(creds)
    }
}

impl ProvideCredentials for CredentialProcess {
    fn provide_credentials(&self) -> ProvideCredentialsFuture<'_> {
        ProvideCredentialsFuture::new(self.load())
    }
}

#[cfg(unix)]
fn shell_command(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c").arg(command);
    c
}

#[cfg(windows)]
fn shell_command(command: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("cmd.exe");
    c.arg("/C").arg(command);
    c
}

/// Reads everything (so the command never blocks on a full pipe), keeping at most `limit` bytes.
/// Returns the bytes kept and whether more were discarded.
async fn read_bounded<R: AsyncRead + Unpin>(
    reader: Option<R>,
    limit: usize,
) -> (Zeroizing<Vec<u8>>, bool) {
    let mut kept = Zeroizing::new(Vec::new());
    let mut overflow = false;
    let Some(mut reader) = reader else {
        return (kept, overflow);
    };
    let mut buf = Zeroizing::new([0u8; 4096]);
    loop {
        match reader.read(&mut buf[..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                let take = n.min(room);
                kept.extend_from_slice(&buf[..take]);
                if take < n {
                    overflow = true;
                }
            }
        }
    }
    (kept, overflow)
}

/// Trimmed, lossily decoded, at most `MAX_STDERR_SHOWN` bytes (cut at a character boundary).
fn shown_stderr(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.len() <= MAX_STDERR_SHOWN {
        return text.to_owned();
    }
    let mut end = MAX_STDERR_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (truncated)", &text[..end])
}

/// Parses a `credential_process` output. Errors never quote the output (it holds the secret).
///
/// ```
/// use sigv4_credentials::process::parse_output;
///
/// let creds = parse_output(br#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "S",
///     "Expiration": "2030-01-01T00:00:00Z"}"#).unwrap();
/// assert_eq!(creds.access_key_id(), "AKID");
/// assert_eq!(creds.provider_name(), "credential_process");
/// assert!(parse_output(br#"{"Version": 2}"#).unwrap_err().contains("Version"));
/// ```
pub fn parse_output(stdout: &[u8]) -> Result<Credentials, String> {
    let value: Value = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "printed output that is not valid JSON (error at line {} column {}); it must print \
             a JSON object with Version, AccessKeyId and SecretAccessKey",
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(map) = &value else {
        return Err("printed JSON that is not an object".to_owned());
    };
    match map.get("Version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(Value::Number(n)) => {
            return Err(format!("printed Version {n}; only Version 1 is supported"))
        }
        Some(_) => return Err("printed a Version that is not the number 1".to_owned()),
        None => return Err("printed JSON without a Version (expected \"Version\": 1)".to_owned()),
    }
    let string_field = |name: &str, required: bool| -> Result<Option<&str>, String> {
        match map.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
            None | Some(Value::Null) if !required => Ok(None),
            Some(Value::String(_)) if !required => Ok(None),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                Err(format!("printed JSON without a non-empty {name}"))
            }
            Some(_) => Err(format!("printed JSON whose {name} is not a string")),
        }
    };
    let access_key_id = string_field("AccessKeyId", true)?.unwrap_or_default();
    let secret = string_field("SecretAccessKey", true)?.unwrap_or_default();
    let token = string_field("SessionToken", false)?;
    let expiry = match string_field("Expiration", false)? {
        Some(text) => Some(parse_rfc3339(text.trim()).map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            format!("printed an Expiration that is not an RFC 3339 time: {shown:?}")
        })?),
        None => None,
    };
    Ok(Credentials::builder(access_key_id, secret)
        .session_token_opt(token.map(str::to_owned))
        .expiry_opt(expiry)
        .provider_name(PROVIDER_NAME)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_bounded_at_a_char_boundary() {
        let long = "é".repeat(2000);
        let shown = shown_stderr(long.as_bytes());
        assert!(shown.len() <= MAX_STDERR_SHOWN + "… (truncated)".len());
        assert!(shown.ends_with("(truncated)"));
    }

    #[test]
    fn output_errors_never_quote_values() {
        for bad in [
            &br#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": 12345678}"#[..],
            br#"{"Version": 1, "AccessKeyId": "AKID"  "SecretAccessKey": "SUPERSECRET"}"#,
            br#"["SUPERSECRET"]"#,
            br#"{"Version": "SUPERSECRET"}"#,
        ] {
            let err = parse_output(bad).unwrap_err();
            assert!(!err.contains("SUPERSECRET"), "{err}");
            assert!(!err.contains("12345678"), "{err}");
        }
    }

    #[test]
    fn debug_hides_arguments() {
        let p = CredentialProcess::new("get-creds --secret SUPERSECRET");
        let text = format!("{p:?}");
        assert!(text.contains("get-creds"));
        assert!(!text.contains("SUPERSECRET"));
    }
}
