//! Calling a real IAM-protected API Gateway endpoint over HTTPS:
//!
//! ```text
//! cargo run --example hyper_api_gateway --features tls -- \
//!     https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod/items [REGION]
//! ```
//!
//! The client is hyper-util's `Client` over `hyper-rustls` (rustls with ring, the platform's
//! root certificates, HTTPS only) behind `sigv4::SigV4Layer`, with credentials from the default
//! chain (`sigv4::credentials::DefaultChain`: environment, profile files, ECS/EKS container
//! credentials, EC2 instance metadata; cached and refreshed). It sends one `GET` and prints the
//! answer.
//!
//! The region comes from the host when it is an API Gateway default endpoint
//! (`<api-id>.execute-api.<region>.amazonaws.com`); for a custom domain name give it as the second
//! argument. The signing service is `execute-api`.
//!
//! Exits with 0 on a 2xx answer, 1 on any other answer or error, 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sigv4::credentials::{DefaultChain, ProvideCredentials};
use sigv4::{SigV4Body, SigV4Error, SigV4Layer};
use tower::{BoxError, ServiceBuilder, ServiceExt};

const USAGE: &str = "\
usage: hyper_api_gateway URL [REGION]

Sends a SigV4-signed GET to an IAM-protected API Gateway URL and prints the answer.

  URL     https://<api-id>.execute-api.<region>.amazonaws.com/<stage>/<path>[?query]
  REGION  the API's region (e.g. eu-west-1); needed when URL is not an execute-api host

Credentials come from the default chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, then AWS_PROFILE (or \"default\") in ~/.aws/config and ~/.aws/credentials,
then ECS/EKS container credentials, then EC2 instance metadata.

example:
  cargo run --example hyper_api_gateway --features tls -- \\
      https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod/items";

/// How long the whole call (credentials, TLS, request, response body) may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The most of the response body printed.
const MAX_PRINTED_BODY: usize = 16 * 1024;

/// What to call.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    url: Uri,
    region: String,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Call(Target),
    Help,
}

#[tokio::main]
async fn main() -> ExitCode {
    let target = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Call(target)) => target,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            if let Some(problem) = problem {
                eprintln!("error: {problem}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match tokio::time::timeout(TIMEOUT, call(&target)).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(error)) => {
            eprintln!("error: {}", describe(&*error));
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: no answer within {} s", TIMEOUT.as_secs());
            ExitCode::FAILURE
        }
    }
}

/// Reads `URL [REGION]`. `Err(None)`: no arguments at all; `Err(Some(why))`: bad arguments.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, Option<String>> {
    let args: Vec<String> = args.into_iter().collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    let (url, region) = match args.as_slice() {
        [] => return Err(None),
        [url] => (url, None),
        [url, region] => (url, Some(region)),
        [_, _, extra, ..] => return Err(Some(format!("unexpected argument {extra:?}"))),
    };
    let url: Uri = url
        .parse()
        .map_err(|e| Some(format!("{url:?} is not a URL: {e}")))?;
    if url.scheme_str() != Some("https") {
        return Err(Some(format!(
            "{url} is not an https:// URL (the signed request and the session token must not \
             travel in clear text)"
        )));
    }
    let host = url
        .host()
        .ok_or_else(|| Some(format!("{url} has no host")))?;
    let region = match region {
        Some(region) if is_region(region) => region.clone(),
        Some(region) => {
            return Err(Some(format!(
                "{region:?} is not an AWS region name (like eu-west-1)"
            )))
        }
        None => region_from_host(host).map(str::to_owned).ok_or_else(|| {
            Some(format!(
                "cannot tell the region from the host {host:?} (not \
                 <api-id>.execute-api.<region>.amazonaws.com): give it as the second argument"
            ))
        })?,
    };
    Ok(Command::Call(Target { url, region }))
}

/// The region of an API Gateway default endpoint host:
/// `<api-id>.execute-api.<region>.amazonaws.com` (or `.amazonaws.com.cn`), also with `.vpce`
/// before `.amazonaws` for a private API's VPC endpoint name.
fn region_from_host(host: &str) -> Option<&str> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels
        .iter()
        .position(|l| l.eq_ignore_ascii_case("execute-api"))?;
    if at == 0 {
        return None;
    }
    let (region, rest) = labels[at + 1..].split_first()?;
    let rest = rest.strip_prefix(&["vpce"]).unwrap_or(rest);
    let known_suffix = matches!(rest, ["amazonaws", "com"] | ["amazonaws", "com", "cn"]);
    (known_suffix && is_region(region)).then_some(*region)
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`: lower-case letters and digits in dash-separated
/// parts, at least three of them.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Sends the signed GET and prints the answer; true for a 2xx status.
async fn call(target: &Target) -> Result<bool, BoxError> {
    // Credentials first, to say which ones sign (the access key id is not a secret; the secret key
    // and the session token are never printed). The chain caches them: the layer reuses them.
    let credentials = DefaultChain::builder().build().await;
    let found = credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("no AWS credentials to sign with: {e}"))?;
    eprintln!(
        "signing as {} (from {}) for {} / execute-api",
        found.access_key_id(),
        found.provider_name(),
        target.region
    );

    // HTTPS with rustls (ring) and the platform's root certificates; plain http is refused.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot load the platform's root certificates: {e}"))?
        .https_only()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, SigV4Body<Full<Bytes>>>(https);
    let api = ServiceBuilder::new()
        .layer(SigV4Layer::new(
            credentials,
            target.region.clone(),
            "execute-api",
        ))
        .service(client);

    let request = Request::get(target.url.clone())
        .header(http::header::ACCEPT, "application/json")
        .body(Full::default())?;
    let response = api.oneshot(request).await?;

    let status = response.status();
    println!("{status}");
    for name in ["content-type", "x-amzn-requestid", "x-amzn-errortype"] {
        if let Some(value) = response.headers().get(name) {
            println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
    }
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = response.into_body().collect().await?.to_bytes();
    println!();
    let shown = &body[..body.len().min(MAX_PRINTED_BODY)];
    println!("{}", String::from_utf8_lossy(shown));
    if body.len() > shown.len() {
        println!("[... {} more bytes]", body.len() - shown.len());
    }
    if let Some(hint) = error_type.as_deref().and_then(hint) {
        eprintln!("hint: {hint}");
    }
    Ok(status.is_success())
}

/// What to check for the usual refusals (the part of `x-amzn-ErrorType` before any `:`).
fn hint(error_type: &str) -> Option<&'static str> {
    let code = error_type.split(':').next().unwrap_or(error_type).trim();
    match code {
        "MissingAuthenticationTokenException" | "MissingAuthenticationToken" => Some(
            "API Gateway answers this for a path or method that does not exist too: check the \
             stage and the resource path",
        ),
        "InvalidSignatureException" | "SignatureDoesNotMatch" => {
            Some("check the region (the second argument) and this machine's clock")
        }
        "AccessDeniedException" => Some(
            "the signature is valid, but the identity lacks execute-api:Invoke on this API \
             (or a resource policy denies it)",
        ),
        "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException" => {
            Some("the credentials are not (or no longer) valid: refresh or replace them")
        }
        _ => None,
    }
}

/// The error and its causes, one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = match SigV4Error::find(error) {
        Some(_) => format!("could not sign the request: {error}"),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Command, Option<String>> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    fn target(url: &str, region: &str) -> Command {
        Command::Call(Target {
            url: url.parse().unwrap(),
            region: region.to_owned(),
        })
    }

    #[test]
    fn the_region_is_read_from_default_endpoint_hosts() {
        let cases = [
            (
                "abc123defg.execute-api.eu-west-1.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "abc123defg.execute-api.us-gov-west-1.amazonaws.com",
                Some("us-gov-west-1"),
            ),
            (
                "abc123defg.execute-api.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            (
                "abc123defg.execute-api.ap-southeast-2.amazonaws.com.",
                Some("ap-southeast-2"),
            ),
            (
                "abc123defg-vpce-0123456789abcdef0.execute-api.us-east-1.vpce.amazonaws.com",
                Some("us-east-1"),
            ),
            ("api.example.com", None),
            ("execute-api.eu-west-1.amazonaws.com", None),
            ("abc.execute-api.eu-west-1.example.com", None),
            ("abc.execute-api.amazonaws.com", None),
            ("abc.execute-api.EU-WEST-1.amazonaws.com", None),
        ];
        for (host, expected) in cases {
            assert_eq!(region_from_host(host), expected, "{host}");
        }
    }

    #[test]
    fn url_and_optional_region() {
        let url = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod/items?x=1";
        assert_eq!(args(&[url]), Ok(target(url, "eu-west-1")));
        // An explicit region wins (e.g. a custom domain name in front of the API).
        let custom = "https://api.example.com/items";
        assert_eq!(
            args(&[custom, "eu-central-1"]),
            Ok(target(custom, "eu-central-1"))
        );
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        assert_eq!(args(&[]), Err(None));
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        let refused = [
            &["https://api.example.com/items"][..],
            &["http://abc.execute-api.eu-west-1.amazonaws.com/prod"],
            &["not a url"],
            &[
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                "Ireland",
            ],
            &[
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                "eu-west-1",
                "x",
            ],
        ];
        for list in refused {
            let problem = args(list).expect_err("refused").expect("a reason");
            assert!(!problem.is_empty(), "{list:?}");
        }
    }

    #[test]
    fn hints_name_the_usual_fixes() {
        assert!(hint("AccessDeniedException")
            .unwrap()
            .contains("execute-api:Invoke"));
        assert!(
            hint("InvalidSignatureException:http://internal.amazon.com/")
                .unwrap()
                .contains("region")
        );
        assert_eq!(hint("ThrottlingException"), None);
    }
}
