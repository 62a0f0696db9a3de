//! `sigv4 curl`: the built binary against loopback servers (the testkit's verifying endpoint,
//! its IMDS emulator, and small recording servers), with a cleared environment.

mod common;

use common::server::{respond, self_signed, Server};
use common::{sigv4_clean, temp_file, Run, AKID, SECRET};
use sigv4_core::Credentials;
use sigv4_testkit::endpoint::Endpoint;
use sigv4_testkit::imds::ImdsEmulator;
use tower_sigv4::StaticKeyStore;

const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKENtoken0123456789abcdefghijklmnopqrstuvwxyz";
const SCOPE: [&str; 4] = ["--region", "us-east-1", "--service", "execute-api"];

fn keys() -> Credentials {
    Credentials::builder(AKID, SECRET)
        .session_token(TOKEN)
        .build()
}

fn env_keys() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ]
}

async fn curl(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv = vec!["curl"];
    argv.extend_from_slice(args);
    sigv4_clean(&argv, b"", env).await
}

/// `sigv4 curl` with `args`, then the API Gateway scope (`SCOPE`).
async fn curl_scoped(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv = args.to_vec();
    argv.extend(SCOPE);
    curl(&argv, env).await
}

fn no_secrets(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(SECRET), "the secret key was printed");
        assert!(
            !text.contains(TOKEN),
            "the session token was printed in full"
        );
    }
}

#[tokio::test]
async fn signed_get_and_post_are_accepted() {
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys()))
        .start()
        .await;
    let url = format!("{}/prod/items?limit=2&a=b%20c", api.url());
    let run = curl_scoped(&[url.as_str()], &env_keys()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).expect("the echo JSON");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["access_key_id"], AKID);

    let body_file = temp_file("curl-body.json", b"{\"name\":\"widget\"}\n");
    let data = format!("@{}", body_file.display());
    for body in [r#"{"a":1}"#, data.as_str()] {
        let run = curl_scoped(
            &[
                url.as_str(),
                "-d",
                body,
                "-H",
                "content-type: application/json",
            ],
            &env_keys(),
        )
        .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        let echo: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(echo["method"], "POST");
        no_secrets(&run);
    }
    let accepted = api.accepted_requests();
    assert_eq!(api.rejected(), 0, "{:?}", api.rejections());
    let sizes: Vec<u64> = accepted.iter().map(|r| r.body_bytes).collect();
    // The file's trailing newline is sent (and signed) as is.
    assert_eq!(sizes, [0, 7, 18]);
    let _ = std::fs::remove_file(body_file);
}

#[tokio::test]
async fn credentials_from_the_instance_metadata_service() {
    let imds = ImdsEmulator::start().await;
    let api = Endpoint::builder().imds(&imds).start().await;
    let url = format!("{}/prod/whoami", api.url());
    let endpoint = imds.endpoint();
    let run = curl_scoped(
        &[url.as_str(), "-X", "DELETE"],
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let accepted = api.accepted_requests();
    assert_eq!(accepted.len(), 1, "{:?}", api.rejections());
    assert_eq!(accepted[0].method, http::Method::DELETE);
    assert_eq!(
        accepted[0].access_key_id,
        imds.current_credentials().access_key_id()
    );
    assert!(imds.credential_fetches() >= 1);
}

#[tokio::test]
async fn profile_flag_reads_the_profile_files_and_wins_over_the_environment() {
    let dev = Credentials::builder("AKIDPROFILEDEV", "profile/secret/dev").build();
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(dev))
        .start()
        .await;
    let dir = common::empty_dir("profiles");
    let credentials_file = dir.join("credentials");
    std::fs::write(
        &credentials_file,
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = nope\n\n\
         [dev]\naws_access_key_id = AKIDPROFILEDEV\naws_secret_access_key = profile/secret/dev\n",
    )
    .unwrap();
    let config_file = dir.join("config");
    std::fs::write(&config_file, "[profile dev]\nregion = eu-west-1\n").unwrap();
    let url = format!("{}/prod/items", api.url());
    let mut args = vec![url.as_str(), "--profile", "dev"];
    args.extend(SCOPE);
    let mut env = env_keys();
    let (creds, config) = (
        credentials_file.display().to_string(),
        config_file.display().to_string(),
    );
    env.push(("AWS_SHARED_CREDENTIALS_FILE", &creds));
    env.push(("AWS_CONFIG_FILE", &config));
    let run = curl(&args, &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(api.accepted_requests()[0].access_key_id, "AKIDPROFILEDEV");

    // A profile that does not exist: credentials error, one line naming the profile.
    let run = curl_scoped(&[url.as_str(), "--profile", "nosuch"], &env).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("nosuch"), "{}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
}

#[tokio::test]
async fn verbose_shows_the_canonical_request_without_secrets() {
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys()))
        .start()
        .await;
    let url = format!("{}/prod/items", api.url());
    let run = curl_scoped(&[url.as_str(), "-v", "-H", "X-Trace: abc"], &env_keys()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let host = api.addr().to_string();
    // The canonical request's head, headers and empty-body hash (SHA-256 of "").
    let head = format!("* canonical request:\nGET\n/prod/items\n\naccept:*/*\nhost:{host}\n");
    assert!(run.stderr.contains(&head), "{}", run.stderr);
    assert!(run.stderr.contains("x-trace:abc\n"));
    assert!(run.stderr.contains("x-amz-security-token:IQoJb3Jp…\n"));
    assert!(run
        .stderr
        .contains("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"));
    assert!(run.stderr.contains("* string to sign:\nAWS4-HMAC-SHA256\n"));
    assert!(run.stderr.contains("/us-east-1/execute-api/aws4_request\n"));
    assert!(run.stderr.contains("> GET /prod/items HTTP/1.1\n"));
    assert!(run.stderr.contains("> x-amz-security-token: IQoJb3Jp…\n"));
    assert!(run.stderr.contains("< HTTP/1.1 200 OK\n"));
    // The signature is shortened to 8 hex digits.
    let auth = run
        .stderr
        .lines()
        .find(|l| l.starts_with("> authorization: "))
        .expect("the authorization header is shown");
    let signature = auth.split("Signature=").nth(1).unwrap();
    assert_eq!(signature.chars().count(), 9, "{auth}");
    assert!(signature.ends_with('…'));
    no_secrets(&run);
    // Standard output holds the body only.
    assert!(run.stdout.starts_with('{'), "{}", run.stdout);
}

#[tokio::test]
async fn error_statuses_and_fail_flags() {
    // The endpoint knows another secret for this key: 403 SignatureDoesNotMatch.
    let api = Endpoint::builder()
        .key_store(
            StaticKeyStore::new().with(
                Credentials::builder(AKID, "another-secret")
                    .session_token(TOKEN)
                    .build(),
            ),
        )
        .start()
        .await;
    let url = format!("{}/prod/items", api.url());
    let with = |extra: &'static [&'static str]| {
        let mut args = vec![url.clone()];
        args.extend(SCOPE.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let run_with = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args, &env_keys()).await
    };
    let run = run_with(with(&["-i"])).await;
    assert_eq!(run.code, 0, "curl's default: a response is a success");
    assert!(
        run.stdout.starts_with("HTTP/1.1 403 Forbidden\r\n"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("x-amzn-errortype: SignatureDoesNotMatch\r\n"));
    assert!(run
        .stdout
        .contains("signature we calculated does not match"));

    let run = run_with(with(&["--fail-with-body"])).await;
    assert_eq!(run.code, 6);
    assert!(run.stdout.contains("does not match"), "the body is written");
    assert_eq!(run.stderr, "sigv4: the server answered 403 Forbidden\n");

    let run = run_with(with(&["-f"])).await;
    assert_eq!(run.code, 6);
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn redirect_to_another_host_carries_no_credentials() {
    // Two hosts: 127.0.0.1 and 127.0.0.2 (another address; host+port differ as well).
    let origin_url = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let back = std::sync::Arc::clone(&origin_url);
    let other = Server::http("127.0.0.2", move |r| {
        if r.uri.path() == "/hop" {
            // Steers the client back to the origin: that hop is not signed any more.
            let location = format!("{}/back", back.lock().unwrap());
            respond(302, "", &[("location", &location)])
        } else {
            respond(200, "elsewhere", &[])
        }
    })
    .await;
    let hop = format!("{}/hop", other.url());
    let origin = Server::http("127.0.0.1", move |r| match r.uri.path() {
        "/start" => respond(302, "moved", &[("location", &hop)]),
        _ => respond(200, "back home", &[]),
    })
    .await;
    *origin_url.lock().unwrap() = origin.url();
    let url = format!("{}/start", origin.url());

    // Without -L the redirect is the answer.
    let run = curl_scoped(&[url.as_str()], &env_keys()).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "moved"),
        "{}",
        run.stderr
    );
    assert!(other.requests().is_empty());

    // With -L: the first hop is signed, the foreign hop is not.
    let run = curl_scoped(
        &[
            url.as_str(),
            "-L",
            "-v",
            "-H",
            "Authorization: Bearer user-supplied",
        ],
        &env_keys(),
    )
    .await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "back home"),
        "{}",
        run.stderr
    );
    let first = &origin.requests()[1];
    // The user's own Authorization header is replaced by the signature at the origin.
    first
        .verify(&keys(), "us-east-1", "execute-api")
        .expect("the first hop is signed");
    let foreign = other.requests();
    assert_eq!(foreign.len(), 1);
    let back_home = &origin.requests()[2];
    assert_eq!(back_home.uri, "/back");
    for request in [&foreign[0], back_home] {
        for name in [
            "authorization",
            "x-amz-security-token",
            "x-amz-date",
            "x-amz-content-sha256",
            "cookie",
        ] {
            assert!(
                !request.headers.contains_key(name),
                "{name} was sent to {}: {:?}",
                other.url(),
                request.headers
            );
        }
    }
    assert_eq!(foreign[0].headers["host"], other.addr.to_string().as_str());
    assert!(!format!("{:?}", foreign).contains(TOKEN));
    assert!(
        run.stderr.contains("is not http://127.0.0.1:"),
        "{}",
        run.stderr
    );
    no_secrets(&run);
}

#[tokio::test]
async fn same_host_redirects_are_signed_again_for_each_url() {
    let origin = Server::http("127.0.0.1", |r| match r.uri.path() {
        "/start" => respond(307, "", &[("location", "/next?page=2")]),
        "/next" => respond(308, "", &[("location", "final")]),
        "/loop" => respond(302, "", &[("location", "/loop")]),
        _ => respond(200, "done", &[]),
    })
    .await;
    let url = format!("{}/start", origin.url());
    let run = curl_scoped(&[url.as_str(), "-L", "-d", "payload"], &env_keys()).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "done"),
        "{}",
        run.stderr
    );
    let requests = origin.requests();
    let paths: Vec<String> = requests.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(paths, ["/start", "/next?page=2", "/final"]);
    for request in &requests {
        // 307/308 keep the method and the body; each hop verifies for its own path and query.
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(&request.body[..], b"payload");
        request
            .verify(&keys(), "us-east-1", "execute-api")
            .unwrap_or_else(|e| panic!("{}: {e}", request.uri));
    }

    let url = format!("{}/loop", origin.url());
    let run = curl_scoped(&[url.as_str(), "-L", "--max-redirs", "3"], &env_keys()).await;
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(run.stderr.contains("--max-redirs"), "{}", run.stderr);
}

#[tokio::test]
async fn https_with_cacert_and_insecure() {
    let (tls, pem) = self_signed();
    let server = Server::https(tls, |r| {
        match r.verify(&keys(), "us-east-1", "execute-api") {
            Ok(_) => respond(200, "verified over TLS", &[]),
            Err(e) => respond(403, &e.to_string(), &[]),
        }
    })
    .await;
    let ca = temp_file("curl-ca.pem", pem.as_bytes());
    let ca = ca.display().to_string();
    let url = format!("{}/secure", server.url());

    let run = curl_scoped(&[url.as_str(), "--cacert", ca.as_str()], &env_keys()).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "verified over TLS"),
        "{}",
        run.stderr
    );

    // Not trusted without the CA: the network/TLS exit code, and nothing was sent.
    let run = curl_scoped(&[url.as_str()], &env_keys()).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    assert!(run.stderr.contains("--cacert"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1);
    assert_eq!(server.requests().len(), 1);

    let run = curl_scoped(&[url.as_str(), "-k"], &env_keys()).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "verified over TLS"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn proxies_from_the_environment() {
    // An HTTP proxy gets the absolute URL; here it answers itself and checks the signature,
    // which is made for the target host, not the proxy.
    let proxy = Server::http("127.0.0.1", |r| {
        let target_ok = r.uri == "http://127.0.0.2:9/via-proxy";
        match (target_ok, r.verify(&keys(), "us-east-1", "execute-api")) {
            (true, Ok(_)) => respond(200, "proxied", &[]),
            (false, _) => respond(400, &format!("unexpected target {}", r.uri), &[]),
            (true, Err(e)) => respond(403, &e.to_string(), &[]),
        }
    })
    .await;
    let proxy_url = proxy.url();
    let mut env = env_keys();
    env.push(("HTTP_PROXY", &proxy_url));
    let run = curl_scoped(&["http://127.0.0.2:9/via-proxy"], &env).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "proxied"),
        "{}",
        run.stderr
    );
    assert_eq!(proxy.requests()[0].headers["host"], "127.0.0.2:9");

    // NO_PROXY: straight to 127.0.0.2:9, where nothing listens.
    env.push(("NO_PROXY", "127.0.0.2"));
    let run = curl_scoped(&["http://127.0.0.2:9/via-proxy"], &env).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot connect to 127.0.0.2:9"),
        "{}",
        run.stderr
    );
    assert_eq!(proxy.requests().len(), 1);
}

#[tokio::test]
async fn https_through_a_connect_proxy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (tls, pem) = self_signed();
    let server = Server::https(tls, |r| {
        match r.verify(&keys(), "us-east-1", "execute-api") {
            Ok(_) => respond(200, "tunnelled", &[]),
            Err(e) => respond(403, &e.to_string(), &[]),
        }
    })
    .await;
    // A minimal CONNECT proxy: reads the request head, connects, answers 200, relays bytes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let connects = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&connects);
    let proxy = tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let seen = std::sync::Arc::clone(&seen);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                seen.lock().unwrap().push(line.clone());
                let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    let ca = temp_file("curl-proxy-ca.pem", pem.as_bytes());
    let ca = ca.display().to_string();
    let proxy_url = format!("http://{proxy_addr}");
    let mut env = env_keys();
    env.push(("HTTPS_PROXY", &proxy_url));
    // The certificate names 127.0.0.1 and localhost: ask for localhost, through the proxy.
    let url = format!("https://localhost:{}/t", server.addr.port());
    let run = curl_scoped(&[url.as_str(), "--cacert", ca.as_str()], &env).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "tunnelled"),
        "{}",
        run.stderr
    );
    assert_eq!(
        connects.lock().unwrap().as_slice(),
        [format!("CONNECT localhost:{} HTTP/1.1", server.addr.port())]
    );
    proxy.abort();
}

#[tokio::test]
async fn usage_network_and_credentials_errors() {
    // Cannot tell region and service from an IP address: says which flags to pass.
    let run = curl(&["http://127.0.0.1:9/"], &env_keys()).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--region and --service"),
        "{}",
        run.stderr
    );

    // Nothing listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let url = format!("http://{closed}/");
    let run = curl_scoped(&[url.as_str()], &env_keys()).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run
        .stderr
        .starts_with("sigv4: cannot connect to 127.0.0.1:"));
    assert_eq!(run.stderr.lines().count(), 1);

    // No credentials anywhere (IMDS switched off): exit 4, one line.
    let run = curl_scoped(&[url.as_str()], &[("AWS_EC2_METADATA_DISABLED", "true")]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("no AWS credentials found"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // Keys from flags need no environment; the signer refuses a region with a space: 3.
    let run = curl(
        &[
            &url,
            "--access-key",
            AKID,
            "--secret-key",
            SECRET,
            "--region",
            "us east",
            "--service",
            "s",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    no_secrets(&run);
}

#[tokio::test]
async fn body_from_stdin_output_file_and_timeout() {
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys()))
        .start()
        .await;
    let url = format!("{}/prod/upload", api.url());
    let out = common::empty_dir("curl-output").join("response.json");
    let out = out.display().to_string();
    let mut args = vec![
        "curl",
        url.as_str(),
        "--data-binary",
        "@-",
        "-X",
        "PUT",
        "-o",
        &out,
    ];
    args.extend(SCOPE);
    let run = sigv4_clean(&args, b"line 1\nline 2\n", &env_keys()).await;
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    let echo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("-o wrote the file")).unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["body_bytes"].as_u64()),
        (Some("PUT"), Some(14))
    );

    // A server that accepts and never answers: --timeout ends the transfer (exit 5).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let run = curl_scoped(&[url.as_str(), "--timeout", "0.3"], &env_keys()).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stderr.contains("timed out after 300ms"),
        "{}",
        run.stderr
    );
    drop(silent);
}

#[tokio::test]
async fn upload_file_streams_a_signed_put() {
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys()))
        .start()
        .await;
    let url = format!("{}/prod/objects/report.bin", api.url());
    // 200 KiB and a bit: several reads from disk, the last one short.
    let content: Vec<u8> = (0..200 * 1024 + 13).map(|i| (i * 7 % 251) as u8).collect();
    let file = temp_file("curl-upload.bin", &content);
    let run = curl_scoped(&[url.as_str(), "-T", file.to_str().unwrap()], &env_keys()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).expect("the echo JSON");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body_bytes"], content.len() as u64);

    // Standard input (spooled, then streamed), with an explicit method.
    let mut argv = vec!["curl", url.as_str(), "-T", "-", "-X", "POST"];
    argv.extend(SCOPE);
    let run = sigv4_clean(&argv, &content[..5000], &env_keys()).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).expect("the echo JSON");
    assert_eq!(
        (echo["method"].as_str(), echo["body_bytes"].as_u64()),
        (Some("POST"), Some(5000))
    );

    // Every upload was accepted: the signed hash is the hash of the bytes that arrived.
    assert_eq!(api.rejected(), 0, "{:?}", api.rejections());
    assert_eq!(api.accepted_requests().len(), 2);

    // A file that is not there, or -T with -d: usage errors before any request.
    let run = curl_scoped(&[url.as_str(), "-T", "/nonexistent/file"], &env_keys()).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("/nonexistent/file"), "{}", run.stderr);
    let run = curl_scoped(&[url.as_str(), "-T", "-", "-d", "x"], &env_keys()).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(api.accepted_requests().len(), 2);
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn s3_uploads_go_aws_chunked_and_are_verified_chunk_by_chunk() {
    // The verifying endpoint (VerifyLayer) checks the seed signature, every chunk's signature
    // and the decoded length as the body streams in.
    let api = Endpoint::builder()
        .key_store(StaticKeyStore::new().with(keys()))
        .service("s3")
        .start()
        .await;
    let url = format!("{}/bucket/backups/data.bin", api.url());
    // Three full 64 KiB chunks and a short one.
    let content: Vec<u8> = (0..3 * 65_536 + 1_000)
        .map(|i| (i * 13 % 241) as u8)
        .collect();
    let file = temp_file("curl-upload-s3.bin", &content);
    let run = curl(
        &[
            url.as_str(),
            "-T",
            file.to_str().unwrap(),
            "-v",
            "--region",
            "us-east-1",
            "--service",
            "s3",
        ],
        &env_keys(),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("x-amz-decoded-content-length: 197608"),
        "{}",
        run.stderr
    );
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).expect("the echo JSON");
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body_bytes"], content.len() as u64);
    assert_eq!(api.rejected(), 0, "{:?}", api.rejections());
    no_secrets(&run);
    let _ = std::fs::remove_file(file);
}
