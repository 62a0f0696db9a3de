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

use aws_sigv4::http_request::SigningSettings as AwsSettings;
use http::Request;
use sigv4_core::verify::{SignedRequest, VerifySettings};
use sigv4_core::{Credentials, Payload, Signer, SigningParams};

#[path = "../tests/support/fixtures.rs"]
mod fixtures;

use fixtures::{
    api_gateway_get, aws_identity, aws_params, aws_sign_request, s3_get, s3_presign_settings,
    session_token, time, AKID, SECRET,
};

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
    let (s3, aws_s3) = s3_presign_settings();
    let identity = aws_identity();
    let aws_get_params = aws_params(&identity, "execute-api", AwsSettings::default());
    let aws_s3_params = aws_params(&identity, "s3", aws_s3);

    let get: Request<Vec<u8>> = api_gateway_get();
    let mut signed = get.clone();
    let params = SigningParams::new(&creds, "us-east-1", "execute-api", time());
    signer
        .sign_request(&mut signed, Payload::Bytes(b""), &params)
        .expect("signs");
    let verify_settings = VerifySettings::default();
    let s3_params = SigningParams::new(&creds, "us-east-1", "s3", time()).with_settings(&s3);
    let s3_req: Request<Vec<u8>> = s3_get();
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
                        req.into(),
                        &claimed,
                        Payload::Bytes(b""),
                        &sigv4_core::verify::VerifyParams::new(&creds, time(), &verify_settings),
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
                aws_sign_request(&mut req, &aws_get_params, false);
                black_box(req);
            }
            "aws_presign" => {
                let mut req = black_box(&s3_req).clone();
                aws_sign_request(&mut req, &aws_s3_params, true);
                black_box(req);
            }
            other => panic!("unknown operation {other}"),
        }
    }
}
