//! The `Profile` provider against real files in a temporary home directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sigv4_credentials::profile::ProfileSet;
use sigv4_credentials::{
    Credentials, CredentialsError, Env, ManualClock, Profile, ProvideCredentials,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";

/// A temporary home directory with `.aws/` files in it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn config(&self, text: &str) -> PathBuf {
        self.write(".aws/config", text)
    }

    fn credentials(&self, text: &str) -> PathBuf {
        self.write(".aws/credentials", text)
    }

    fn env(&self, extra: &[(&str, &str)]) -> Env {
        let home = self.dir.path().to_str().unwrap().to_owned();
        let mut pairs: Vec<(String, String)> = vec![("HOME".into(), home)];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Env::from_pairs(pairs)
    }

    fn provider(&self, extra: &[(&str, &str)]) -> Profile {
        Profile::builder().env(self.env(extra)).build()
    }

    async fn load(&self, extra: &[(&str, &str)]) -> Result<Credentials, CredentialsError> {
        self.provider(extra).provide_credentials().await
    }
}

fn assert_failed(err: &CredentialsError) -> String {
    assert!(
        matches!(err, CredentialsError::Failed { .. }),
        "expected Failed, got {err:?}"
    );
    let text = err.to_string();
    assert!(text.starts_with("profile:"), "{text}");
    text
}

fn assert_no_secrets(err: &CredentialsError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
}

#[tokio::test]
async fn default_profile_from_the_credentials_file() {
    let home = Home::new();
    home.credentials(&format!(
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = {SECRET}\n"
    ));
    let creds = home.load(&[]).await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
    assert_eq!(creds.secret_access_key(), SECRET);
    assert_eq!(creds.session_token(), None);
    assert_eq!(creds.expiry(), None);
    assert_eq!(creds.provider_name(), "profile:default");
}

#[tokio::test]
async fn aws_profile_selects_and_the_builder_overrides_it() {
    let home = Home::new();
    home.credentials(&format!(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = {SECRET}\n\
         [dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n\
         [prod]\naws_access_key_id = AKIDPROD\naws_secret_access_key = {SECRET}\n"
    ));
    let creds = home.load(&[("AWS_PROFILE", "dev")]).await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDDEV");
    assert_eq!(creds.session_token(), Some(TOKEN));
    assert_eq!(creds.provider_name(), "profile:dev");

    let provider = Profile::builder()
        .env(home.env(&[("AWS_PROFILE", "dev")]))
        .profile_name("prod")
        .build();
    let creds = provider.provide_credentials().await.unwrap();
    assert_eq!(creds.access_key_id(), "AKIDPROD");
}

#[tokio::test]
async fn keys_in_the_config_file_work_and_the_credentials_file_wins() {
    let home = Home::new();
    home.config(&format!(
        "[profile dev]\nregion = eu-west-1\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = {SECRET}\n\
         [profile other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = {SECRET}\n"
    ));
    home.credentials(&format!(
        "[dev]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = {SECRET}\n"
    ));
    assert_eq!(
        home.load(&[("AWS_PROFILE", "dev")])
            .await
            .unwrap()
            .access_key_id(),
        "AKIDCREDS"
    );
    assert_eq!(
        home.load(&[("AWS_PROFILE", "other")])
            .await
            .unwrap()
            .access_key_id(),
        "AKIDOTHER"
    );
}

#[tokio::test]
async fn relocated_files_are_read() {
    let home = Home::new();
    let config = home.write("elsewhere/cfg", "[profile x]\nregion = us-east-1\n");
    let creds = home.write(
        "elsewhere/creds",
        &format!("[x]\naws_access_key_id = AKIDMOVED\naws_secret_access_key = {SECRET}\n"),
    );
    // The default locations hold something else, which must not be read.
    home.credentials(&format!(
        "[x]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = {SECRET}\n"
    ));
    let env = [
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ("AWS_PROFILE", "x"),
    ];
    assert_eq!(home.load(&env).await.unwrap().access_key_id(), "AKIDMOVED");

    let set = ProfileSet::load(&home.env(&env), None).unwrap();
    assert_eq!(set.selected_name(), "x");
    assert_eq!(set.get("region"), Some("us-east-1"));
    assert_eq!(set.files_found(), 2);
}

#[tokio::test]
async fn tilde_in_aws_config_file_is_the_home_directory() {
    let home = Home::new();
    home.write(
        "cfgdir/config",
        &format!("[default]\naws_access_key_id = AKIDTILDE\naws_secret_access_key = {SECRET}\n"),
    );
    let creds = home
        .load(&[("AWS_CONFIG_FILE", "~/cfgdir/config")])
        .await
        .unwrap();
    assert_eq!(creds.access_key_id(), "AKIDTILDE");
}

#[tokio::test]
async fn no_files_is_not_configured_and_says_where_it_looked() {
    let home = Home::new();
    let err = home.load(&[]).await.unwrap_err();
    assert!(err.is_not_configured(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(home.path(".aws/config").to_str().unwrap()),
        "{text}"
    );
    assert!(
        text.contains(home.path(".aws/credentials").to_str().unwrap()),
        "{text}"
    );

    let set = ProfileSet::load(&home.env(&[]), None).unwrap();
    assert!(set.is_empty());
    assert_eq!(set.selected_name(), "default");
}

#[tokio::test]
async fn missing_profile_is_not_configured_and_names_it() {
    let home = Home::new();
    home.credentials(&format!(
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = {SECRET}\n"
    ));
    let err = home.load(&[("AWS_PROFILE", "nope")]).await.unwrap_err();
    assert!(err.is_not_configured(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`nope`"), "{text}");
    assert!(
        text.contains(home.path(".aws/credentials").to_str().unwrap()),
        "{text}"
    );
}

#[tokio::test]
async fn profile_without_credentials_is_not_configured() {
    let home = Home::new();
    home.config("[default]\nregion = eu-west-1\n");
    let err = home.load(&[]).await.unwrap_err();
    assert!(err.is_not_configured(), "{err:?}");
    assert!(
        err.to_string()
            .contains("`default` did not contain credential information"),
        "{err}"
    );
}

#[tokio::test]
async fn half_a_key_pair_fails_naming_the_missing_key() {
    let home = Home::new();
    home.credentials(&format!(
        "[a]\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n[b]\naws_access_key_id = AKID\n"
    ));
    let err = home.load(&[("AWS_PROFILE", "a")]).await.unwrap_err();
    let text = assert_failed(&err);
    assert!(
        text.contains("profile `a`: profile missing aws_access_key_id"),
        "{text}"
    );
    assert_no_secrets(&err);

    let err = home.load(&[("AWS_PROFILE", "b")]).await.unwrap_err();
    let text = assert_failed(&err);
    assert!(
        text.contains("profile `b`: profile missing aws_secret_access_key"),
        "{text}"
    );
}

#[tokio::test]
async fn a_syntax_error_names_the_file_and_line_but_not_the_line_text() {
    let home = Home::new();
    let path = home.credentials(&format!(
        "[default]\naws_access_key_id = AKID\n# comment\naws_secret_access_key {SECRET}\n"
    ));
    let err = home.load(&[]).await.unwrap_err();
    let text = assert_failed(&err);
    assert!(text.contains(path.to_str().unwrap()), "{text}");
    assert!(text.contains("line 4"), "{text}");
    assert!(text.contains("Expected an '=' sign"), "{text}");
    assert_no_secrets(&err);
}

#[tokio::test]
async fn a_directory_instead_of_a_file_fails() {
    let home = Home::new();
    std::fs::create_dir_all(home.path(".aws/config")).unwrap();
    let err = home.load(&[]).await.unwrap_err();
    let text = assert_failed(&err);
    assert!(
        text.contains(home.path(".aws/config").to_str().unwrap()),
        "{text}"
    );
}

#[tokio::test]
async fn sso_profiles_use_sso_and_never_fall_through_to_their_other_keys() {
    // An SSO profile is served by SSO, even when it also has static keys: without a token file
    // the error says to log in (and is not retried); without account and role it is a token
    // profile, an error naming the profile and key.
    let cases = [
        (
            "sso_session = corp\nsso_account_id = 123456789012\nsso_role_name = R",
            "run `aws sso login --profile work`",
            true,
        ),
        (
            "sso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1",
            "profile `work` uses `sso_start_url` without sso_account_id and sso_role_name",
            false,
        ),
    ];
    for (body, wanted, non_recoverable) in cases {
        let home = Home::new();
        home.config(&format!(
            "[profile base]\naws_access_key_id = AKID\naws_secret_access_key = {SECRET}\n\
             [profile work]\n{body}\naws_access_key_id = AKID\naws_secret_access_key = {SECRET}\n\
             [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://x.awsapps.com/start\n"
        ));
        let err = home.load(&[("AWS_PROFILE", "work")]).await.unwrap_err();
        assert_eq!(err.is_non_recoverable(), non_recoverable, "{body}: {err}");
        let text = err.to_string();
        assert!(text.contains(wanted), "{body}: {text}");
        assert_no_secrets(&err);
    }
}

#[tokio::test]
async fn source_profile_without_role_arn_is_ignored_as_in_the_sdks() {
    let home = Home::new();
    home.config(&format!(
        "[profile base]\nregion = us-east-1\n\
         [default]\nsource_profile = base\naws_access_key_id = AKIDSELF\naws_secret_access_key = {SECRET}\n"
    ));
    assert_eq!(home.load(&[]).await.unwrap().access_key_id(), "AKIDSELF");
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let home = Home::new();
    home.credentials(&format!(
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
    ));
    let env = home.env(&[
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ]);
    let provider = Profile::builder().env(env.clone()).build();
    let set = ProfileSet::load(&env, None).unwrap();
    let creds = provider.provide_credentials().await.unwrap();
    for shown in [
        format!("{provider:?}"),
        format!("{set:?}"),
        format!("{creds:?}"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    assert!(format!("{set:?}").contains("AKIDEXAMPLE"));
}

#[cfg(unix)]
mod credential_process {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Writes an executable shell script and returns its path.
    fn script(home: &Home, name: &str, body: &str) -> String {
        let path = home.write(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn clock_at(secs: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(secs)))
    }

    // 2030-01-01T00:00:00Z
    const EXPIRY_2030: u64 = 1_893_456_000;

    #[tokio::test]
    async fn success_with_token_and_expiry() {
        let home = Home::new();
        let cmd = script(
            &home,
            "bin/creds",
            &format!(
                "printf '%s' '{{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"{SECRET}\", \
                 \"SessionToken\": \"{TOKEN}\", \"Expiration\": \"2030-01-01T00:00:00Z\"}}'"
            ),
        );
        // Static keys in the same profile lose to credential_process (SDK precedence).
        home.config(&format!(
            "[default]\ncredential_process = {cmd} --some-arg\naws_access_key_id = AKIDSTATIC\naws_secret_access_key = x\n"
        ));
        let creds = home.load(&[]).await.unwrap();
        assert_eq!(creds.access_key_id(), "ASIAPROCESS");
        assert_eq!(creds.secret_access_key(), SECRET);
        assert_eq!(creds.session_token(), Some(TOKEN));
        assert_eq!(
            creds.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(EXPIRY_2030))
        );
        assert_eq!(creds.provider_name(), "credential_process");
    }

    #[tokio::test]
    async fn shell_pipelines_work_without_expiry() {
        let home = Home::new();
        home.config(
            "[profile p]\ncredential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPIPE\", \"SecretAccessKey\": \"S\"}' | cat\n",
        );
        let creds = home.load(&[("AWS_PROFILE", "p")]).await.unwrap();
        assert_eq!(creds.access_key_id(), "AKIDPIPE");
        assert_eq!(creds.session_token(), None);
        assert_eq!(creds.expiry(), None);
    }

    #[tokio::test]
    async fn version_2_is_rejected() {
        let home = Home::new();
        home.config(&format!(
            "[default]\ncredential_process = echo '{{\"Version\": 2, \"AccessKeyId\": \"AKID\", \"SecretAccessKey\": \"{SECRET}\"}}'\n"
        ));
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.contains("Version 2"), "{text}");
        assert!(text.contains("only Version 1"), "{text}");
        assert!(text.contains("`default`"), "{text}");
        assert_no_secrets(&err);
    }

    #[tokio::test]
    async fn non_zero_exit_shows_stderr_but_never_stdout() {
        let home = Home::new();
        let cmd = script(
            &home,
            "bin/fails",
            &format!(
                "echo '{{\"Version\": 1, \"AccessKeyId\": \"AKID\", \"SecretAccessKey\": \"{SECRET}\"}}'\n\
                 echo '  sso session expired, run: corp-login  ' >&2\nexit 3"
            ),
        );
        home.config(&format!("[default]\ncredential_process = {cmd}\n"));
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.contains("exit status: 3"), "{text}");
        assert!(
            text.contains("standard error: sso session expired, run: corp-login"),
            "{text}"
        );
        assert!(!text.contains("corp-login  "), "stderr not trimmed: {text}");
        assert_no_secrets(&err);
    }

    #[tokio::test]
    async fn long_stderr_is_cut() {
        let home = Home::new();
        home.config(
            "[default]\ncredential_process = sh -c 'yes error-line | head -c 100000 >&2; exit 1'\n",
        );
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.len() < 2_000, "message is {} bytes", text.len());
        assert!(text.contains("(truncated)"), "{text}");
    }

    #[tokio::test]
    async fn invalid_json_is_reported_without_quoting_it() {
        let home = Home::new();
        home.config(&format!(
            "[default]\ncredential_process = echo 'SecretAccessKey={SECRET}'\n"
        ));
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.contains("not valid JSON"), "{text}");
        assert_no_secrets(&err);
    }

    #[tokio::test]
    async fn missing_secret_field_is_reported() {
        let home = Home::new();
        home.config(
            "[default]\ncredential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AKID\"}'\n",
        );
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.contains("SecretAccessKey"), "{text}");
    }

    #[tokio::test]
    async fn already_expired_credentials_are_rejected() {
        let home = Home::new();
        home.config(&format!(
            "[default]\ncredential_process = echo '{{\"Version\": 1, \"AccessKeyId\": \"AKID\", \"SecretAccessKey\": \"{SECRET}\", \"Expiration\": \"2030-01-01T00:00:00Z\"}}'\n"
        ));
        let late = Profile::builder()
            .env(home.env(&[]))
            .time_source(clock_at(EXPIRY_2030 + 1))
            .build();
        let err = late.provide_credentials().await.unwrap_err();
        let text = assert_failed(&err);
        assert!(text.contains("expired at 2030-01-01T00:00:00Z"), "{text}");

        let early = Profile::builder()
            .env(home.env(&[]))
            .time_source(clock_at(EXPIRY_2030 - 1))
            .build();
        assert!(early.provide_credentials().await.is_ok());
    }

    #[tokio::test]
    async fn a_command_that_cannot_run_is_an_error() {
        let home = Home::new();
        home.config("[default]\ncredential_process = /nonexistent/credential-helper\n");
        let err = home.load(&[]).await.unwrap_err();
        let text = assert_failed(&err);
        // `sh` runs, the helper does not: exit status 127 with the shell's message.
        assert!(text.contains("exit status: 127"), "{text}");
        assert!(text.contains("/nonexistent/credential-helper"), "{text}");
    }

    // Paused time: the 200 ms limit elapses on tokio's clock as soon as the runtime is idle,
    // so the test does not wait for real; the sleeping command is killed on drop.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_command_times_out() {
        let home = Home::new();
        home.config("[default]\ncredential_process = sleep 30\n");
        let provider = Profile::builder()
            .env(home.env(&[]))
            .process_timeout(Duration::from_millis(200))
            .build();
        let err = provider.provide_credentials().await.unwrap_err();
        match &err {
            CredentialsError::Timeout {
                provider,
                after,
                hint,
            } => {
                assert_eq!(provider, "profile");
                assert_eq!(*after, Duration::from_millis(200));
                assert!(hint.contains("`sleep …`"), "{hint}");
                assert!(hint.contains("`default`"), "{hint}");
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_sso_profile_whose_start_url_differs_from_its_session_is_refused() {
    let home = Home::new();
    home.config(
        "[profile work]\nsso_session = corp\nsso_start_url = https://other.awsapps.com/start\n\
         sso_account_id = 123456789012\nsso_role_name = R\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n",
    );
    let err = home.load(&[("AWS_PROFILE", "work")]).await.unwrap_err();
    let text = assert_failed(&err);
    assert!(text.contains("differs"), "{text}");
    assert!(text.contains("https://corp.awsapps.com/start"), "{text}");
}
