//! The container source (ECS / EKS Pod Identity): endpoint resolution against the SDKs' shared
//! vectors, then fetches against a small loopback server written here.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use sigv4_credentials::container::resolve_endpoint;
use sigv4_credentials::{Container, CredentialsError, Env, ProvideCredentials};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ===== endpoint resolution vectors (tests/fixtures/ecs) =====

#[derive(Deserialize)]
struct EcsVectors {
    tests: Vec<EcsCase>,
}

#[derive(Deserialize)]
struct EcsCase {
    docs: String,
    env: HashMap<String, String>,
    result: EcsResult,
}

#[derive(Deserialize)]
enum EcsResult {
    Ok(String),
    ErrorContains(String),
}

fn run_ecs_case(index: usize, expected_docs: &str) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ecs/ecs-tests.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let cases = serde_json::from_str::<EcsVectors>(&text)
        .expect("fixture parses")
        .tests;
    assert_eq!(cases.len(), 11, "the fixture should hold 11 cases");
    let case = &cases[index];
    assert_eq!(
        case.docs, expected_docs,
        "case {index} moved in the fixture"
    );

    let env = Env::from_pairs(case.env.clone());
    match (&case.result, resolve_endpoint(&env)) {
        (EcsResult::Ok(expected), Ok(uri)) => {
            assert_eq!(&uri.to_string(), expected, "case `{}`", case.docs)
        }
        (EcsResult::ErrorContains(expected), Err(err)) => {
            let text = err.to_string();
            assert!(
                text.contains(expected.as_str()),
                "case `{}`: error `{text}` should contain `{expected}`",
                case.docs
            );
            // With no variable at all the source is merely absent; a set but broken URI fails.
            assert_eq!(
                err.is_not_configured(),
                case.env.is_empty(),
                "case `{}`: {err}",
                case.docs
            );
        }
        (EcsResult::Ok(expected), Err(err)) => {
            panic!("case `{}`: expected {expected}, got error {err}", case.docs)
        }
        (EcsResult::ErrorContains(expected), Ok(uri)) => panic!(
            "case `{}`: expected an error containing `{expected}`, got {uri}",
            case.docs
        ),
    }
}

macro_rules! ecs_vector_tests {
    ($($name:ident: $index:literal, $docs:literal;)*) => {
        $(
            #[test]
            fn $name() {
                run_ecs_case($index, $docs);
            }
        )*
    };
}

ecs_vector_tests! {
    vector_00_nothing_set: 0, "all fields unset provider is not enabled";
    vector_01_relative_uri: 1, "relative URI";
    vector_02_full_uri_without_host: 2, "invalid full uri";
    vector_03_full_uri_https: 3, "full uri HTTPS";
    vector_04_full_uri_https_port: 4, "full uri HTTPS with port";
    vector_05_localhost: 5, "localhost";
    vector_06_ecs_task_role: 6, "ecs task role";
    vector_07_eks_pod_identity_ipv4: 7, "eks pod identity ipv4";
    vector_08_eks_pod_identity_ipv6: 8, "eks pod identity ipv6";
    vector_09_relative_over_full: 9, "relative takes precedence over full";
    vector_10_query_params: 10, "support query params";
}

// ===== a tiny credentials server on 127.0.0.1 =====

const AKID: &str = "ASIACONTAINEREXAMPLE";
const SECRET: &str = "containerSecretValue0123456789";
const TOKEN: &str = "containerSessionTokenValue";
// 2030-01-01T00:00:00Z = 1893456000 seconds after the epoch.
const EXPIRATION: &str = "2030-01-01T00:00:00Z";
const EXPIRATION_SECS: u64 = 1_893_456_000;

fn credentials_json() -> String {
    format!(
        r#"{{"AccessKeyId":"{AKID}","SecretAccessKey":"{SECRET}","Token":"{TOKEN}","Expiration":"{EXPIRATION}","AccountId":"123456789012","RoleArn":"arn:aws:iam::123456789012:role/task"}}"#
    )
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
}

/// Answers each request with the next scripted `(status, body)`, or 200 and [`credentials_json`].
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (seen2, script2) = (Arc::clone(&seen), Arc::clone(&script));
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen2);
                let script = Arc::clone(&script2);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or("")
                        .to_owned();
                    let authorization = lines.find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("authorization")
                            .then(|| value.trim().to_owned())
                    });
                    seen.lock().unwrap().push(Seen {
                        path,
                        authorization,
                    });
                    let (status, body) = script
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| (200, credentials_json()));
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Server {
            addr,
            seen,
            script,
            task,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn then(&self, status: u16, body: &str) {
        self.script
            .lock()
            .unwrap()
            .push_back((status, body.to_owned()));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn relative(server: &Server, env: &[(&str, &str)]) -> Container {
    Container::builder()
        .env(Env::from_pairs(env.iter().copied()))
        .relative_uri_base(server.base())
        .initial_backoff(Duration::from_millis(1))
        .build()
}

fn assert_expected(creds: &sigv4_credentials::Credentials) {
    assert_eq!(creds.access_key_id(), AKID);
    assert_eq!(creds.secret_access_key(), SECRET);
    assert_eq!(creds.session_token(), Some(TOKEN));
    assert_eq!(
        creds.expiry(),
        Some(UNIX_EPOCH + Duration::from_secs(EXPIRATION_SECS))
    );
    assert_eq!(creds.provider_name(), "container");
}

#[tokio::test]
async fn relative_uri_fetch() {
    let server = Server::start().await;
    let container = relative(
        &server,
        &[(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/task-1?a=1",
        )],
    );
    let creds = container.provide_credentials().await.expect("credentials");
    assert_expected(&creds);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v2/credentials/task-1?a=1");
    assert_eq!(seen[0].authorization, None);
}

#[tokio::test]
async fn full_uri_on_loopback_with_the_token_variable() {
    let server = Server::start().await;
    let full = format!("{}/v1/credentials", server.base());
    let container = Container::builder()
        .env(Env::from_pairs([
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0"),
        ]))
        .build();
    let creds = container.provide_credentials().await.expect("credentials");
    assert_expected(&creds);
    let seen = server.seen();
    assert_eq!(seen[0].path, "/v1/credentials");
    assert_eq!(seen[0].authorization.as_deref(), Some("Basic c2VjcmV0"));
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_allowed() {
    let server = Server::start().await;
    let full = format!("http://localhost:{}/creds", server.addr.port());
    let container = Container::builder()
        .env(Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            full.as_str(),
        )]))
        .build();
    // `localhost` may resolve to ::1 as well; every resolved address is allowed and tried in
    // turn, so the IPv4-only server is reached.
    let creds = container
        .provide_credentials()
        .await
        .expect("localhost accepted");
    assert_expected(&creds);
}

#[tokio::test]
async fn the_token_file_is_read_at_every_fetch_and_wins() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token.jwt");
    std::fs::write(&file, "first-token").expect("write");
    let file_str = file.display().to_string();
    let container = relative(
        &server,
        &[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file_str.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token"),
        ],
    );
    container.provide_credentials().await.expect("first");
    // Rotated by the platform, with the newline `echo` leaves.
    std::fs::write(&file, "second-token\n").expect("rewrite");
    container.provide_credentials().await.expect("second");
    let auth: Vec<Option<String>> = server.seen().into_iter().map(|s| s.authorization).collect();
    assert_eq!(
        auth,
        vec![
            Some("first-token".to_owned()),
            Some("second-token".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_token_with_a_line_break_is_refused_before_any_request() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "abc\r\nX-Injected: yes").expect("write");
    let file_str = file.display().to_string();
    let from_file = relative(
        &server,
        &[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file_str.as_str()),
        ],
    );
    let err = from_file.provide_credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("line break"), "{err}");

    let from_env = relative(
        &server,
        &[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\nX-Injected: yes"),
        ],
    );
    let err = from_env.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("line break"), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_missing_token_file_names_the_file() {
    let server = Server::start().await;
    let container = relative(
        &server,
        &[
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds"),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/nonexistent/token.jwt",
            ),
        ],
    );
    let err = container.provide_credentials().await.unwrap_err();
    assert!(!err.is_not_configured());
    assert!(err.to_string().contains("/nonexistent/token.jwt"), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn hosts_outside_the_allowed_list_are_refused_without_a_request() {
    for full in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
        "http://10.1.2.3:8080/creds",
        "http://[fd00:ec2::254]/creds",
    ] {
        let container = Container::builder()
            .env(Env::from_pairs([(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                full,
            )]))
            .connect_timeout(Duration::from_secs(3600))
            .build();
        let err = tokio::time::timeout(Duration::from_secs(30), container.provide_credentials())
            .await
            .expect("refused without any network wait")
            .unwrap_err();
        assert!(
            matches!(err, CredentialsError::Failed { .. }),
            "{full}: {err}"
        );
        assert!(err.to_string().contains("not allowed"), "{full}: {err}");
    }
}

/// A loopback HTTPS server with a self-signed certificate for `localhost`, answering every request
/// with `body`; gives its port and the certificate.
async fn https_server(body: &'static str) -> (u16, rustls::pki_types::CertificateDer<'static>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, cert)
}

#[tokio::test]
async fn https_full_uri_works_with_the_shared_tls_setup() {
    let (port, cert) = https_server(
        r#"{"AccessKeyId":"ASIAHTTPS","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z","AccountId":"123456789012"}"#,
    )
    .await;
    let tls = sigv4_credentials::tls::client_config(
        &sigv4_credentials::tls::TlsSettings::default().extra_roots(vec![cert]),
    )
    .unwrap();
    let container = Container::builder()
        .env(Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("https://localhost:{port}/creds"),
        )]))
        .transport(
            sigv4_credentials::TransportOptions::new(
                Duration::from_secs(5),
                Duration::from_secs(5),
            )
            .tls_config(Arc::new(tls)),
        )
        .build();
    let creds = container.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "ASIAHTTPS");
    assert_eq!(creds.account_id(), Some("123456789012"));
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_is_a_tls_error() {
    let (port, _cert) = https_server("{}").await;
    let container = Container::builder()
        .env(Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("https://localhost:{port}/creds"),
        )]))
        .build();
    let err = container.provide_credentials().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("TLS with localhost"), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
}

#[tokio::test]
async fn nothing_set_is_not_configured() {
    let container = Container::builder()
        .env(Env::from_pairs([("HOME", "/tmp")]))
        .build();
    let err = container.provide_credentials().await.unwrap_err();
    assert!(err.is_not_configured(), "{err}");
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = Server::start().await;
    server.then(500, "{}");
    server.then(503, "{}");
    let container = relative(
        &server,
        &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds")],
    );
    let creds = container
        .provide_credentials()
        .await
        .expect("third attempt works");
    assert_expected(&creds);
    assert_eq!(server.seen().len(), 3);

    let server = Server::start().await;
    for _ in 0..3 {
        server.then(500, "{}");
    }
    let container = relative(
        &server,
        &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds")],
    );
    let err = container.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(server.seen().len(), 3, "3 attempts by default");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = Server::start().await;
    server.then(403, r#"{"Message":"denied"}"#);
    let container = relative(
        &server,
        &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds")],
    );
    let err = container.provide_credentials().await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(
        err.to_string()
            .contains("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        "{err}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn malformed_json_fails_without_quoting_it() {
    let server = Server::start().await;
    server.then(
        200,
        &format!(r#"{{"AccessKeyId":"{AKID}","SecretAccessKey":"{SECRET}","#),
    );
    let container = relative(
        &server,
        &[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds")],
    );
    let err = container.provide_credentials().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("malformed credentials JSON"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn nothing_listening_fails_quickly() {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let full = format!("http://127.0.0.1:{port}/creds");
    let container = Container::builder()
        .env(Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            full.as_str(),
        )]))
        .connect_timeout(Duration::from_secs(3600))
        .build();
    let err = tokio::time::timeout(Duration::from_secs(30), container.provide_credentials())
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_endpoint_hits_the_read_timeout() {
    // Accepts and never answers.
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let full = format!("http://{addr}/creds");
    let container = Container::builder()
        .env(Env::from_pairs([(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            full.as_str(),
        )]))
        .max_attempts(1)
        .build();
    let started = tokio::time::Instant::now();
    let err = container.provide_credentials().await.unwrap_err();
    assert!(
        err.to_string().contains("no complete response within 5s"),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    hold.abort();
}
