//! The command line.

use clap::{Args, Parser, Subcommand};

/// Sign HTTP requests with AWS Signature Version 4 and show how the signature was made.
#[derive(Debug, Parser)]
#[command(name = "sigv4", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 done, 1 output failed, 2 usage or input error, \
3 the request cannot be signed, 4 no credentials."
)]
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
}

/// `sigv4 sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Sign the JSON spec(s) in FILE ('-' for standard input), one JSON line out per spec
    ///
    /// FILE holds one JSON object or an array of them, each {id, method, url, headers: [[name,
    /// value], ...], body | body_b64, access_key, secret_key, session_token, region, service,
    /// timestamp: "YYYYMMDDTHHMMSSZ", mode: "header" | "query", expires, s3, unsigned_payload}
    /// and optionally normalize_path, double_encode, content_sha256_header, sign_session_token.
    /// Each output line is {id, canonical_request, string_to_sign, signature, signed_headers,
    /// credential_scope, payload_hash, authorization, headers, url}, or {id, error} for a spec
    /// that cannot be signed (the run goes on).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "RequestArgs"])]
    pub(crate) spec: Option<String>,

    /// The request URL, already percent-encoded (https://host/path?query).
    #[arg(value_name = "URL", required_unless_present = "spec")]
    pub(crate) url: Option<String>,

    /// The request.
    #[command(flatten)]
    pub(crate) request: RequestArgs,
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
    /// UNSIGNED-PAYLOAD in presigned URLs.
    #[arg(long)]
    pub(crate) s3: bool,

    /// Sign UNSIGNED-PAYLOAD instead of the body's SHA-256.
    #[arg(long)]
    pub(crate) unsigned_payload: bool,

    /// The signing time, YYYYMMDDTHHMMSSZ in UTC [default: now].
    #[arg(long, value_name = "YYYYMMDDTHHMMSSZ")]
    pub(crate) timestamp: Option<String>,

    /// Access key id [default: $AWS_ACCESS_KEY_ID].
    #[arg(long, value_name = "AKID")]
    pub(crate) access_key: Option<String>,

    /// Secret access key [default: $AWS_SECRET_ACCESS_KEY]. Prefer the environment variable:
    /// other users can read command lines.
    #[arg(long, value_name = "SECRET")]
    pub(crate) secret_key: Option<String>,

    /// Session token of temporary credentials [default: $AWS_SESSION_TOKEN when the keys come
    /// from the environment].
    #[arg(long, value_name = "TOKEN")]
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
