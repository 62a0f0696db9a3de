//! Runs the built `sigv4` binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// From the AWS SigV4 test suite (aws-c-auth, tests/aws-signing-test-suite/v4/*/context.json).
pub const AKID: &str = "AKIDEXAMPLE";
/// The suite's secret key.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// A session token shaped like STS's.
pub const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKENtoken0123456789abcdefghijklmnopqrstuvwxyz";

/// The testkit's verifying endpoint, trusting [`AKID`] / [`SECRET`] with [`TOKEN`].
pub async fn endpoint_trusting_the_suite_keys() -> sigv4_testkit::endpoint::Endpoint {
    let keys = sigv4_core::Credentials::builder(AKID, SECRET)
        .session_token(TOKEN)
        .build();
    sigv4_testkit::endpoint::Endpoint::builder()
        .key_store(tower_sigv4::StaticKeyStore::new().with(keys))
        .start()
        .await
}

/// What a run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `sigv4 args...` with `stdin` and the given environment; every `AWS_*` variable of the
/// test process is removed from the child's environment first (ours is never changed).
pub fn sigv4(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sigv4"));
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    // Hermetic: no profile files from the real home, no instance metadata (the default chain
    // would otherwise look there); a test's own variables come after and may change both.
    command
        .env("HOME", empty_dir("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command.envs(env.iter().copied());
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the sigv4 binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The binary may exit without reading everything (usage errors): ignore a broken pipe.
        let _ = pipe.write_all(&input);
    });
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("sigv4 finishes");
    writer.join().expect("stdin writer");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// Writes `content` to a fresh file under cargo's per-target temporary directory.
pub fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sigv4-cli-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, content).expect("temp file written");
    path
}

/// The output lines as JSON values.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

pub mod server;

/// Runs `sigv4 args...` with nothing of the test process's environment: only `HOME` (a fresh
/// empty directory, so no profile files are found) and `env`. Runs on tokio's blocking pool so
/// the test's loopback servers keep serving.
pub async fn sigv4_clean(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let home = empty_dir("home");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sigv4"));
        command
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the sigv4 binary runs");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&stdin);
        });
        let output = child.wait_with_output().expect("sigv4 finishes");
        writer.join().expect("stdin writer");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("the runner thread")
}

/// A fresh empty directory under cargo's per-target temporary directory.
pub fn empty_dir(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sigv4-cli-tests")
        .join(format!("{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
