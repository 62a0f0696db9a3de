//! `sigv4 sign URL ...` and `sigv4 presign URL ...`: one request from flags, shown to a person.
//!
//! The secret key is never printed; the session token is shown as its first 8 characters
//! (except inside the presigned URL, which is useless without it).

use std::io::{self, BufWriter, Write};
use std::time::SystemTime;

use http::header::HeaderMap;
use http::{Method, Uri};
use sigv4_core::{AmzDate, Credentials, Inspection, RequestHead, Signer, SigningParams};
use sigv4_credentials::Env;

use crate::cli::{CredentialFlags, RequestArgs};
use crate::creds;
use crate::error::{read_input, CliError};
use crate::infer::resolve_scope;
use crate::request::{append_header, hex, short_token, value_text, Switches};

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
    switches: Switches,
}

fn prepare(
    url: &str,
    args: &RequestArgs,
    presign_expires: Option<u64>,
    credentials: Credentials,
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
    switches.s3 = args.s3 || sigv4_core::infer::uses_s3_rules(&service);
    Ok(Prepared {
        method,
        uri,
        headers,
        body,
        region,
        service,
        date,
        credentials,
        switches,
    })
}

/// Signs or presigns the request of `args` (presigns when `presign_expires` is set) and prints
/// the report to standard output. Credentials come as for `sigv4 curl`: the key flags, else
/// `--profile`, else the default chain.
pub(crate) async fn run(
    url: &str,
    args: &RequestArgs,
    credentials: &CredentialFlags,
    presign_expires: Option<u64>,
) -> Result<(), CliError> {
    let lookup = credentials.lookup();
    let credentials = creds::resolve(lookup, Env::real()).await?;
    let prepared = prepare(url, args, presign_expires, credentials, SystemTime::now())?;
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
    writeln!(
        out,
        "access key:    {} (from {})",
        p.credentials.access_key_id(),
        p.credentials.provider_name()
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
    use clap::Parser;

    fn sign_args(extra: &[&str]) -> crate::cli::SignArgs {
        let mut argv = vec!["sigv4", "sign", "https://example.amazonaws.com/"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Sign(sign) => sign,
            _ => unreachable!(),
        }
    }

    fn args(extra: &[&str]) -> RequestArgs {
        sign_args(extra).request
    }

    #[test]
    fn credentials_as_curl_finds_them() {
        let dir = std::env::temp_dir().join(format!("sigv4-human-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("credentials");
        std::fs::write(
            &file,
            "[dev]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = profilesecret\n",
        )
        .unwrap();
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap()),
            ("AWS_CONFIG_FILE", "/nonexistent/config"),
        ]);
        let resolve = |argv: &[&str]| {
            let a = sign_args(argv);
            let lookup = a.credentials.lookup();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(creds::resolve(lookup, env.clone()))
        };
        // The default chain: the environment's keys and token.
        let c = resolve(&[]).unwrap();
        assert_eq!(
            (c.access_key_id(), c.session_token()),
            ("ENVKEY", Some("envtoken"))
        );
        // Keys from flags are never paired with the environment's token.
        let c = resolve(&["--access-key", "FLAGKEY", "--secret-key", "s"]).unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("FLAGKEY", None));
        // One key without the other, or keys with a profile, is a usage error from clap.
        let argv = [
            "sigv4",
            "sign",
            "https://example.amazonaws.com/",
            "--access-key",
            "K",
        ];
        assert!(crate::cli::Cli::try_parse_from(argv).is_err());
        let argv = [
            "sigv4",
            "presign",
            "https://example.amazonaws.com/",
            "--profile",
            "p",
            "--access-key",
            "K",
            "--secret-key",
            "S",
        ];
        assert!(crate::cli::Cli::try_parse_from(argv).is_err());
        // --profile: that profile only, even with keys in the environment.
        let c = resolve(&["--profile", "dev"]).unwrap();
        assert_eq!((c.access_key_id(), c.session_token()), ("PROFILEKEY", None));
        // A profile that is not there is an error naming it, not the environment's keys.
        let err = resolve(&["--profile", "missing"]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
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
        let creds = || Credentials::new("K", "S");
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let base = ["--region", "us-east-1", "--service", "service"];
        let p = prepare(
            "https://example.amazonaws.com/",
            &args(&base),
            None,
            creds(),
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
            creds(),
            now,
        )
        .unwrap();
        assert_eq!(
            (p.method.as_str(), p.body.as_slice()),
            ("POST", &b"x=1"[..])
        );

        let code = |argv: &[&str], url: &str| {
            prepare(url, &args(argv), None, creds(), now)
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
    fn s3_rules_follow_the_service() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let s3 = |url: &str, argv: &[&str]| {
            prepare(url, &args(argv), None, Credentials::new("K", "S"), now)
                .unwrap()
                .switches
                .s3
        };
        // Told from an S3 host name, or named with --service: S3 rules without --s3.
        assert!(s3("https://bucket.s3.eu-west-1.amazonaws.com/a//b", &[]));
        let local = ["--region", "us-east-1", "--service", "s3"];
        assert!(s3("http://127.0.0.1:9000/bucket/a//b", &local));
        let api = ["--region", "us-east-1", "--service", "execute-api"];
        assert!(!s3("http://127.0.0.1:9000/prod", &api));
        assert!(!s3("https://sqs.eu-west-1.amazonaws.com/", &[]));

        // The canonical path keeps `//` (S3) rather than collapsing it (every other service).
        let p = prepare(
            "http://127.0.0.1:9000/bucket/a//b",
            &args(&local),
            None,
            Credentials::new("K", "S"),
            now,
        )
        .unwrap();
        let mut out = Vec::new();
        sign_and_report(&p, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\nGET\n/bucket/a//b\n") || text.contains("GET\n/bucket/a//b\n"),
            "{text}"
        );
        assert!(text.contains("x-amz-content-sha256"), "{text}");
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
