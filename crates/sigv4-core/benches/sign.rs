//! Signing throughput: ours against aws-sigv4, on the path a tower layer takes (an unsigned
//! `http::Request` in, the signed `http::Request` out); and verifying (ours only: aws-sigv4 has
//! no verifier) beside signing the same request.
//!
//! Run: `cargo bench -p sigv4-core --bench sign -- --warm-up-time 1 --measurement-time 3`.
//!
//! Both sides sign a fresh clone of the unsigned request, made outside the timed part (see
//! `time_on_fresh_copies`), and keep their long-lived state outside it too: our `Signer` (with its
//! signing-key cache) and `SigningParams`; aws-sigv4's `Identity` and `SigningParams`. Per request, aws-sigv4 builds a
//! `SignableRequest` from the request's parts, signs and applies the instructions.
//!
//! After criterion's results, the same ratios measured in pairs (see `paired_ratios`): rounds
//! that alternate a batch on each side, so a shared machine's drift from one minute to the
//! next moves both sides of a ratio together. `SIGV4_BENCH_PAIRED_SECS` sets their length
//! (default 3 s each; 0 skips them).

use std::hint::black_box;

use aws_sigv4::http_request::SigningSettings as AwsSettings;
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use http::Request;
use sha2::{Digest, Sha256};
use sigv4_core::verify::{SignedRequest, VerifySettings};
use sigv4_core::{Credentials, Payload, Signature, Signer, SigningParams, SigningSettings};

#[path = "../tests/support/fixtures.rs"]
mod fixtures;

use fixtures::{
    api_gateway_get, aws_identity, aws_params, aws_sign_request, s3_get, s3_presign_settings,
    session_token, time, AKID, API_HOST, SECRET,
};

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

/// Times `sign` (a signing, or a verification) on fresh copies of `request`. The copies are made, and the signed requests
/// dropped, outside the timed part (criterion's `iter_batched`): what is timed is signing alone,
/// on both sides. Small requests are built afresh with `http::request::Builder`, as a service
/// builds the requests it sends (a clone would differ: its header map has no room left for the
/// signing headers), in batches of 64: few enough that the memory a batch allocates and frees
/// is used again by the next one, as in a running service (criterion's `SmallInput` batches
/// run to thousands, and then each signing touches fresh memory). 1 MiB bodies are cloned, one
/// per batch.
///
/// Set `SIGV4_BENCH_CLONE_IN_LOOP=1` to time a clone and its drop with each signing instead
/// (the same cost, about 0.2 µs for the API Gateway GET, added to both sides).
fn time_on_fresh_copies(
    bench: &mut criterion::Bencher<'_>,
    request: &Request<Vec<u8>>,
    mut sign: impl FnMut(&mut Request<Vec<u8>>),
) {
    if std::env::var_os("SIGV4_BENCH_CLONE_IN_LOOP").is_some() {
        return bench.iter(|| {
            let mut req = black_box(request).clone();
            sign(&mut req);
            req
        });
    }
    if request.body().len() > 64 * 1024 {
        bench.iter_batched_ref(|| request.clone(), |req| sign(req), BatchSize::LargeInput)
    } else {
        bench.iter_batched_ref(
            || built_afresh(request),
            |req| sign(req),
            BatchSize::NumIterations(64),
        )
    }
}

/// `request` built anew, header by header, with `http::request::Builder`.
fn built_afresh(request: &Request<Vec<u8>>) -> Request<Vec<u8>> {
    let mut builder = Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone());
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    builder.body(request.body().clone()).expect("valid request")
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
        time_on_fresh_copies(bench, &request, |req| {
            ours.sign(req, false, "execute-api");
        })
    });
    g.bench_function("aws_sigv4", |bench| {
        time_on_fresh_copies(bench, &request, |req| {
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
        time_on_fresh_copies(bench, &request, |req| {
            ours.sign(req, true, "s3");
        })
    });
    g.bench_function("aws_sigv4", |bench| {
        time_on_fresh_copies(bench, &request, |req| {
            aws_sign_request(req, &params, true);
        })
    });
    g.finish();
}

/// Our signer set to verify the signed API Gateway GET of `sign_api_gateway_get`.
struct Verifier {
    ours: Ours,
    settings: VerifySettings,
    /// The request unsigned (what signing starts from) and signed (what verifying reads).
    unsigned: Request<Vec<u8>>,
    signed: Request<Vec<u8>>,
}

impl Verifier {
    fn new() -> Self {
        let ours = Ours::new(SigningSettings::default());
        let unsigned = api_gateway_get();
        let mut signed = unsigned.clone();
        ours.sign(&mut signed, false, "execute-api");
        let verifier = Verifier {
            ours,
            settings: VerifySettings::default(),
            unsigned,
            signed,
        };
        verifier.verify(&verifier.signed);
        verifier.check(&verifier.signed);
        verifier
    }

    fn params(&self) -> sigv4_core::verify::VerifyParams<'_> {
        sigv4_core::verify::VerifyParams::new(&self.ours.creds, time(), &self.settings)
    }

    /// Parse, check and build the owned `Verified` identity.
    fn verify(&self, req: &Request<Vec<u8>>) -> sigv4_core::verify::Verified {
        let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
        let payload = Payload::Bytes(req.body());
        let params = self.params();
        let verified = self
            .ours
            .signer
            .verify(req.into(), &claimed, payload, &params);
        verified.expect("verifies")
    }

    /// Parse and check alone (what the allocation count measures: no owned identity built).
    fn check(&self, req: &Request<Vec<u8>>) {
        let claimed = SignedRequest::parse(req.uri(), req.headers()).expect("parses");
        let payload = Payload::Bytes(req.body());
        let params = self.params();
        let checked = self
            .ours
            .signer
            .verify_signature(req.into(), &claimed, payload, &params);
        checked.expect("verifies")
    }
}

/// Verifying the signed API Gateway GET of `sign_api_gateway_get` (parse the claim, recompute,
/// compare: what a server does per request, with the secret already looked up; `ours_verify`
/// also builds the owned `Verified` identity, `ours_verify_signature` does not), beside signing
/// the same request with both signers. Verifying gets its requests as signing does (see
/// `time_on_fresh_copies`): each one a fresh copy of the signed request, made outside the timed part, so
/// both read requests that have just arrived rather than one kept hot in the cache.
fn verify_api_gateway_get(c: &mut Criterion) {
    let verifier = Verifier::new();
    let identity = aws_identity();
    let params = aws_params(&identity, "execute-api", AwsSettings::default());

    let mut g = c.benchmark_group("verify_api_gateway_get");
    // Signing first, then verifying right after it: the two sides of the ratio that matters
    // are measured next to each other (see `paired_ratios` for why that matters here).
    g.bench_function("ours_sign", |bench| {
        time_on_fresh_copies(bench, &verifier.unsigned, |req| {
            verifier.ours.sign(req, false, "execute-api");
        })
    });
    g.bench_function("ours_verify", |bench| {
        time_on_fresh_copies(bench, &verifier.signed, |req| {
            black_box(verifier.verify(req));
        })
    });
    g.bench_function("ours_verify_signature", |bench| {
        time_on_fresh_copies(bench, &verifier.signed, |req| verifier.check(req))
    });
    g.bench_function("aws_sigv4_sign", |bench| {
        time_on_fresh_copies(bench, &verifier.unsigned, |req| {
            aws_sign_request(req, &params, false);
        })
    });
    g.finish();
}

/// The ratios of the groups above measured in pairs: rounds that each time a batch of 64 on
/// one side and a batch of 64 on the other (the first side alternating), so both sides of a
/// ratio run within a fraction of a millisecond of each other. On a shared machine whose
/// speed drifts from one minute to the next, criterion measures two functions seconds apart,
/// and their ratio moves with the drift; a round's ratio does not. Printed after criterion's
/// results: the median round, and the 10th and 90th percentiles. Each ratio runs for
/// `SIGV4_BENCH_PAIRED_SECS` seconds (default 3); `SIGV4_BENCH_PAIRED_SECS=0` skips them.
fn paired_ratios(filter: Option<&str>) {
    let secs: f64 = std::env::var("SIGV4_BENCH_PAIRED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    if secs <= 0.0 {
        return;
    }
    let budget = std::time::Duration::from_secs_f64(secs);
    let wanted = |label: &str| filter.is_none_or(|f| label.contains(f));
    println!("\npaired ratios (rounds of 64 + 64 alternating; median [p10 p90] of the rounds):");

    let identity = aws_identity();
    let header_params = aws_params(&identity, "execute-api", AwsSettings::default());
    let verifier = Verifier::new();
    let get = &verifier.unsigned;
    if wanted("sign_api_gateway_get") {
        let ratio = paired(
            budget,
            (get, &mut |req| {
                verifier.ours.sign(req, false, "execute-api");
            }),
            (get, &mut |req| {
                aws_sign_request(req, &header_params, false);
            }),
        );
        println!("  sign_api_gateway_get   aws_sigv4 / ours     {ratio}");
    }
    if wanted("presign_s3_get") {
        let (ours_settings, aws_settings) = s3_presign_settings();
        let ours = Ours::new(ours_settings);
        let presign_params = aws_params(&identity, "s3", aws_settings);
        let s3 = s3_get();
        let ratio = paired(
            budget,
            (&s3, &mut |req| {
                ours.sign(req, true, "s3");
            }),
            (&s3, &mut |req| {
                aws_sign_request(req, &presign_params, true);
            }),
        );
        println!("  presign_s3_get         aws_sigv4 / ours     {ratio}");
    }
    if wanted("verify_api_gateway_get") {
        let sign = &mut |req: &mut Request<Vec<u8>>| {
            verifier.ours.sign(req, false, "execute-api");
        };
        let ratio = paired(
            budget,
            (get, sign),
            (&verifier.signed, &mut |req| {
                black_box(verifier.verify(req));
            }),
        );
        println!("  verify_api_gateway_get ours_verify / sign  {ratio}");
        let ratio = paired(
            budget,
            (get, sign),
            (&verifier.signed, &mut |req| verifier.check(req)),
        );
        println!("  verify_api_gateway_get verify_signature / sign  {ratio}");
    }
}

/// One side of a paired ratio: the request each run gets a fresh copy of, and the run.
type Side<'a> = (
    &'a Request<Vec<u8>>,
    &'a mut dyn FnMut(&mut Request<Vec<u8>>),
);

/// The rounds of [`paired_ratios`] for one ratio, `b` over `a`, for `budget` (after 20 rounds
/// of warm-up, and at least 100 rounds).
fn paired(budget: std::time::Duration, a: Side<'_>, b: Side<'_>) -> Spread {
    const BATCH: usize = 64;
    const WARM_UP: usize = 20;
    let (a_request, run_a) = a;
    let (b_request, run_b) = b;
    let time = |request: &Request<Vec<u8>>, run: &mut dyn FnMut(&mut Request<Vec<u8>>)| {
        let mut batch: Vec<_> = (0..BATCH).map(|_| built_afresh(request)).collect();
        let start = std::time::Instant::now();
        for req in batch.iter_mut() {
            run(req);
        }
        let elapsed = start.elapsed();
        drop(black_box(batch));
        elapsed.as_secs_f64()
    };
    let mut ratios = Vec::new();
    let start = std::time::Instant::now();
    let mut round = 0usize;
    while round < WARM_UP + 100 || start.elapsed() < budget {
        let (ta, tb) = if round % 2 == 0 {
            let ta = time(a_request, &mut *run_a);
            (ta, time(b_request, &mut *run_b))
        } else {
            let tb = time(b_request, &mut *run_b);
            (time(a_request, &mut *run_a), tb)
        };
        if round >= WARM_UP {
            ratios.push(tb / ta);
        }
        round += 1;
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Spread {
        median: at(0.5),
        p10: at(0.1),
        p90: at(0.9),
        rounds: ratios.len(),
    }
}

/// The spread of a ratio over the rounds of [`paired`].
struct Spread {
    median: f64,
    p10: f64,
    p90: f64,
    rounds: usize,
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} [{:.2} {:.2}] over {} rounds",
            self.median, self.p10, self.p90, self.rounds
        )
    }
}

/// The benchmark filter criterion was given (its first argument that is neither an option nor
/// an option's value), if any.
fn criterion_filter() -> Option<String> {
    const FLAGS: [&str; 9] = [
        "--bench",
        "--test",
        "--list",
        "--noplot",
        "--quiet",
        "--verbose",
        "--exact",
        "--ignored",
        "--discard-baseline",
    ];
    let mut previous_takes_value = false;
    for arg in std::env::args().skip(1) {
        if arg.starts_with('-') {
            previous_takes_value = !FLAGS.contains(&arg.as_str()) && !arg.contains('=');
        } else if previous_takes_value {
            previous_takes_value = false;
        } else {
            return Some(arg);
        }
    }
    None
}

criterion_group!(
    benches,
    sign_api_gateway_get,
    sign_post_1kib,
    sign_post_1mib,
    presign_s3_get,
    verify_api_gateway_get
);
// `criterion_main!`, with the paired ratios after criterion's results (only under `cargo bench`,
// which passes `--bench`; `cargo test --benches` runs each benchmark once and nothing more).
fn main() {
    benches();
    if std::env::args().any(|arg| arg == "--bench") {
        paired_ratios(criterion_filter().as_deref());
    }
    Criterion::default().configure_from_args().final_summary();
}
