//! `sigv4 sign URL` and `sigv4 presign URL`: one request from flags, shown to a person.
//!
//! Expected texts come from the AWS SigV4 test suite (github.com/awslabs/aws-c-auth,
//! tests/aws-signing-test-suite/v4/get-vanilla-with-session-token/, Apache-2.0).

mod common;

use common::{sigv4, temp_file, AKID, SECRET};

// get-vanilla-with-session-token/context.json
const TOKEN: &str = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", AKID),
    ("AWS_SECRET_ACCESS_KEY", SECRET),
    ("AWS_SESSION_TOKEN", TOKEN),
];
const SCOPE: [&str; 6] = [
    "--region",
    "us-east-1",
    "--service",
    "service",
    "--timestamp",
    "20150830T123600Z",
];

fn args<'a>(command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![command, "https://example.amazonaws.com/"];
    argv.extend_from_slice(&SCOPE);
    argv.extend_from_slice(extra);
    argv
}

#[test]
fn sign_shows_the_canonical_request_and_never_the_secret() {
    let run = sigv4(&args("sign", &[]), b"", &ENV);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    // header-canonical-request.txt, with the token shortened to its first 8 characters.
    let canonical = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\
                     x-amz-security-token:6e86291e…\n\nhost;x-amz-date;x-amz-security-token\n\
                     e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(run.stdout.contains(canonical), "{}", run.stdout);
    // header-string-to-sign.txt
    assert!(run.stdout.contains(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"
    ));
    // header-signed-request.txt, the Authorization header.
    assert!(run.stdout.contains(
        "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-security-token, \
         Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
    ));
    assert!(run.stdout.contains("x-amz-security-token: 6e86291e…\n"));
    for title in [
        "Canonical request\n",
        "String to sign\n",
        "Signed request headers\n",
    ] {
        assert!(run.stdout.contains(title), "section {title:?} missing");
    }
    assert!(!run.stdout.contains(SECRET) && !run.stderr.contains(SECRET));
    assert!(
        !run.stdout.contains(TOKEN),
        "the full session token is not shown"
    );
}

#[test]
fn presign_shows_the_canonical_request_and_the_url() {
    let run = sigv4(&args("presign", &["--expires", "3600"]), b"", &ENV);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    // query-canonical-request.txt, token shortened.
    assert!(run.stdout.contains(
        "GET\n/\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F\
         service%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&\
         X-Amz-Security-Token=6e86291e…&X-Amz-SignedHeaders=host\nhost:example.amazonaws.com\n\nhost\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ), "{}", run.stdout);
    // query-signed-request.txt: the presigned URL (it needs the whole token to work).
    let url = "https://example.amazonaws.com/?X-Amz-Algorithm=AWS4-HMAC-SHA256&\
               X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&\
               X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&\
               X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&\
               X-Amz-Signature=7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c\n";
    assert!(run.stdout.ends_with(url), "{}", run.stdout);
    assert_eq!(
        run.stdout.matches(TOKEN).count(),
        1,
        "the token only inside the URL"
    );
    assert!(!run.stdout.contains(SECRET));
}

#[test]
fn s3_presign_from_flags_signs_unsigned_payload() {
    // The S3 documentation's presigned GET example and its documented signature.
    let run = sigv4(
        &[
            "presign",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "--s3",
            "--region",
            "us-east-1",
            "--service",
            "s3",
            "--timestamp",
            "20130524T000000Z",
            "--expires",
            "86400",
        ],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout.contains("\nhost\nUNSIGNED-PAYLOAD\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404\n"
    ));
}

#[test]
fn flags_data_and_headers() {
    // get-vanilla-with-session-token/context.json keys from flags; a POST body from a file.
    let body = temp_file("body.txt", b"hello");
    let at_file = format!("@{}", body.display());
    let run = sigv4(
        &args(
            "sign",
            &[
                "--access-key",
                AKID,
                "--secret-key",
                SECRET,
                "-d",
                &at_file,
                "-H",
                "Content-Type: text/plain",
                "-H",
                "X-Amz-Meta-A: 1",
                "-H",
                "x-amz-meta-a:  2 ",
            ],
        ),
        b"",
        &[],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(run.stdout.contains("\nPOST\n/\n\ncontent-type:text/plain\nhost:example.amazonaws.com\n\
                                 x-amz-date:20150830T123600Z\nx-amz-meta-a:1,2\n\n\
                                 content-type;host;x-amz-date;x-amz-meta-a\n\
                                 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n"),
            "{}", run.stdout);
    assert!(!run.stdout.contains(SECRET));

    // The same body from standard input gives the same signature.
    let stdin_run = sigv4(
        &args(
            "sign",
            &[
                "--access-key",
                AKID,
                "--secret-key",
                SECRET,
                "-d",
                "@-",
                "-H",
                "Content-Type: text/plain",
                "-H",
                "X-Amz-Meta-A: 1",
                "-H",
                "x-amz-meta-a:  2 ",
            ],
        ),
        b"hello",
        &[],
    );
    assert_eq!(stdin_run.stdout, run.stdout);
}

#[test]
fn exit_codes() {
    // Missing credentials: 4.
    let run = sigv4(&args("sign", &[]), b"", &[]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1);
    // One key without the other is a usage error (as for `sigv4 curl`).
    let run = sigv4(&args("sign", &["--access-key", AKID]), b"", &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--secret-key"), "{}", run.stderr);

    // Usage: 2 (missing --service, bad URL, bad -H, unknown flag, --spec with flags).
    let run = sigv4(
        &[
            "sign",
            "https://example.amazonaws.com/",
            "--region",
            "us-east-1",
        ],
        b"",
        &ENV,
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--service"), "{}", run.stderr);
    for argv in [
        args("sign", &["-H", "no colon"]),
        vec![
            "sign",
            "http://exa mple/",
            "--region",
            "r",
            "--service",
            "s",
        ],
        vec!["sign", "--spec", "-", "--region", "r"],
        vec![
            "presign",
            "https://a/",
            "--region",
            "r",
            "--service",
            "s",
            "--expires",
            "0",
        ],
        vec!["sign", "--bogus"],
    ] {
        let run = sigv4(&argv, b"", &ENV);
        assert_eq!(run.code, 2, "{argv:?}: {}", run.stderr);
    }

    // The signer refuses: 3.
    let run = sigv4(
        &[
            "sign",
            "https://example.amazonaws.com/",
            "--region",
            "us east",
            "--service",
            "s",
        ],
        b"",
        &ENV,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("region"), "{}", run.stderr);
    assert!(!run.stderr.contains(SECRET));
}

#[test]
fn region_and_service_are_told_from_aws_host_names() {
    let run = sigv4(
        &[
            "sign",
            "https://abc123.execute-api.eu-west-2.amazonaws.com/prod/items",
        ],
        b"",
        &ENV,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("region:        eu-west-2\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("service:       execute-api\n"));
    let run = sigv4(
        &[
            "presign",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "--s3",
        ],
        b"",
        &ENV,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("%2Fus-east-1%2Fs3%2Faws4_request"),
        "{}",
        run.stdout
    );
    // An unknown host: the error names the flags.
    let run = sigv4(&["sign", "https://api.example.com/"], b"", &ENV);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--region and --service are required"),
        "{}",
        run.stderr
    );
}

#[test]
fn sign_and_presign_find_credentials_as_curl_does() {
    // No keys in the environment: the default chain finds the profile file's default profile,
    // and --profile picks another one (what `sigv4 curl` does; the CLI no longer has its own
    // environment-only lookup).
    let file = temp_file(
        "credentials",
        b"[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\
          [ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = s2\n\
          aws_session_token = opstoken1234567890\n",
    );
    let file = file.to_str().unwrap();
    let env = [("AWS_SHARED_CREDENTIALS_FILE", file)];
    let run = sigv4(&args("sign", &[]), b"", &env);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout.contains("Credential=AKIDDEFAULT/20150830/"),
        "{}",
        run.stdout
    );
    let run = sigv4(&args("presign", &["--profile", "ops"]), b"", &env);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout
            .contains("X-Amz-Credential=AKIDOPS%2F20150830%2F"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("X-Amz-Security-Token=opstoken1234567890"));
    assert!(!run.stdout.contains("s2"));
    // A profile that does not exist is a credentials error (4) naming it.
    let run = sigv4(&args("sign", &["--profile", "nope"]), b"", &env);
    assert_eq!(run.code, 4, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn sign_and_presign_with_sigv4a() {
    // v4a/get-vanilla-with-session-token: header-string-to-sign.txt, public-key.json.
    let run = sigv4(
        &args("sign", &["--sigv4a", "--region-set", "us-east-1"]),
        b"",
        &ENV,
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout.contains(
            "AWS4-ECDSA-P256-SHA256\n20150830T123600Z\n20150830/service/aws4_request\n\
         79893373104239a0547df489af395ec3c1b8873a8601f07f11ffd3f1ac557e7d"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("region set:    us-east-1\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "public key:    04b6618f6a65740a99e650b33b6b4b5bd0d43b176d721a3edfea7e7d2d56d936b1\
         865ed22a7eadc9c5cb9d2cbaca1b3699139fedc5043dc6661864218330c8e518"
    ));
    assert!(!run.stdout.contains(SECRET));
    // presign, with the default region set `*`.
    let run = sigv4(
        &args("presign", &["--sigv4a", "--expires", "60"]),
        b"",
        &ENV,
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        run.stdout
            .contains("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("X-Amz-Region-Set=%2A"),
        "{}",
        run.stdout
    );
    // --region-set alone is a usage error.
    let run = sigv4(&args("sign", &["--region-set", "*"]), b"", &ENV);
    assert_ne!(run.code, 0);
}
