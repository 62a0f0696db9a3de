//! Signing throughput: ours against aws-sigv4, on the path a tower layer takes (an unsigned
//! `http::Request` in, the signed `http::Request` out); and verifying (ours only: aws-sigv4 has
//! no verifier) beside signing the same request.
//!
//! Run: `cargo bench -p sigv4-core --bench sign -- --warm-up-time 1 --measurement-time 3`.
//!
//! Both sides sign a fresh clone of the unsigned request (see `time_signing`) and keep their
//! long-lived state outside the timed part: our `Signer` (with its signing-key cache) and
//! `SigningParams`; aws-sigv4's `Identity` and `SigningParams`. Per request, aws-sigv4 builds a
//! `SignableRequest` from the request's parts, signs and applies the instructions.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation as AwsLocation, SigningParams as AwsParams, SigningSettings as AwsSettings,
    UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use http::Request;
use sha2::{Digest, Sha256};
use sigv4_core::verify::{SignedRequest, VerifySettings};
use sigv4_core::{Credentials, Payload, Signature, Signer, SigningParams, SigningSettings};

const AKID: &str = "ASIAEXAMPLEEXAMPLE12";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const API_HOST: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";

/// A session token of about 900 characters, like the ones STS hands out.
fn session_token() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = fastrand::Rng::with_seed(900);
    let mut token = String::from("IQoJb3JpZ2luX2VjE");
    while token.len() < 900 {
        token.push(alphabet[rng.usize(..alphabet.len())] as char);
    }
    token.push_str("==");
    token
}

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn api_gateway_get() -> Request<Vec<u8>> {
    Request::get(format!("https://{API_HOST}/prod/items?limit=10&next=abc"))
        .header("host", API_HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .body(Vec::new())
        .expect("valid request")
}

fn api_gateway_post(len: usize) -> Request<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(len as u64);
    let body: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    Request::post(format!("https://{API_HOST}/prod/items"))
        .header("host", API_HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .header("content-type", "application/octet-stream")
        .body(body)
        .expect("valid request")
}

fn s3_get() -> Request<Vec<u8>> {
    Request::get("https://my-bucket.s3.us-east-1.amazonaws.com/photos/2024/06/holiday%20pic.jpg")
        .body(Vec::new())
        .expect("valid request")
}

struct Ours {
    signer: Signer,
    creds: Credentials,
    settings: SigningSettings,
}

impl Ours {
    fn new(settings: SigningSettings) -> Self {
        Ours {
            signer: Signer::new(),
            creds: Credentials::builder(AKID, SECRET)
                .session_token(session_token())
                .build(),
            settings,
        }
    }

    fn sign(&self, req: &mut Request<Vec<u8>>, unsigned: bool, service: &str) -> Signature {
        let params = SigningParams::new(&self.creds, "us-east-1", service, time())
            .with_settings(&self.settings);
        // The body is moved out and back so the payload can borrow it while the head changes
        // (what a layer does with a buffered body).
        let body = std::mem::take(req.body_mut());
        let payload = if unsigned {
            Payload::Unsigned
        } else {
            Payload::Bytes(&body)
        };
        let signature = self
            .signer
            .sign_request(req, payload, &params)
            .expect("signs");
        *req.body_mut() = body;
        signature
    }
}

fn aws_identity() -> Identity {
    Identity::from(aws_credential_types::Credentials::new(
        AKID,
        SECRET,
        Some(session_token()),
        None,
        "bench",
    ))
}

fn aws_params<'a>(
    identity: &'a Identity,
    service: &'a str,
    settings: AwsSettings,
) -> AwsParams<'a> {
    aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name(service)
        .time(time())
        .settings(settings)
        .build()
        .expect("complete params")
        .into()
}

fn aws_sign_request(req: &mut Request<Vec<u8>>, params: &AwsParams<'_>, unsigned: bool) -> String {
    let (instructions, signature) = {
        let headers = req.headers().iter().map(|(n, v)| {
            (
                n.as_str(),
                std::str::from_utf8(v.as_bytes()).expect("UTF-8 header"),
            )
        });
        let body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(req.body())
        };
        let signable =
            SignableRequest::new(req.method().as_str(), req.uri().to_string(), headers, body)
                .expect("signable");
        aws_sign(signable, params).expect("signs").into_parts()
    };
    instructions.apply_to_request_http1x(req);
    signature
}

fn s3_presign_settings() -> (SigningSettings, AwsSettings) {
    let mut ours = SigningSettings::s3();
    ours.location = sigv4_core::SignatureLocation::Query {
        expires_in: Duration::from_secs(900),
    };
    let mut aws = AwsSettings::default();
    aws.percent_encoding_mode = PercentEncodingMode::Single;
    aws.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    aws.signature_location = AwsLocation::QueryParams;
    aws.expires_in = Some(Duration::from_secs(900));
    (ours, aws)
}

/// Times `sign` on a fresh clone of `request`. Small requests are cloned inside the timed closure
/// (the same small cost on both sides, and a warm allocator as in a running service); 1 MiB
/// bodies are cloned outside it (`iter_batched`, one per batch) so the time compares with raw
/// SHA-256 of the body.
fn time_signing(
    bench: &mut criterion::Bencher<'_>,
    request: &Request<Vec<u8>>,
    mut sign: impl FnMut(&mut Request<Vec<u8>>),
) {
    if request.body().len() > 64 * 1024 {
        bench.iter_batched(
            || request.clone(),
            |mut req| {
                sign(&mut req);
                req
            },
            BatchSize::LargeInput,
        )
    } else {
        bench.iter(|| {
            let mut req = black_box(request).clone();
            sign(&mut req);
            req
        })
    }
}

fn bench_header_signing(c: &mut Criterion, group: &str, request: Request<Vec<u8>>, raw_sha: bool) {
    let ours = Ours::new(SigningSettings::default());
    let identity = aws_identity();
    let params = aws_params(&identity, "execute-api", AwsSettings::default());

    // Both must produce the same signature, or the comparison means nothing.
    let (mut a, mut b) = (request.clone(), request.clone());
    assert_eq!(
        ours.sign(&mut a, false, "execute-api").as_str(),
        aws_sign_request(&mut b, &params, false)
    );
    assert_eq!(a.headers(), b.headers());

    let mut g = c.benchmark_group(group);
    let len = request.body().len();
    if len > 0 {
        g.throughput(Throughput::Bytes(len as u64));
    }
    g.bench_function("ours", |bench| {
        time_signing(bench, &request, |req| {
            ours.sign(req, false, "execute-api");
        })
    });
    g.bench_function("aws_sigv4", |bench| {
        time_signing(bench, &request, |req| {
            aws_sign_request(req, &params, false);
        })
    });
    if raw_sha {
        g.bench_function("sha2_raw", |bench| {
            bench.iter(|| black_box(Sha256::digest(black_box(request.body().as_slice()))))
        });
    }
    g.finish();
}

fn sign_api_gateway_get(c: &mut Criterion) {
    bench_header_signing(c, "sign_api_gateway_get", api_gateway_get(), false);
}

fn sign_post_1kib(c: &mut Criterion) {
    bench_header_signing(c, "sign_post_1kib", api_gateway_post(1024), false);
}

fn sign_post_1mib(c: &mut Criterion) {
    bench_header_signing(c, "sign_post_1mib", api_gateway_post(1024 * 1024), true);
}

fn presign_s3_get(c: &mut Criterion) {
    let (ours_settings, aws_settings) = s3_presign_settings();
    let ours = Ours::new(ours_settings);
    let identity = aws_identity();
    let params = aws_params(&identity, "s3", aws_settings);
    let request = s3_get();

    let (mut a, mut b) = (request.clone(), request.clone());
    assert_eq!(
        ours.sign(&mut a, true, "s3").as_str(),
        aws_sign_request(&mut b, &params, true)
    );

    let mut g = c.benchmark_group("presign_s3_get");
    g.bench_function("ours", |bench| {
        time_signing(bench, &request, |req| {
            ours.sign(req, true, "s3");
        })
    });
    g.bench_function("aws_sigv4", |bench| {
        time_signing(bench, &request, |req| {
            aws_sign_request(req, &params, true);
        })
    });
    g.finish();
}

/// Verifying the signed API Gateway GET of `sign_api_gateway_get` (parse the claim, recompute,
/// compare: what a server does per request, with the secret already looked up), beside signing
/// the same request with both signers. Verifying takes the request by reference, so nothing is
/// cloned in its timed part.
fn verify_api_gateway_get(c: &mut Criterion) {
    let ours = Ours::new(SigningSettings::default());
    let identity = aws_identity();
    let params = aws_params(&identity, "execute-api", AwsSettings::default());
    let request = api_gateway_get();
    let mut signed = request.clone();
    ours.sign(&mut signed, false, "execute-api");
    let settings = VerifySettings::default();
    let verify = |req: &Request<Vec<u8>>| {
        let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
        ours.signer
            .verify(
                req.method(),
                req.uri(),
                req.headers(),
                &claimed,
                Payload::Bytes(req.body()),
                &ours.creds,
                time(),
                &settings,
            )
            .expect("verifies")
    };
    verify(&signed);

    let mut g = c.benchmark_group("verify_api_gateway_get");
    g.bench_function("ours_verify", |bench| {
        bench.iter(|| verify(black_box(&signed)))
    });
    g.bench_function("ours_sign", |bench| {
        time_signing(bench, &request, |req| {
            ours.sign(req, false, "execute-api");
        })
    });
    g.bench_function("aws_sigv4_sign", |bench| {
        time_signing(bench, &request, |req| {
            aws_sign_request(req, &params, false);
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    sign_api_gateway_get,
    sign_post_1kib,
    sign_post_1mib,
    presign_s3_get,
    verify_api_gateway_get
);
criterion_main!(benches);
