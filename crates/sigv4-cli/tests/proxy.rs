//! `sigv4 proxy`: the built binary in front of the testkit's verifying endpoint, called by a
//! client that cannot sign; its probes; SIGTERM with a request in flight.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use common::{empty_dir, AKID, SECRET, TOKEN};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A running `sigv4 proxy`, its log lines arriving on a channel.
struct ProxyProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl ProxyProcess {
    fn start(args: &[&str]) -> ProxyProcess {
        Self::start_with_env(args, &[])
    }

    fn start_with_env(args: &[&str], extra_env: &[(&str, &str)]) -> ProxyProcess {
        let home = empty_dir("home");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigv4"))
            .arg("proxy")
            .args(args)
            .env_clear()
            .envs(extra_env.iter().copied())
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", AKID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the sigv4 binary runs");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ProxyProcess {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The next log line containing `needle` (the lines before it are kept in `log`).
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?}; so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// The `listen=ADDR` of the next line containing `needle`.
    fn listening(&mut self, needle: &str) -> SocketAddr {
        let line = self.wait_for(needle);
        let at = line.find("listen=").expect("a listen= field") + "listen=".len();
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .expect("an address")
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

/// `sigv4 proxy` in front of `upstream`, signing for us-east-1/execute-api, on 127.0.0.1:0.
fn proxy_in_front_of(upstream: &str, more: &[&str]) -> ProxyProcess {
    let mut args = vec![
        "--upstream",
        upstream,
        "--region",
        "us-east-1",
        "--service",
        "execute-api",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(more);
    ProxyProcess::start(&args)
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(url: String) -> (StatusCode, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(Request::get(url).body(Full::default()).unwrap())
        .await
        .expect("an answer");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_cannot_sign_goes_through_the_proxy() {
    let api = common::endpoint_trusting_the_suite_keys().await;
    let upstream = api.url();
    let mut proxy = proxy_in_front_of(&upstream, &["--admin-listen", "127.0.0.1:0"]);
    let listen = proxy.listening("serving");
    let admin = proxy.listening("/healthz");

    let (status, _) = get(format!("http://{admin}/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(format!("http://{admin}/readyz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = get(format!("http://{listen}/prod/items?q=a%20b&x=%2F")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["access_key_id"], AKID);
    assert_eq!(api.rejected(), 0, "{:?}", api.rejections());

    // One log line for the request: method, path, status, latency; never a secret.
    let line = proxy.wait_for("request");
    for field in [
        "method=GET",
        "path=/prod/items",
        "status=200",
        "upstream_ms=",
    ] {
        assert!(line.contains(field), "{field} not in {line}");
    }
    proxy.terminate();
    let status = proxy.child.wait().expect("the proxy exits");
    assert!(status.success(), "{status:?}");
    for line in &proxy.log {
        assert!(!line.contains(SECRET) && !line.contains(TOKEN), "{line}");
    }
}

/// SIGTERM while a request waits on a slow upstream: the proxy stops accepting, the request
/// completes, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish() {
    use std::sync::Arc;
    use tokio::sync::Notify;

    let arrived = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = listener.local_addr().unwrap();
    let (a, r) = (Arc::clone(&arrived), Arc::clone(&release));
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(move |_request| {
            let (a, r) = (Arc::clone(&a), Arc::clone(&r));
            async move {
                a.notify_one();
                r.notified().await;
                Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                    Bytes::from_static(b"finished"),
                )))
            }
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    let upstream = format!("http://{slow}");
    let mut proxy = proxy_in_front_of(&upstream, &[]);
    let listen = proxy.listening("serving");
    let in_flight = tokio::spawn(get(format!("http://{listen}/slow")));
    tokio::time::timeout(Duration::from_secs(20), arrived.notified())
        .await
        .expect("the request reaches the upstream");
    proxy.terminate();
    proxy.wait_for("shutting down");
    release.notify_one();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "finished"));
    let exit = proxy.child.wait().expect("the proxy exits");
    assert!(exit.success(), "{exit:?}");
}

/// `--tls-cert` / `--tls-key`: the listener speaks HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener() {
    use std::sync::Arc;

    let api = common::endpoint_trusting_the_suite_keys().await;
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = common::temp_file("proxy-cert.pem", certified.cert.pem().as_bytes());
    let key = common::temp_file(
        "proxy-key.pem",
        certified.key_pair.serialize_pem().as_bytes(),
    );
    let upstream = api.url();
    let mut proxy = proxy_in_front_of(
        &upstream,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let listen = proxy.listening("serving");

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(listen).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .expect("a TLS handshake with the proxy");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(
            Request::get("/prod/items")
                .header("host", "localhost")
                .body(Full::<Bytes>::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(api.accepted(), 1);
    let _ = std::fs::remove_file(cert);
    let _ = std::fs::remove_file(key);
}

#[test]
fn bad_flags_are_usage_errors() {
    let mut child = ProxyProcess::start(&["--route", "no-prefix"]);
    let status = child.child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let mut child = ProxyProcess::start(&[
        "--upstream",
        "http://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
    ]);
    let status = child.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "no region/service for a loopback upstream"
    );
    let line = child.wait_for("--region");
    assert!(line.contains("region"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_arn_signs_with_the_assumed_roles_credentials() {
    // The environment's keys sign an AssumeRole at the STS emulator (AWS_ENDPOINT_URL_STS); the
    // endpoint trusts only what STS issued: every request must be signed by the role.
    let sts = sigv4_testkit::sts::StsEmulator::builder()
        .caller(
            sigv4_core::Credentials::builder(AKID, SECRET)
                .session_token(TOKEN)
                .build(),
        )
        .start()
        .await;
    let api = sigv4_testkit::endpoint::Endpoint::builder()
        .sts(&sts)
        .start()
        .await;
    let upstream = api.url();
    let endpoint = sts.endpoint();
    let args = vec![
        "--upstream",
        upstream.as_str(),
        "--region",
        "us-east-1",
        "--service",
        "execute-api",
        "--listen",
        "127.0.0.1:0",
        "--role-arn",
        "arn:aws:iam::210987654321:role/proxy-role",
        "--role-session-name",
        "sidecar",
    ];
    let mut proxy = ProxyProcess::start_with_env(
        &args,
        &[
            ("AWS_ENDPOINT_URL_STS", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    let listen = proxy.listening("serving");
    for _ in 0..3 {
        let (status, body) = get(format!("http://{listen}/prod/items")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            echo["access_key_id"].as_str(),
            Some(sts.last_issued().unwrap().access_key_id())
        );
    }
    assert_eq!(
        sts.assume_role_calls(),
        1,
        "cached: one AssumeRole for three requests"
    );
    assert_eq!(sts.issued()[0].role_session_name, "sidecar");
    proxy.terminate();
}
