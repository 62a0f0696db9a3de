//! `sigv4 credentials`: the built binary with a cleared environment, against the testkit's IMDS
//! emulator and temporary profile files.

mod common;

use std::time::{Duration, SystemTime};

use common::{sigv4_clean, Run, AKID, SECRET};
use sigv4_testkit::imds::ImdsEmulator;

async fn credentials(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut argv = vec!["credentials"];
    argv.extend_from_slice(args);
    sigv4_clean(&argv, b"", env).await
}

#[tokio::test]
async fn instance_credentials_are_shown_without_the_secret() {
    let imds = ImdsEmulator::start().await;
    let issued = imds.current_credentials();
    let endpoint = imds.endpoint();
    let env = [("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint.as_str())];
    let secret = issued.secret_access_key().to_owned();
    let token = issued
        .session_token()
        .expect("IMDS gives a token")
        .to_owned();

    let run = credentials(&[], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("source:        imds\n"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains(&format!("access key id: {}\n", issued.access_key_id())));
    assert!(run.stdout.contains("session token: present (not shown)\n"));
    // The emulator's credentials last 6 hours from now.
    let expires = issued.expiry().expect("expiry");
    let stamp = humantime::format_rfc3339_seconds(expires).to_string();
    assert!(
        run.stdout
            .contains(&format!("expires:       {stamp} (in 5h 59m")),
        "{}",
        run.stdout
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(&secret) && !text.contains(&token));
    }

    let run = credentials(&["--json"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["source"], "imds");
    assert_eq!(value["access_key_id"], issued.access_key_id());
    assert_eq!(value["session_token"], true);
    assert_eq!(value["expiration"], stamp.as_str());
    let left = value["expires_in_seconds"].as_i64().unwrap();
    let want = expires
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    assert!((want - 60..=want + 1).contains(&left), "{left} vs {want}");
    assert!(!run.stdout.contains(&secret) && !run.stdout.contains(&token));

    // --export: the one place the secret is printed.
    let run = credentials(&["--export"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "export AWS_ACCESS_KEY_ID='{}'\nexport AWS_SECRET_ACCESS_KEY='{secret}'\n\
             export AWS_SESSION_TOKEN='{token}'\nexport AWS_CREDENTIAL_EXPIRATION='{stamp}'\n",
            issued.access_key_id()
        )
    );
}

#[tokio::test]
async fn environment_and_profile_sources() {
    let env = [
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    let run = credentials(&[], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "source:        environment\naccess key id: {AKID}\naccount:       (not known)\n\
             secret key:    (not shown; --export prints it)\nsession token: none\n\
             expires:       never (long-term keys)\n"
        )
    );
    // With AWS_ACCOUNT_ID the account is shown, and exported.
    let with_account = [
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_ACCOUNT_ID", "123456789012"),
    ];
    let run = credentials(&[], &with_account).await;
    assert!(
        run.stdout.contains("account:       123456789012\n"),
        "{}",
        run.stdout
    );
    let run = credentials(&["--export"], &with_account).await;
    assert!(
        run.stdout
            .contains("export AWS_ACCOUNT_ID='123456789012'\n"),
        "{}",
        run.stdout
    );
    let run = credentials(&["--export"], &env).await;
    assert!(run
        .stdout
        .contains(&format!("export AWS_SECRET_ACCESS_KEY='{SECRET}'\n")));
    assert!(run.stdout.contains("unset AWS_SESSION_TOKEN\n"));

    let dir = common::empty_dir("credentials-profiles");
    let file = dir.join("credentials");
    std::fs::write(
        &file,
        "[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = ops/secret\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", file.as_str()),
        ("AWS_PROFILE", "ops"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let run = credentials(&["--json"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["access_key_id"], "AKIDOPS");
    assert_eq!(value["source"], "profile:ops");
    assert_eq!(value["expiration"], serde_json::Value::Null);
    assert!(!run.stdout.contains("ops/secret"));
}

#[tokio::test]
async fn nothing_found_is_exit_4_on_one_line() {
    let run = credentials(&[], &[("AWS_EC2_METADATA_DISABLED", "true")]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("sigv4: no AWS credentials found"));
    // Each source says why.
    for source in ["environment", "profile", "container", "imds"] {
        assert!(
            run.stderr.contains(&format!("{source}: ")),
            "{}",
            run.stderr
        );
    }

    let run = credentials(&["--export", "--json"], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
}
