//! A small driver for `valgrind --tool=callgrind`: runs one operation a given number of times,
//! so the instructions of one operation are the difference between two runs.
//!
//! ```text
//! cargo bench -p sigv4-core --bench profile --no-run
//! B=$(ls -t target/release/deps/profile-* | grep -v '\.d$' | head -1)
//! valgrind --tool=callgrind $B verify 1; valgrind --tool=callgrind $B verify 10001
//! ```
//!
//! Operations: `sign` (API Gateway GET, header signing), `verify` (parse and verify the same
//! request signed), `presign` (S3 GET, presigned URL), and `aws_sign`, `aws_presign` (the same
//! with aws-sigv4). The requests and settings are those of `benches/sign.rs`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{
    sign as aws_sign, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation as AwsLocation, SigningSettings as AwsSettings, UriPathNormalizationMode,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;
use sigv4_core::verify::{SignedRequest, VerifySettings};
use sigv4_core::{Credentials, Payload, Signer, SigningParams, SigningSettings};

const AKID: &str = "ASIAEXAMPLEEXAMPLE12";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const API_HOST: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";

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

fn api_gateway_get() -> Request<()> {
    Request::get(format!("https://{API_HOST}/prod/items?limit=10&next=abc"))
        .header("host", API_HOST)
        .header("user-agent", "my-app/1.0 sigv4-tower/0.1")
        .header("accept", "application/json")
        .body(())
        .expect("valid request")
}

fn s3_get() -> Request<()> {
    Request::get("https://my-bucket.s3.us-east-1.amazonaws.com/photos/2024/06/holiday%20pic.jpg")
        .body(())
        .expect("valid request")
}

fn aws_sign_request(
    req: &mut Request<()>,
    identity: &Identity,
    settings: AwsSettings,
    service: &str,
    unsigned: bool,
) {
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name(service)
        .time(time())
        .settings(settings)
        .build()
        .expect("complete params")
        .into();
    let (instructions, _) = {
        let headers = req.headers().iter().map(|(n, v)| {
            (
                n.as_str(),
                std::str::from_utf8(v.as_bytes()).expect("UTF-8"),
            )
        });
        let body = if unsigned {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Bytes(b"")
        };
        let signable =
            SignableRequest::new(req.method().as_str(), req.uri().to_string(), headers, body)
                .expect("signable");
        aws_sign(signable, &params).expect("signs").into_parts()
    };
    instructions.apply_to_request_http1x(req);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` runs every bench target with `--bench`: nothing to do then.
    let (Some(op), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u32>().ok())) else {
        return;
    };
    let creds = Credentials::builder(AKID, SECRET)
        .session_token(session_token())
        .build();
    let signer = Signer::new();
    let mut s3 = SigningSettings::s3();
    s3.location = sigv4_core::SignatureLocation::Query {
        expires_in: Duration::from_secs(900),
    };
    let identity = Identity::from(aws_credential_types::Credentials::new(
        AKID,
        SECRET,
        Some(session_token()),
        None,
        "profile",
    ));
    let mut aws_s3 = AwsSettings::default();
    aws_s3.percent_encoding_mode = PercentEncodingMode::Single;
    aws_s3.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    aws_s3.signature_location = AwsLocation::QueryParams;
    aws_s3.expires_in = Some(Duration::from_secs(900));

    let get = api_gateway_get();
    let mut signed = get.clone();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time());
    signer
        .sign_request(&mut signed, Payload::Bytes(b""), &params)
        .expect("signs");
    let verify_settings = VerifySettings::default();
    let s3_params = SigningParams::new(&creds, "us-east-1", "s3", time()).with_settings(&s3);
    let s3_req = s3_get();
    for _ in 0..n {
        match op.as_str() {
            "sign" => {
                let mut req = black_box(&get).clone();
                signer
                    .sign_request(&mut req, Payload::Bytes(b""), &params)
                    .expect("signs");
                black_box(req);
            }
            "verify" => {
                let req = black_box(&signed);
                let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
                let verified = signer
                    .verify(
                        req.method(),
                        req.uri(),
                        req.headers(),
                        &claimed,
                        Payload::Bytes(b""),
                        &creds,
                        time(),
                        &verify_settings,
                    )
                    .expect("verifies");
                black_box(verified);
            }
            "presign" => {
                let mut req = black_box(&s3_req).clone();
                signer
                    .sign_request(&mut req, Payload::Unsigned, &s3_params)
                    .expect("signs");
                black_box(req);
            }
            "aws_sign" => {
                let mut req = black_box(&get).clone();
                aws_sign_request(
                    &mut req,
                    &identity,
                    AwsSettings::default(),
                    "execute-api",
                    false,
                );
                black_box(req);
            }
            "aws_presign" => {
                let mut req = black_box(&s3_req).clone();
                aws_sign_request(&mut req, &identity, aws_s3.clone(), "s3", true);
                black_box(req);
            }
            other => panic!("unknown operation {other}"),
        }
    }
}
