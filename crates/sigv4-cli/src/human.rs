//! `sigv4 sign URL ...` and `sigv4 presign URL ...`: one request from flags, shown to a person.
//!
//! The secret key is never printed; the session token is shown as its first 8 characters
//! (except inside the presigned URL, which is useless without it).

use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

use http::header::HeaderMap;
use http::{Method, Uri};
use sigv4_core::{AmzDate, Credentials, Inspection, RequestHead, Signer, SigningParams};

use crate::cli::RequestArgs;
use crate::error::{read_input, CliError};
use crate::infer::resolve_scope;
use crate::request::{append_header, hex, short_token, value_text, Switches};

/// Where the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// `--access-key` / `--secret-key` (/ `--session-token`).
    Flags,
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`).
    Environment,
}

/// Credentials from the flags, else from the environment (`env` looks a variable up).
///
/// The keys come as a pair from one place: a key from a flag is never paired with a secret from
/// the environment. A session token from the environment is used only with environment keys.
pub(crate) fn resolve_credentials(
    args: &RequestArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Credentials, CredentialSource), CliError> {
    let non_blank = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    match (&args.access_key, &args.secret_key) {
        (Some(akid), Some(secret)) => Ok((
            Credentials::builder(akid.as_str(), secret.as_str())
                .session_token_opt(args.session_token.clone())
                .provider_name("flags")
                .build(),
            CredentialSource::Flags,
        )),
        (Some(_), None) => Err(CliError::NoCredentials(
            "--access-key was given without --secret-key: give both".to_owned(),
        )),
        (None, Some(_)) => Err(CliError::NoCredentials(
            "--secret-key was given without --access-key: give both".to_owned(),
        )),
        (None, None) => {
            let akid = non_blank(env("AWS_ACCESS_KEY_ID"));
            let secret = non_blank(env("AWS_SECRET_ACCESS_KEY"));
            let (Some(akid), Some(secret)) = (akid, secret) else {
                return Err(CliError::NoCredentials(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and \
                     AWS_SESSION_TOKEN for temporary credentials), or pass --access-key and \
                     --secret-key"
                        .to_owned(),
                ));
            };
            let token = args
                .session_token
                .clone()
                .or_else(|| non_blank(env("AWS_SESSION_TOKEN")));
            Ok((
                Credentials::builder(akid, secret)
                    .session_token_opt(token)
                    .provider_name("environment")
                    .build(),
                CredentialSource::Environment,
            ))
        }
    }
}

/// Splits a `-H 'Name: value'` flag; the value's surrounding spaces and tabs are dropped.
pub(crate) fn split_header(flag: &str) -> Result<(&str, &str), CliError> {
    let (name, value) = flag.split_once(':').ok_or_else(|| {
        CliError::Usage(format!(
            "-H {:?}: write a header as 'Name: value'",
            crate::request::shorten(flag, 60)
        ))
    })?;
    Ok((name.trim(), value.trim_matches([' ', '\t'])))
}

/// The body from `-d`: text, `@FILE`, or `@-` for standard input.
fn read_body(data: Option<&str>) -> Result<Vec<u8>, CliError> {
    match data {
        None => Ok(Vec::new()),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => read_input(path, "body"),
            None => Ok(text.as_bytes().to_vec()),
        },
    }
}

/// One request, ready to sign.
struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
    region: String,
    service: String,
    date: AmzDate,
    credentials: Credentials,
    source: CredentialSource,
    switches: Switches,
}

fn prepare(
    url: &str,
    args: &RequestArgs,
    presign_expires: Option<u64>,
    env: impl Fn(&str) -> Option<String>,
    now: SystemTime,
) -> Result<Prepared, CliError> {
    let uri = Uri::try_from(url).map_err(|e| {
        CliError::Usage(format!(
            "URL {:?} is not valid ({e}): give an absolute, percent-encoded URL such as \
             https://host/path",
            crate::request::shorten(url, 100)
        ))
    })?;
    let mut switches = Switches::new(args.s3, args.unsigned_payload);
    switches.presign_expires = presign_expires;
    switches.sigv4a = args.sigv4a;
    let region = switches.region(args.region.as_deref(), args.region_set.as_deref());
    let (region, service) = resolve_scope(&uri, region, args.service.as_deref())?;
    let method_text =
        args.method
            .as_deref()
            .unwrap_or(if args.data.is_some() { "POST" } else { "GET" });
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| CliError::Usage(format!("-X {method_text:?} is not a valid HTTP method")))?;
    let mut headers = HeaderMap::new();
    for flag in &args.headers {
        let (name, value) = split_header(flag)?;
        append_header(&mut headers, name, value)
            .map_err(|e| CliError::Usage(format!("-H: {e}")))?;
    }
    let date = match &args.timestamp {
        Some(text) => {
            AmzDate::parse(text).map_err(|e| CliError::Usage(format!("--timestamp: {e}")))?
        }
        None => AmzDate::from_system_time(now)
            .map_err(|e| CliError::Usage(format!("the system clock is unusable: {e}")))?,
    };
    let body = read_body(args.data.as_deref())?;
    let (credentials, source) = resolve_credentials(args, env)?;
    Ok(Prepared {
        method,
        uri,
        headers,
        body,
        region,
        service,
        date,
        credentials,
        source,
        switches,
    })
}

/// Signs or presigns the request of `args` (presigns when `presign_expires` is set) and prints
/// the report to standard output.
pub(crate) fn run(
    url: &str,
    args: &RequestArgs,
    presign_expires: Option<u64>,
) -> Result<(), CliError> {
    let env = |name: &str| std::env::var(name).ok();
    let prepared = prepare(url, args, presign_expires, env, SystemTime::now())?;
    let mut out = BufWriter::new(io::stdout().lock());
    sign_and_report(&prepared, &mut out)?;
    out.flush()?;
    Ok(())
}

fn sign_and_report(p: &Prepared, out: &mut impl Write) -> Result<(), CliError> {
    let settings = p.switches.settings();
    let params = SigningParams::new(
        &p.credentials,
        &p.region,
        &p.service,
        p.date.to_system_time(),
    )
    .with_settings(&settings)
    .with_algorithm(p.switches.algorithm());
    let payload = p.switches.payload(&p.body);
    let signing = |e: sigv4_core::SigningError| CliError::Signing(e.to_string());
    let (output, inspection) = Signer::new()
        .inspect(
            RequestHead::new(&p.method, &p.uri, &p.headers),
            payload,
            &params,
        )
        .map_err(signing)?;
    let (mut uri, mut headers) = (p.uri.clone(), p.headers.clone());
    output.apply(&mut uri, &mut headers).map_err(signing)?;
    report(p, &inspection, &uri, &headers, out)?;
    Ok(())
}

fn section(out: &mut impl Write, title: &str) -> io::Result<()> {
    writeln!(out, "\n{title}\n{}", "-".repeat(title.chars().count()))
}

fn report(
    p: &Prepared,
    inspection: &Inspection,
    signed_uri: &Uri,
    signed_headers: &HeaderMap,
    out: &mut impl Write,
) -> io::Result<()> {
    let presign = p.switches.presign_expires;
    writeln!(out, "Request\n-------")?;
    writeln!(out, "{} {}", p.method, p.uri)?;
    if p.switches.sigv4a {
        writeln!(out, "algorithm:     SigV4a (AWS4-ECDSA-P256-SHA256)")?;
        writeln!(out, "region set:    {}", p.region)?;
        if let Some(key) = Signer::new().sigv4a_public_key(&p.credentials) {
            writeln!(out, "public key:    {}", hex(&key))?;
        }
    } else {
        writeln!(out, "region:        {}", p.region)?;
    }
    writeln!(out, "service:       {}", p.service)?;
    writeln!(out, "time:          {}", p.date)?;
    let from = match p.source {
        CredentialSource::Flags => "from the command line",
        CredentialSource::Environment => "from the environment",
    };
    writeln!(
        out,
        "access key:    {} ({from})",
        p.credentials.access_key_id()
    )?;
    if let Some(token) = p.credentials.session_token() {
        writeln!(out, "session token: {}", short_token(token))?;
    }
    // What was signed, as the core decided it (S3 presigned URLs sign UNSIGNED-PAYLOAD).
    if inspection.payload_hash == sigv4_core::UNSIGNED_PAYLOAD {
        writeln!(
            out,
            "payload:       UNSIGNED-PAYLOAD ({} bytes not hashed)",
            p.body.len()
        )?;
    } else {
        writeln!(out, "payload:       SHA-256 of {} bytes", p.body.len())?;
    }

    section(out, "Canonical request")?;
    writeln!(out, "{}", mask_tokens(&inspection.canonical_request))?;
    section(out, "String to sign")?;
    writeln!(out, "{}", inspection.string_to_sign)?;
    section(out, "Signature")?;
    writeln!(out, "{}", inspection.signature)?;
    writeln!(out, "signed headers: {}", inspection.signed_headers)?;
    match presign {
        None => {
            section(out, "Signed request headers")?;
            if !signed_headers.contains_key(http::header::HOST) {
                if let Some(authority) = p.uri.authority() {
                    writeln!(
                        out,
                        "host: {authority} (from the URL; the HTTP client sends it)"
                    )?;
                }
            }
            for (name, value) in signed_headers {
                if name == sigv4_core::X_AMZ_SECURITY_TOKEN {
                    writeln!(out, "{name}: {}", short_token(&value_text(value)))?;
                } else {
                    writeln!(out, "{name}: {}", value_text(value))?;
                }
            }
        }
        Some(seconds) => {
            section(
                out,
                &format!("Presigned URL (valid {seconds} s from {})", p.date),
            )?;
            writeln!(out, "{signed_uri}")?;
        }
    }
    Ok(())
}

/// The canonical request with any session token shortened: the `x-amz-security-token` header
/// line and the `X-Amz-Security-Token` query parameter.
pub(crate) fn mask_tokens(canonical: &str) -> String {
    const HEADER: &str = "x-amz-security-token:";
    const PARAM: &str = "X-Amz-Security-Token=";
    let mut out = String::with_capacity(canonical.len());
    for (i, line) in canonical.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(value) = line.strip_prefix(HEADER) {
            out.push_str(HEADER);
            out.push_str(&short_token(value));
        } else if line.contains(PARAM) {
            let parts: Vec<String> = line
                .split('&')
                .map(|part| match part.strip_prefix(PARAM) {
                    Some(value) => format!("{PARAM}{}", short_token(value)),
                    None => part.to_owned(),
                })
                .collect();
            out.push_str(&parts.join("&"));
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env_of;
    use clap::Parser;

    fn args(extra: &[&str]) -> RequestArgs {
        let mut argv = vec!["sigv4", "sign", "https://example.amazonaws.com/"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Sign(sign) => sign.request,
            _ => unreachable!(),
        }
    }

    #[test]
    fn credentials_from_flags_or_environment() {
        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
        ]);
        let (c, src) = resolve_credentials(&args(&[]), &env).unwrap();
        assert_eq!(
            (c.access_key_id(), c.session_token(), src),
            ("ENVKEY", Some("envtoken"), CredentialSource::Environment)
        );
        let (c, src) = resolve_credentials(
            &args(&["--access-key", "FLAGKEY", "--secret-key", "s"]),
            &env,
        )
        .unwrap();
        // The environment's token is not paired with keys from flags.
        assert_eq!(
            (c.access_key_id(), c.session_token(), src),
            ("FLAGKEY", None, CredentialSource::Flags)
        );
        let err = resolve_credentials(&args(&["--access-key", "FLAGKEY"]), &env).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        let err = resolve_credentials(
            &args(&[]),
            env_of(&[("AWS_ACCESS_KEY_ID", "K"), ("AWS_SECRET_ACCESS_KEY", " ")]),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"));
    }

    #[test]
    fn header_flags() {
        assert_eq!(split_header("X-A:  b c \t").unwrap(), ("X-A", "b c"));
        assert_eq!(split_header("X-A:").unwrap(), ("X-A", ""));
        assert_eq!(split_header("x:y:z").unwrap(), ("x", "y:z"));
        assert_eq!(split_header("nocolon").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn prepare_defaults_and_usage_errors() {
        let env = env_of(&[("AWS_ACCESS_KEY_ID", "K"), ("AWS_SECRET_ACCESS_KEY", "S")]);
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let base = ["--region", "us-east-1", "--service", "service"];
        let p = prepare(
            "https://example.amazonaws.com/",
            &args(&base),
            None,
            &env,
            now,
        )
        .unwrap();
        assert_eq!(
            (p.method.as_str(), p.date.as_str()),
            ("GET", "20150830T123600Z")
        );
        let mut with_data = base.to_vec();
        with_data.extend(["-d", "x=1"]);
        let p = prepare(
            "https://example.amazonaws.com/",
            &args(&with_data),
            None,
            &env,
            now,
        )
        .unwrap();
        assert_eq!(
            (p.method.as_str(), p.body.as_slice()),
            ("POST", &b"x=1"[..])
        );

        let code = |argv: &[&str], url: &str| {
            prepare(url, &args(argv), None, &env, now)
                .map(|_| ())
                .unwrap_err()
                .exit_code()
        };
        assert_eq!(
            code(&["--region", "us-east-1"], "https://example.amazonaws.com/"),
            2
        );
        assert_eq!(code(&base, "https://exa mple/"), 2);
        let mut bad = base.to_vec();
        bad.extend(["--timestamp", "2015-08-30"]);
        assert_eq!(code(&bad, "https://example.amazonaws.com/"), 2);
        let mut bad = base.to_vec();
        bad.extend(["-H", "bad name: x"]);
        assert_eq!(code(&bad, "https://example.amazonaws.com/"), 2);
    }

    #[test]
    fn masks_tokens_in_canonical_requests() {
        let header = "GET\n/\n\nhost:h\nx-amz-security-token:6e86291e8372ff2a\n\nhost;x-amz-security-token\nabc";
        assert_eq!(
            mask_tokens(header),
            "GET\n/\n\nhost:h\nx-amz-security-token:6e86291e…\n\nhost;x-amz-security-token\nabc"
        );
        let query = "GET\n/\nX-Amz-Date=1&X-Amz-Security-Token=AQoDYXdzEPT%2F%2F&X-Amz-SignedHeaders=host\n";
        assert_eq!(
            mask_tokens(query),
            "GET\n/\nX-Amz-Date=1&X-Amz-Security-Token=AQoDYXdz…&X-Amz-SignedHeaders=host\n"
        );
    }
}
