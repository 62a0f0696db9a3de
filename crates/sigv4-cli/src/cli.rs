//! The command line.

use clap::{Args, Parser, Subcommand};

/// The exit code table, shown by `--help` (keep in step with `CliError::exit_code` and the
/// README).
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  done (for curl: a response was received, whatever its status, unless --fail/--fail-with-body)
  1  the output could not be written
  2  usage or input error (a flag, the URL, a file)
  3  the request cannot be signed
  4  no credentials: none found, or the configured source failed
  5  network error: name resolution, connection, TLS or certificate, proxy, timeout
  6  the server answered 400 or above, with --fail or --fail-with-body
  7  a redirect was not followed: more than --max-redirs, or an unusable Location";

/// Sign HTTP requests with AWS Signature Version 4 and show how the signature was made.
#[derive(Debug, Parser)]
#[command(name = "sigv4", version, propagate_version = true)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign a request and show how (or sign JSON specs with --spec)
    ///
    /// Prints the canonical request, the string to sign, the signature and the headers to send.
    /// With --spec, signs each JSON spec and prints one JSON line per spec instead.
    Sign(SignArgs),
    /// Make a presigned URL and show how
    ///
    /// Prints the canonical request, the string to sign, the signature and the presigned URL.
    Presign(PresignArgs),
    /// Send a signed request, like curl (an awscurl replacement)
    ///
    /// Credentials come from the flags, else --profile, else the default chain (environment,
    /// profile files, ECS/EKS container credentials, EC2 instance metadata). Region and service
    /// are told from well-known AWS host names unless --region / --service are given.
    ///
    /// With -L, a redirect to the same scheme, host and port is signed again for its new URL;
    /// a redirect anywhere else is followed without the signature, the session token or any
    /// Authorization/Cookie header, and no later hop is signed.
    ///
    /// Proxies: HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (http:// proxies; CONNECT for https) and
    /// NO_PROXY, as curl reads them.
    Curl(Box<CurlArgs>),
    /// Show which credentials the default chain finds (never the secret)
    ///
    /// Prints the source, the access key id and when the credentials expire. --export prints
    /// shell export lines, secret included: the only way this tool prints a secret.
    #[command(after_help = EXIT_CODES)]
    Credentials(CredentialsArgs),
    /// Run a signing reverse proxy: clients call it in plain HTTP, it signs and forwards
    ///
    /// Every request is forwarded to the upstream its path routes to (path and query kept byte
    /// for byte), signed with SigV4 (credentials from the default chain, refreshed in the
    /// background, or --profile), and its response streamed back as it arrives. The client's own
    /// Authorization, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256 and hop-by-hop
    /// headers are dropped; X-Forwarded-For is added. Never an open proxy: absolute-form
    /// targets, CONNECT and a Host naming another host are refused with 400.
    ///
    /// One log line per request on standard error (method, path, status, upstream latency).
    /// SIGTERM or Ctrl-C: stop accepting, let requests in flight finish (up to --grace).
    Proxy(Box<ProxyArgs>),
}

/// `sigv4 proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Send every request to this URL (https://abc.execute-api.eu-west-1.amazonaws.com); the
    /// same as --route /=URL.
    #[arg(long, value_name = "URL", required_unless_present = "routes")]
    pub(crate) upstream: Option<String>,

    /// Send requests whose path is under PREFIX (whole segments; the longest prefix wins) to
    /// UPSTREAM, e.g. --route /orders=https://abc.execute-api.eu-west-1.amazonaws.com (repeat for
    /// more). The prefix is not removed from the path.
    #[arg(long = "route", value_name = "PREFIX=UPSTREAM")]
    pub(crate) routes: Vec<String>,

    /// Where to listen (HTTP/1.1 and h2c).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,

    /// Serve /healthz (always 200) and /readyz (200 once credentials resolve, else 503) here.
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) admin_listen: Option<std::net::SocketAddr>,

    /// The AWS region [default: told from each upstream's host].
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,

    /// The service's signing name [default: told from each upstream's host].
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: Option<String>,

    /// The Host to send and sign, when it is not the upstream's (a private API reached through a
    /// VPC endpoint's host name).
    #[arg(long, value_name = "HOST")]
    pub(crate) sign_host: Option<String>,

    /// Also accept requests whose Host is NAME (the proxy's own DNS name; loopback names and the
    /// upstreams' hosts are always accepted). Repeat for more.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub(crate) allow_hosts: Vec<String>,

    /// The largest body buffered to be hashed, in bytes (suffixes K, M, G: KiB, MiB, GiB); larger
    /// ones get 413 and the upstream sees nothing.
    #[arg(long, value_name = "BYTES", default_value = "10M", value_parser = parse_size)]
    pub(crate) max_body: usize,

    /// Sign UNSIGNED-PAYLOAD and stream bodies through unbuffered (S3; API Gateway refuses it).
    /// --max-body then does not apply.
    #[arg(long)]
    pub(crate) unsigned_payload: bool,

    /// Use this profile of the shared config and credentials files instead of the default chain.
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Assume this role (STS AssumeRole, signed with the credentials found by the default chain or
    /// --profile) and sign with the role's credentials, refreshed before they expire.
    #[arg(long, value_name = "ARN")]
    pub(crate) role_arn: Option<String>,

    /// The session name for --role-arn (default: sigv4-rs-<time>).
    #[arg(long, value_name = "NAME", requires = "role_arn")]
    pub(crate) role_session_name: Option<String>,

    /// How many requests are forwarded at once; more wait their turn.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrency: u32,

    /// How long the upstream has to answer with a response head, in seconds (then 504).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub(crate) timeout: std::time::Duration,

    /// How long requests in flight get to finish after SIGTERM or Ctrl-C, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) grace: std::time::Duration,

    /// Serve HTTPS on --listen with this certificate chain (PEM; with --tls-key). HTTP/1.1 and
    /// HTTP/2 are offered by ALPN.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<String>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<String>,

    /// DANGEROUS: accept any TLS certificate from the upstreams.
    #[arg(short = 'k', long = "insecure")]
    pub(crate) insecure: bool,

    /// Also trust the CA certificates in this PEM file for the upstreams.
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<String>,

    /// Log more: debug lines, and when an upstream answers 403 with its own canonical request
    /// (API Gateway, S3), a line-by-line diff against ours.
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,
}

/// A size in bytes, with an optional K, M or G suffix (powers of 1024; `KiB`, `MiB`, `GiB` too).
fn parse_size(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let lower = lower.strip_suffix("ib").unwrap_or(&lower);
    let lower = lower.strip_suffix('b').unwrap_or(lower);
    let (digits, multiplier) = match lower.char_indices().last() {
        Some((i, 'k')) => (&lower[..i], 1usize << 10),
        Some((i, 'm')) => (&lower[..i], 1 << 20),
        Some((i, 'g')) => (&lower[..i], 1 << 30),
        _ => (lower, 1),
    };
    digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("{text:?} is not a size in bytes (e.g. 1048576, 512K, 10M)"))
}

/// `sigv4 curl`.
#[derive(Debug, Args)]
pub(crate) struct CurlArgs {
    /// The URL, already percent-encoded (https://host/path?query).
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// The HTTP method [default: GET; POST with -d; PUT with -T].
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub(crate) method: Option<String>,

    /// A header to sign and send, 'Name: value' (repeat for more). 'Name:' with nothing after
    /// the colon sends no such header (drops the default User-Agent or Accept).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,

    /// The body: text, @FILE, or @- for standard input. Sent and signed byte for byte (unlike
    /// curl, newlines are kept, as awscurl does). No Content-Type is added: pass -H.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "data_binary"
    )]
    pub(crate) data: Option<String>,

    /// The body, byte for byte: text, @FILE, or @- for standard input.
    #[arg(long = "data-binary", value_name = "DATA")]
    pub(crate) data_binary: Option<String>,

    /// Upload FILE ('-' for standard input) as the body, streamed from disk in constant memory
    /// [default method: PUT]. For S3 it is sent aws-chunked (each 64 KiB chunk signed);
    /// elsewhere its SHA-256 is computed first (a second read), or UNSIGNED-PAYLOAD with
    /// --unsigned-payload. A progress line is drawn on a terminal for large files.
    #[arg(
        short = 'T',
        long = "upload-file",
        value_name = "FILE",
        conflicts_with_all = ["data", "data_binary"]
    )]
    pub(crate) upload_file: Option<String>,

    /// Write the response's status line and headers before its body.
    #[arg(short = 'i', long = "include")]
    pub(crate) include: bool,

    /// Write the body to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Option<String>,

    /// Show on standard error the canonical request, the string to sign and the headers sent
    /// and received (the session token and the signature shortened, never the secret).
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,

    /// Exit 6 when the server answers 400 or above, after writing the body.
    #[arg(long = "fail-with-body", conflicts_with = "fail")]
    pub(crate) fail_with_body: bool,

    /// Exit 6 when the server answers 400 or above, without writing the body.
    #[arg(short = 'f', long = "fail")]
    pub(crate) fail: bool,

    /// Follow redirects (3xx with a Location), signing again for each hop on the same host.
    #[arg(short = 'L', long = "location")]
    pub(crate) location: bool,

    /// The most redirects -L follows.
    #[arg(long = "max-redirs", value_name = "N", default_value_t = 50)]
    pub(crate) max_redirs: u32,

    /// DANGEROUS: accept any TLS certificate (expired, self-signed, for another host). Anyone
    /// on the path can then read the request, signature included.
    #[arg(short = 'k', long = "insecure")]
    pub(crate) insecure: bool,

    /// Also trust the CA certificates in this PEM file (besides the platform's).
    #[arg(long, value_name = "FILE")]
    pub(crate) cacert: Option<String>,

    /// The most time the whole transfer may take, in seconds (fractions allowed).
    #[arg(long, visible_alias = "max-time", short = 'm', value_name = "SECONDS",
          value_parser = parse_seconds)]
    pub(crate) timeout: Option<std::time::Duration>,

    /// No effect (there is no progress meter); accepted for curl habits.
    #[arg(short = 's', long = "silent", hide = true)]
    pub(crate) silent: bool,

    /// The AWS region [default: told from the host].
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,

    /// The service's signing name [default: told from the host].
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: Option<String>,

    /// Where the credentials come from.
    #[command(flatten)]
    pub(crate) credentials: CredentialFlags,

    /// S3 rules: path neither normalized nor encoded twice, x-amz-content-sha256 sent. On by
    /// itself when the service is s3 (--service s3, or an S3 host name), s3-object-lambda,
    /// s3-outposts or s3express.
    #[arg(long)]
    pub(crate) s3: bool,

    /// Sign UNSIGNED-PAYLOAD instead of the body's SHA-256 (S3 accepts it; API Gateway does not).
    #[arg(long)]
    pub(crate) unsigned_payload: bool,

    /// Sign with SigV4a (AWS4-ECDSA-P256-SHA256) for --region-set instead of SigV4 for
    /// --region (S3 Multi-Region Access Points, global endpoints).
    #[arg(long)]
    pub(crate) sigv4a: bool,

    /// The SigV4a region set: '*' or a comma-separated list (us-east-1,us-west-2) [default: *].
    #[arg(long, value_name = "REGIONS", requires = "sigv4a")]
    pub(crate) region_set: Option<String>,
}

/// `sigv4 credentials`.
#[derive(Debug, Args)]
pub(crate) struct CredentialsArgs {
    /// Use this profile only, instead of the default chain.
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,

    /// Print shell `export AWS_...=` lines, the secret key and session token included.
    #[arg(long, conflicts_with = "json")]
    pub(crate) export: bool,

    /// Print one JSON object (no secret): source, access_key_id, session_token (bool),
    /// expiration (RFC 3339 or null), expires_in_seconds (or null).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Seconds, possibly with a fraction, as a duration.
fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("give a positive number of seconds".to_owned());
    }
    std::time::Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// `sigv4 sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Sign the JSON spec(s) in FILE ('-' for standard input), one JSON line out per spec
    ///
    /// FILE holds one JSON object or an array of them, each {id, method, url, headers: [[name,
    /// value], ...], body | body_b64, access_key, secret_key, session_token, region, service,
    /// timestamp: "YYYYMMDDTHHMMSSZ", mode: "header" | "query", expires, s3, unsigned_payload}
    /// and optionally normalize_path, double_encode, content_sha256_header, sign_session_token,
    /// algorithm: "sigv4" | "sigv4a" with region_set (SigV4a; region is then not needed).
    /// Each output line is {id, canonical_request, string_to_sign, signature, signed_headers,
    /// credential_scope, payload_hash, authorization, headers, url} (and public_key for SigV4a),
    /// or {id, error} for a spec that cannot be signed (the run goes on).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "RequestArgs", "CredentialFlags"])]
    pub(crate) spec: Option<String>,

    /// The request URL, already percent-encoded (https://host/path?query).
    #[arg(value_name = "URL", required_unless_present = "spec")]
    pub(crate) url: Option<String>,

    /// The request.
    #[command(flatten)]
    pub(crate) request: RequestArgs,

    /// Where the credentials come from.
    #[command(flatten)]
    pub(crate) credentials: CredentialFlags,
}

/// `sigv4 presign`.
#[derive(Debug, Args)]
pub(crate) struct PresignArgs {
    /// The request URL, already percent-encoded (https://host/path?query).
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// How long the URL stays valid, in seconds (1 to 604800, 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub(crate) expires: u64,

    /// The request.
    #[command(flatten)]
    pub(crate) request: RequestArgs,

    /// Where the credentials come from.
    #[command(flatten)]
    pub(crate) credentials: CredentialFlags,
}

/// The request and how to sign it (shared by `sign` and `presign`).
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// The HTTP method [default: GET, or POST with --data].
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub(crate) method: Option<String>,

    /// A header to sign and send, 'Name: value' (repeat for more; a repeated name keeps every
    /// value, in order).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,

    /// The body: text, @FILE, or @- for standard input. Signed byte for byte (no newline
    /// stripping).
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub(crate) data: Option<String>,

    /// The AWS region (us-east-1).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,

    /// The service's signing name (execute-api, s3, lambda...).
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: Option<String>,

    /// S3 rules: path neither normalized nor encoded twice, x-amz-content-sha256 signed,
    /// UNSIGNED-PAYLOAD in presigned URLs. On by itself when the service is s3 (--service s3,
    /// or an S3 host name), s3-object-lambda, s3-outposts or s3express.
    #[arg(long)]
    pub(crate) s3: bool,

    /// Sign UNSIGNED-PAYLOAD instead of the body's SHA-256.
    #[arg(long)]
    pub(crate) unsigned_payload: bool,

    /// Sign with SigV4a (AWS4-ECDSA-P256-SHA256) for --region-set instead of SigV4 for
    /// --region (S3 Multi-Region Access Points, global endpoints).
    #[arg(long)]
    pub(crate) sigv4a: bool,

    /// The SigV4a region set: '*' or a comma-separated list (us-east-1,us-west-2) [default: *].
    #[arg(long, value_name = "REGIONS", requires = "sigv4a")]
    pub(crate) region_set: Option<String>,

    /// The signing time, YYYYMMDDTHHMMSSZ in UTC [default: now].
    #[arg(long, value_name = "YYYYMMDDTHHMMSSZ")]
    pub(crate) timestamp: Option<String>,
}

/// The credential flags of `curl`, `sign` and `presign`: the keys, else `--profile`, else the
/// default chain (environment, profile files, web identity, ECS/EKS container credentials, EC2
/// instance metadata).
#[derive(Debug, Args)]
pub(crate) struct CredentialFlags {
    /// Use this profile of the shared config and credentials files (only it: the environment's
    /// keys are then ignored) [default: the default chain].
    #[arg(long, value_name = "NAME", conflicts_with_all = ["access_key", "secret_key"])]
    pub(crate) profile: Option<String>,

    /// Access key id (with --secret-key).
    #[arg(long, value_name = "AKID", requires = "secret_key")]
    pub(crate) access_key: Option<String>,

    /// Secret access key (with --access-key). Other users can read command lines: prefer the
    /// environment or a profile.
    #[arg(long, value_name = "SECRET", requires = "access_key")]
    pub(crate) secret_key: Option<String>,

    /// Session token of temporary credentials (with --access-key and --secret-key).
    #[arg(long, value_name = "TOKEN", requires = "access_key")]
    pub(crate) session_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn spec_conflicts_with_request_flags() {
        let err =
            Cli::try_parse_from(["sigv4", "sign", "--spec", "-", "--region", "x"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        let err = Cli::try_parse_from(["sigv4", "sign", "--spec", "-", "https://a/"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(Cli::try_parse_from(["sigv4", "sign", "--spec", "-"]).is_ok());
        assert!(Cli::try_parse_from(["sigv4", "sign"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10M"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("-1").is_err());
    }

    #[test]
    fn proxy_needs_an_upstream() {
        assert!(Cli::try_parse_from(["sigv4", "proxy"]).is_err());
        assert!(Cli::try_parse_from(["sigv4", "proxy", "--upstream", "https://a"]).is_ok());
        assert!(Cli::try_parse_from(["sigv4", "proxy", "--route", "/a=https://a"]).is_ok());
    }

    #[test]
    fn presign_expiry_range() {
        let parse =
            |e: &str| Cli::try_parse_from(["sigv4", "presign", "https://a/", "--expires", e]);
        assert!(parse("0").is_err());
        assert!(parse("604801").is_err());
        assert!(parse("604800").is_ok());
        let Command::Presign(args) = Cli::try_parse_from(["sigv4", "presign", "https://a/"])
            .unwrap()
            .command
        else {
            panic!("not presign")
        };
        assert_eq!(args.expires, 900);
    }
}
