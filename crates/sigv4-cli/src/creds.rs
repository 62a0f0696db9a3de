//! Credentials for `sigv4 curl`, and `sigv4 credentials`.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use sigv4_credentials::{Credentials, DefaultChain, Env, Profile, ProvideCredentials};

use crate::cli::{CredentialFlags, CredentialsArgs};
use crate::error::CliError;

/// Where to look for credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    /// Keys given on the command line.
    Keys {
        /// `--access-key`.
        access_key: &'a str,
        /// `--secret-key`.
        secret_key: &'a str,
        /// `--session-token`.
        session_token: Option<&'a str>,
    },
    /// `--profile NAME`: that profile only.
    Profile(&'a str),
    /// The default chain: environment, profile (static keys, process, role chains, web identity),
    /// web identity, container, IMDS.
    DefaultChain,
}

impl CredentialFlags {
    /// What the flags ask for: `--access-key`/`--secret-key` (with `--session-token`) when both
    /// keys are given, else `--profile`, else the default chain. (clap refuses one key without
    /// the other, and keys together with a profile.)
    pub(crate) fn lookup(&self) -> Lookup<'_> {
        match (&self.access_key, &self.secret_key, &self.profile) {
            (Some(access_key), Some(secret_key), _) => Lookup::Keys {
                access_key,
                secret_key,
                session_token: self.session_token.as_deref(),
            },
            (_, _, Some(profile)) => Lookup::Profile(profile),
            _ => Lookup::DefaultChain,
        }
    }
}

/// Resolves credentials; the process environment is `env` (the real one outside tests).
pub(crate) async fn resolve(lookup: Lookup<'_>, env: Env) -> Result<Credentials, CliError> {
    match lookup {
        Lookup::Keys {
            access_key,
            secret_key,
            session_token,
        } => Ok(Credentials::builder(access_key, secret_key)
            .session_token_opt(session_token.map(str::to_owned))
            .provider_name("flags")
            .build()),
        Lookup::Profile(name) => {
            let profile = Profile::builder().env(env).profile_name(name).build();
            Ok(profile.provide_credentials().await?)
        }
        Lookup::DefaultChain => {
            let chain = DefaultChain::builder().env(env).build().await;
            Ok(chain.provide_credentials().await?)
        }
    }
}

/// `sigv4 credentials`.
pub(crate) async fn run(args: &CredentialsArgs, out: &mut impl Write) -> Result<(), CliError> {
    let lookup = match &args.profile {
        Some(name) => Lookup::Profile(name),
        None => Lookup::DefaultChain,
    };
    let credentials = resolve(lookup, Env::real()).await?;
    let now = SystemTime::now();
    if args.export {
        export(&credentials, out)?;
    } else if args.json {
        json(&credentials, now, out)?;
    } else {
        human(&credentials, now, out)?;
    }
    out.flush()?;
    Ok(())
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// "in 5h 59m 10s" / "expired 3m ago", to the second.
fn remaining(expiry: SystemTime, now: SystemTime) -> String {
    let whole = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    match expiry.duration_since(now) {
        Ok(left) if left.as_secs() > 0 => format!("in {}", whole(left)),
        Ok(_) => "now".to_owned(),
        Err(past) => format!("expired {} ago", whole(past.duration())),
    }
}

fn human(c: &Credentials, now: SystemTime, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "source:        {}", c.provider_name())?;
    writeln!(out, "access key id: {}", c.access_key_id())?;
    writeln!(
        out,
        "account:       {}",
        c.account_id().unwrap_or("(not known)")
    )?;
    writeln!(out, "secret key:    (not shown; --export prints it)")?;
    let token = if c.session_token().is_some() {
        "present (not shown)"
    } else {
        "none"
    };
    writeln!(out, "session token: {token}")?;
    match c.expiry() {
        Some(expiry) => writeln!(
            out,
            "expires:       {} ({})",
            rfc3339(expiry),
            remaining(expiry, now)
        ),
        None => writeln!(out, "expires:       never (long-term keys)"),
    }
}

fn json(c: &Credentials, now: SystemTime, out: &mut impl Write) -> io::Result<()> {
    let expires_in = c.expiry().map(|e| {
        e.duration_since(now)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_else(|past| -(past.duration().as_secs() as i64))
    });
    let value = serde_json::json!({
        "source": c.provider_name(),
        "access_key_id": c.access_key_id(),
        "account_id": c.account_id(),
        "session_token": c.session_token().is_some(),
        "expiration": c.expiry().map(rfc3339),
        "expires_in_seconds": expires_in,
    });
    writeln!(out, "{value}")
}

/// A shell word: single-quoted, with `'` written as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn export(c: &Credentials, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "export AWS_ACCESS_KEY_ID={}",
        shell_quote(c.access_key_id())
    )?;
    writeln!(
        out,
        "export AWS_SECRET_ACCESS_KEY={}",
        shell_quote(c.secret_access_key())
    )?;
    match c.session_token() {
        Some(token) => writeln!(out, "export AWS_SESSION_TOKEN={}", shell_quote(token))?,
        None => writeln!(out, "unset AWS_SESSION_TOKEN")?,
    }
    if let Some(account) = c.account_id() {
        writeln!(out, "export AWS_ACCOUNT_ID={}", shell_quote(account))?;
    }
    match c.expiry() {
        Some(expiry) => writeln!(
            out,
            "export AWS_CREDENTIAL_EXPIRATION={}",
            shell_quote(&rfc3339(expiry))
        ),
        None => writeln!(out, "unset AWS_CREDENTIAL_EXPIRATION"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a/b+c"), "'a/b+c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn remaining_time() {
        assert_eq!(remaining(at(1_000 + 3_725), at(1_000)), "in 1h 2m 5s");
        assert_eq!(remaining(at(1_000), at(1_000)), "now");
        assert_eq!(remaining(at(1_000), at(1_180)), "expired 3m ago");
    }

    #[test]
    fn reports() {
        let c = Credentials::builder("ASIAEXAMPLE", "sekrit/key")
            .session_token("tok'en")
            .expiry(at(1_700_003_600))
            .provider_name("imds")
            .build();
        let now = at(1_700_000_000);
        let mut text = Vec::new();
        human(&c, now, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("source:        imds\n"));
        assert!(
            text.contains("expires:       2023-11-14T23:13:20Z (in 1h)\n"),
            "{text}"
        );
        assert!(!text.contains("sekrit") && !text.contains("tok'en"));

        let mut line = Vec::new();
        json(&c, now, &mut line).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["expires_in_seconds"], 3600);
        assert_eq!(value["session_token"], true);
        assert_eq!(value["expiration"], "2023-11-14T23:13:20Z");
        assert!(!String::from_utf8(line).unwrap().contains("sekrit"));

        let mut lines = Vec::new();
        export(&c, &mut lines).unwrap();
        assert_eq!(
            String::from_utf8(lines).unwrap(),
            "export AWS_ACCESS_KEY_ID='ASIAEXAMPLE'\n\
             export AWS_SECRET_ACCESS_KEY='sekrit/key'\n\
             export AWS_SESSION_TOKEN='tok'\\''en'\n\
             export AWS_CREDENTIAL_EXPIRATION='2023-11-14T23:13:20Z'\n"
        );
    }
}
