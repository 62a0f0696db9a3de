//! `sigv4 curl URL`: send one signed request, like curl, following redirects with `-L`.
//!
//! Credentials are only ever sent to the origin (scheme, host, port) of the URL given: a hop
//! there is signed again for its own URL; a hop anywhere else is sent without the signature,
//! the session token, `Authorization`, `Cookie` or a custom `Host`, and once the chain has left
//! the origin no later hop is signed (a foreign server cannot steer signed requests back).

use std::fs::File;
use std::io::{self, Write};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, COOKIE, HOST,
    LOCATION, PROXY_AUTHORIZATION, USER_AGENT,
};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sigv4_core::chunked::ChunkedPayload;
use sigv4_core::mismatch::{explain_against, AwsView};
use sigv4_core::{
    Credentials, Inspection, Payload, RequestHead, Signer, SigningParams, X_AMZ_SECURITY_TOKEN,
};
use sigv4_credentials::Env;

use crate::cli::CurlArgs;
use crate::creds;
use crate::error::{read_input, CliError};
use crate::human::{mask_tokens, split_header};
use crate::infer::resolve_scope;
use crate::net::{full_body, proxy_matcher, Origin, RequestBody, TlsOptions, Transport};
use crate::request::{append_header, short_token, value_text, Switches};
use crate::upload::{Framing, Upload, CHUNK_SIZE};

/// The request as the user described it.
#[derive(Debug)]
struct Plan {
    method: Method,
    uri: Uri,
    /// The `-H` headers.
    headers: HeaderMap,
    /// Default headers the user switched off with `-H 'Name:'`.
    suppressed: Vec<HeaderName>,
    body: Bytes,
    /// `-T`: the file streamed as the body instead of `body`.
    upload: Option<Upload>,
    region: String,
    service: String,
}

/// Reads the flags into a plan (no network, no credentials).
fn plan(args: &CurlArgs) -> Result<Plan, CliError> {
    let uri = Uri::try_from(args.url.as_str()).map_err(|e| {
        CliError::Usage(format!(
            "URL {:?} is not valid ({e}): give an absolute, percent-encoded URL such as \
             https://host/path",
            crate::request::shorten(&args.url, 100)
        ))
    })?;
    Origin::of(&uri)?;
    let mut switches = Switches::new(args.s3, args.unsigned_payload);
    switches.sigv4a = args.sigv4a;
    let region = switches.region(args.region.as_deref(), args.region_set.as_deref());
    let (region, service) = resolve_scope(&uri, region, args.service.as_deref())?;
    let data = args.data.as_deref().or(args.data_binary.as_deref());
    let body = match data {
        None => Bytes::new(),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => Bytes::from(read_input(path, "body")?),
            None => Bytes::from(text.as_bytes().to_vec()),
        },
    };
    let upload = args.upload_file.as_deref().map(Upload::open).transpose()?;
    let method_text = args.method.as_deref().unwrap_or(if upload.is_some() {
        "PUT"
    } else if data.is_some() {
        "POST"
    } else {
        "GET"
    });
    let method = Method::from_bytes(method_text.as_bytes())
        .map_err(|_| CliError::Usage(format!("-X {method_text:?} is not a valid HTTP method")))?;
    let mut headers = HeaderMap::new();
    let mut suppressed = Vec::new();
    for flag in &args.headers {
        let (name, value) = split_header(flag)?;
        if value.is_empty() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| CliError::Usage(format!("-H: header name {name:?} is not valid")))?;
            suppressed.push(name);
            continue;
        }
        append_header(&mut headers, name, value)
            .map_err(|e| CliError::Usage(format!("-H: {e}")))?;
    }
    Ok(Plan {
        method,
        uri,
        headers,
        suppressed,
        body,
        upload,
        region,
        service,
    })
}

/// Where the response goes: standard output or the `-o` file, opened on first write (as curl
/// does).
struct Output<'a> {
    path: Option<&'a str>,
    writer: Option<Box<dyn Write + 'a>>,
}

impl<'a> Output<'a> {
    fn new(path: Option<&'a str>) -> Self {
        Self { path, writer: None }
    }

    fn get(&mut self) -> Result<&mut (dyn Write + 'a), CliError> {
        if self.writer.is_none() {
            let writer: Box<dyn Write + 'a> = match self.path {
                Some(path) => {
                    Box::new(io::BufWriter::new(File::create(path).map_err(|e| {
                        CliError::Usage(format!("-o: cannot create {path:?}: {e}"))
                    })?))
                }
                None => Box::new(io::BufWriter::new(io::stdout().lock())),
            };
            self.writer = Some(writer);
        }
        match self.writer.as_deref_mut() {
            Some(writer) => Ok(writer),
            None => Err(CliError::Output(io::Error::other("no output"))),
        }
    }

    fn flush(&mut self) -> Result<(), CliError> {
        if let Some(writer) = self.writer.as_mut() {
            writer.flush()?;
        }
        Ok(())
    }
}

/// `sigv4 curl`.
pub(crate) async fn run(args: &CurlArgs) -> Result<(), CliError> {
    let plan = plan(args)?;
    let lookup = args.credentials.lookup();
    let credentials = creds::resolve(lookup, Env::real()).await?;
    let transport = Transport::new(
        TlsOptions {
            insecure: args.insecure,
            cacert: args.cacert.clone(),
        },
        proxy_matcher(|name| std::env::var(name).ok()),
    );
    let mut output = Output::new(args.output.as_deref());
    let transfer = transfer(args, plan, &credentials, &transport, &mut output);
    let result = match args.timeout {
        None => transfer.await,
        Some(limit) => match tokio::time::timeout(limit, transfer).await {
            Ok(result) => result,
            Err(_) => Err(CliError::Network(format!(
                "timed out after {} (--timeout)",
                humantime::format_duration(limit)
            ))),
        },
    };
    let flushed = output.flush();
    result.and(flushed)
}

/// One hop of the transfer.
struct Hop {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Send the plan's `-T` file as the body (until a redirect turns the method into GET).
    upload: bool,
    /// Sign this hop (it goes to the origin signed for, and the chain never left it).
    sign: bool,
}

async fn transfer(
    args: &CurlArgs,
    plan: Plan,
    credentials: &Credentials,
    transport: &Transport,
    output: &mut Output<'_>,
) -> Result<(), CliError> {
    let home = Origin::of(&plan.uri)?;
    let mut hop = Hop {
        method: plan.method.clone(),
        uri: plan.uri.clone(),
        headers: plan.headers.clone(),
        body: plan.body.clone(),
        upload: plan.upload.is_some(),
        sign: true,
    };
    let s3 = args.s3 || sigv4_core::infer::uses_s3_rules(&plan.service);
    let mut switches = Switches::new(s3, args.unsigned_payload);
    switches.sigv4a = args.sigv4a;
    let signer = Signer::new();
    // The upload's payload hash, read once for every hop (not needed when unsigned).
    let upload_hash = match &plan.upload {
        Some(upload) if !switches.unsigned_payload && !switches.chunked_uploads() => {
            Some(upload.sha256_hex()?)
        }
        _ => None,
    };
    let mut redirects = 0u32;
    loop {
        let (request, inspection) = prepare(
            &hop,
            &plan,
            &switches,
            &signer,
            credentials,
            upload_hash.as_deref(),
            args.verbose,
        )?;
        let response = transport.send(request).await?;
        if args.verbose {
            show_response_head(&response);
        }
        let status = response.status();
        let location = response.headers().get(LOCATION).cloned();
        if let (true, true, Some(location)) = (args.location, status.is_redirection(), location) {
            if args.include {
                write_head(output.get()?, &response)?;
            }
            if redirects >= args.max_redirs {
                return Err(CliError::Redirect(format!(
                    "not following the redirect to {}: {} redirects followed already \
                     (--max-redirs)",
                    value_text(&location),
                    redirects
                )));
            }
            redirects += 1;
            let next = resolve_location(&hop.uri, &location)?;
            let next_origin = Origin::of(&next).map_err(|_| {
                CliError::Redirect(format!(
                    "not following the redirect to {next}: only http:// and https:// are followed"
                ))
            })?;
            if (status == StatusCode::SEE_OTHER && hop.method != Method::HEAD)
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && hop.method == Method::POST)
            {
                hop.method = Method::GET;
                hop.body = Bytes::new();
                hop.upload = false;
            }
            if hop.sign && next_origin != home {
                hop.sign = false;
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, HOST] {
                    hop.headers.remove(name);
                }
                hop.headers.remove(&X_AMZ_SECURITY_TOKEN);
                if args.verbose {
                    eprintln!(
                        "* {next_origin} is not {home}, the origin signed for: following \
                         without the signature, the session token, Authorization or Cookie"
                    );
                }
            }
            if args.verbose {
                eprintln!("* redirect {redirects}: {} {next}", hop.method);
            }
            hop.uri = next;
            // The rest of this body is not wanted; the connection is dropped with it.
            drop(response);
            continue;
        }

        let failed = status.as_u16() >= 400 && (args.fail || args.fail_with_body);
        if failed && args.fail {
            return Err(CliError::HttpStatus(status));
        }
        let out = output.get()?;
        if args.include {
            write_head(out, &response)?;
        }
        // -v on a refusal: keep the (short) body to set AWS's canonical request beside ours.
        let mut kept = (args.verbose && status == StatusCode::FORBIDDEN && inspection.is_some())
            .then(Vec::new);
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                CliError::Network(format!(
                    "the connection broke while reading the response body: {}",
                    crate::net::hyper_error(&e)
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)?;
                if let Some(buf) = kept.as_mut() {
                    if buf.len() + data.len() <= EXPLAIN_LIMIT {
                        buf.extend_from_slice(&data);
                    } else {
                        kept = None;
                    }
                }
            }
        }
        if let (Some(body), Some(ours)) = (kept, &inspection) {
            out.flush()?;
            explain_refusal(&body, ours);
        }
        return if failed {
            Err(CliError::HttpStatus(status))
        } else {
            Ok(())
        };
    }
}

/// The largest refusal body kept to explain a signature mismatch (AWS's are a few KiB).
const EXPLAIN_LIMIT: usize = 64 * 1024;

/// `-v`, after a 403: when the body shows AWS's canonical request or string to sign (API
/// Gateway's message, S3's XML), prints them against ours, line by line, on standard error.
fn explain_refusal(body: &[u8], ours: &Inspection) {
    let Some(aws) = AwsView::from_body(body) else {
        return;
    };
    let explanation = explain_against(&aws, ours);
    eprintln!("* the server refused the signature; its view (-) against ours (+):");
    for line in explanation.to_string().lines() {
        eprintln!("* {line}");
    }
}

/// Builds the request of a hop: default headers, then the signature when the hop is signed
/// (with the canonical request and string to sign, for `-v`).
fn prepare(
    hop: &Hop,
    plan: &Plan,
    switches: &Switches,
    signer: &Signer,
    credentials: &Credentials,
    upload_hash: Option<&str>,
    verbose: bool,
) -> Result<(Request<RequestBody>, Option<Inspection>), CliError> {
    let upload = plan.upload.as_ref().filter(|_| hop.upload);
    let mut headers = HeaderMap::new();
    if !hop.headers.contains_key(HOST) {
        if let Some(authority) = hop.uri.authority() {
            let value = HeaderValue::from_str(authority.as_str())
                .map_err(|_| CliError::Usage(format!("URL {}: bad host", hop.uri)))?;
            headers.insert(HOST, value);
        }
    }
    let defaults = [
        (
            USER_AGENT,
            HeaderValue::from_static(concat!("sigv4/", env!("CARGO_PKG_VERSION"))),
        ),
        (ACCEPT, HeaderValue::from_static("*/*")),
    ];
    for (name, value) in defaults {
        if !hop.headers.contains_key(&name) && !plan.suppressed.contains(&name) {
            headers.insert(name, value);
        }
    }
    for (name, value) in &hop.headers {
        headers.append(name.clone(), value.clone());
    }
    if let Some(upload) = upload {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(upload.len()));
    }
    let mut uri = hop.uri.clone();
    let mut inspected = None;
    let mut framing = Framing::Plain;
    if hop.sign {
        let settings = switches.settings();
        let params =
            SigningParams::new(credentials, &plan.region, &plan.service, SystemTime::now())
                .with_settings(&settings)
                .with_algorithm(switches.algorithm());
        let signing = |e: sigv4_core::SigningError| CliError::Signing(e.to_string());
        // S3: the upload goes aws-chunked, each chunk signed as it is read.
        let chunked = upload.filter(|_| switches.chunked_uploads());
        if let Some(upload) = chunked {
            ChunkedPayload::Signed
                .set_headers(&mut headers, upload.len(), CHUNK_SIZE)
                .map_err(signing)?;
        }
        let payload = match (upload, chunked, upload_hash) {
            (None, _, _) => switches.payload(&hop.body),
            (Some(_), Some(_), _) => Payload::Precomputed(ChunkedPayload::Signed.payload_hash()),
            (Some(_), None, Some(hash)) => Payload::Precomputed(hash),
            (Some(_), None, None) => Payload::Unsigned,
        };
        let (signed, inspection) = signer
            .inspect(
                RequestHead::new(&hop.method, &uri, &headers),
                payload,
                &params,
            )
            .map_err(signing)?;
        if chunked.is_some() {
            let chunks = signer
                .chunk_signer(&params, &signed.signature(), ChunkedPayload::Signed)
                .map_err(signing)?;
            framing = Framing::chunked(chunks);
        }
        signed.apply(&mut uri, &mut headers).map_err(signing)?;
        if verbose {
            eprintln!(
                "* signing for {}/{} with {} (from {})",
                plan.region,
                plan.service,
                credentials.access_key_id(),
                credentials.provider_name()
            );
            eprintln!("* canonical request:");
            eprintln!("{}", mask_tokens(&inspection.canonical_request));
            eprintln!("* string to sign:");
            eprintln!("{}", inspection.string_to_sign);
        }
        inspected = Some(inspection);
    }
    if verbose {
        show_request_head(&hop.method, &uri, &headers);
    }
    let body = match upload {
        Some(upload) => upload.body(framing)?.boxed_unsync(),
        None => full_body(hop.body.clone()),
    };
    let mut request = Request::new(body);
    *request.method_mut() = hop.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok((request, inspected))
}

/// A header value as shown by `-v`: the session token and the signature shortened.
fn shown_value(name: &HeaderName, value: &HeaderValue) -> String {
    let text = value_text(value);
    if name == X_AMZ_SECURITY_TOKEN {
        return short_token(&text);
    }
    if name == AUTHORIZATION {
        if let Some(at) = text.find("Signature=") {
            let start = at + "Signature=".len();
            let signature = &text[start..];
            let end = signature.find([',', ' ']).unwrap_or(signature.len());
            return format!(
                "{}{}{}",
                &text[..start],
                short_token(&signature[..end]),
                &signature[end..]
            );
        }
        // Some other scheme (Basic, Bearer): not shown.
        let scheme = text.split_whitespace().next().unwrap_or("");
        return format!("{scheme} …");
    }
    text.into_owned()
}

fn show_request_head(method: &Method, uri: &Uri, headers: &HeaderMap) {
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut text = format!("> {method} {target} HTTP/1.1\n");
    for (name, value) in headers {
        text.push_str(&format!("> {name}: {}\n", shown_value(name, value)));
    }
    text.push('>');
    eprintln!("{text}");
}

fn status_line(response: &Response<Incoming>) -> String {
    let status = response.status();
    format!(
        "{:?} {} {}",
        response.version(),
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

fn show_response_head(response: &Response<Incoming>) {
    let mut text = format!("< {}\n", status_line(response));
    for (name, value) in response.headers() {
        text.push_str(&format!("< {name}: {}\n", value_text(value)));
    }
    text.push('<');
    eprintln!("{text}");
}

/// `-i`: the status line and headers, as received.
fn write_head(out: &mut dyn Write, response: &Response<Incoming>) -> io::Result<()> {
    write!(out, "{}\r\n", status_line(response))?;
    for (name, value) in response.headers() {
        out.write_all(name.as_str().as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"\r\n")
}

/// The URL a `Location` points to, relative to the URL that answered.
fn resolve_location(base: &Uri, location: &HeaderValue) -> Result<Uri, CliError> {
    let text = value_text(location);
    let text = text.trim();
    let text = text.split('#').next().unwrap_or("");
    let bad = |why: &str| {
        CliError::Redirect(format!(
            "not following the redirect: the Location {:?} {why}",
            crate::request::shorten(text, 100)
        ))
    };
    // Spaces are common in hand-written Locations; anything else invalid is refused.
    let text = text.replace(' ', "%20");
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    let absolute = if text.is_empty() {
        base.to_string()
    } else if text.contains("://") {
        text
    } else if let Some(rest) = text.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if text.starts_with('/') {
        format!("{scheme}://{authority}{text}")
    } else if text.starts_with('?') {
        format!("{scheme}://{authority}{}{text}", base.path())
    } else {
        let path = base.path();
        let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let directory = if directory.is_empty() { "/" } else { directory };
        format!("{scheme}://{authority}{directory}{text}")
    };
    let uri = Uri::try_from(absolute.as_str()).map_err(|_| bad("is not a valid URL"))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(bad("is not a valid URL"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let base: Uri = "https://h.test:8443/a/b/c?x=1".parse().unwrap();
        let resolve = |loc: &'static str| {
            resolve_location(&base, &HeaderValue::from_static(loc)).map(|u| u.to_string())
        };
        assert_eq!(resolve("http://o.test/p").unwrap(), "http://o.test/p");
        assert_eq!(resolve("//o.test/p").unwrap(), "https://o.test/p");
        assert_eq!(resolve("/p?q=2").unwrap(), "https://h.test:8443/p?q=2");
        assert_eq!(resolve("d").unwrap(), "https://h.test:8443/a/b/d");
        assert_eq!(resolve("?y=2").unwrap(), "https://h.test:8443/a/b/c?y=2");
        assert_eq!(resolve("/p#frag").unwrap(), "https://h.test:8443/p");
        assert_eq!(resolve("/a b").unwrap(), "https://h.test:8443/a%20b");
        assert_eq!(resolve("http://").unwrap_err().exit_code(), 7);
    }

    #[test]
    fn verbose_values_hide_secrets() {
        let auth = HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
        assert_eq!(
            shown_value(&AUTHORIZATION, &auth),
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa3…"
        );
        assert_eq!(
            shown_value(&AUTHORIZATION, &HeaderValue::from_static("Bearer abc")),
            "Bearer …"
        );
        let token = X_AMZ_SECURITY_TOKEN.clone();
        assert_eq!(
            shown_value(&token, &HeaderValue::from_static("IQoJb3JpZ2luX2VjEJr")),
            "IQoJb3Jp…"
        );
    }

    fn curl_args(argv: &[&str]) -> CurlArgs {
        use clap::Parser;
        let mut full = vec!["sigv4", "curl"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::try_parse_from(full).unwrap().command {
            crate::cli::Command::Curl(args) => *args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn plans() {
        let p = plan(&curl_args(&[
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "-d",
            "{}",
            "-H",
            "Accept:",
            "-H",
            "x-a: 1",
        ]))
        .unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(
            (p.region.as_str(), p.service.as_str()),
            ("eu-west-1", "execute-api")
        );
        assert_eq!(p.suppressed, [ACCEPT]);
        assert_eq!(p.headers.len(), 1);
        assert_eq!(&p.body[..], b"{}");

        let err = plan(&curl_args(&["http://127.0.0.1:1/"])).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--region and --service"), "{err}");
        let err = plan(&curl_args(&["ftp://s3.amazonaws.com/"])).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
