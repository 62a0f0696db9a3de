//! The `Environment` provider: the three variables, blank as unset, half a pair as an error.

use sigv4_credentials::{CredentialsError, Env, Environment, ProvideCredentials};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN";

async fn load(pairs: &[(&str, &str)]) -> Result<sigv4_credentials::Credentials, CredentialsError> {
    let env = Env::from_pairs(pairs.iter().copied());
    Environment::from_env(env).provide_credentials().await
}

#[tokio::test]
async fn key_pair_without_token() {
    let creds = load(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ])
    .await
    .unwrap();
    assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
    assert_eq!(creds.secret_access_key(), SECRET);
    assert_eq!(creds.session_token(), None);
    assert_eq!(creds.expiry(), None);
    assert_eq!(creds.provider_name(), "environment");
}

#[tokio::test]
async fn key_pair_with_token() {
    let creds = load(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ])
    .await
    .unwrap();
    assert_eq!(creds.session_token(), Some(TOKEN));
}

#[tokio::test]
async fn blank_token_is_no_token() {
    for blank in ["", "   ", "\t"] {
        let creds = load(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", blank),
        ])
        .await
        .unwrap();
        assert_eq!(creds.session_token(), None, "token {blank:?}");
    }
}

#[tokio::test]
async fn nothing_set_is_not_configured() {
    let err = load(&[]).await.unwrap_err();
    assert!(err.is_not_configured(), "{err}");
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test]
async fn blank_keys_count_as_unset() {
    let err = load(&[("AWS_ACCESS_KEY_ID", " "), ("AWS_SECRET_ACCESS_KEY", "")])
        .await
        .unwrap_err();
    assert!(err.is_not_configured(), "{err}");
}

#[tokio::test]
async fn only_the_key_id_names_the_missing_secret() {
    let err = load(&[
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", " "),
    ])
    .await
    .unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("AWS_SECRET_ACCESS_KEY is set")
            || text.contains("but AWS_SECRET_ACCESS_KEY is not"),
        "{text}"
    );
    assert!(text.starts_with("environment:"), "{text}");
}

#[tokio::test]
async fn only_the_secret_names_the_missing_key_id() {
    let err = load(&[
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ])
    .await
    .unwrap_err();
    assert!(matches!(err, CredentialsError::Failed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("AWS_ACCESS_KEY_ID is not"), "{text}");
    assert!(!text.contains(SECRET) && !format!("{err:?}").contains(SECRET));
    assert!(!text.contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn legacy_names_are_not_read() {
    let err = load(&[
        ("AWS_ACCESS_KEY", "AKIDEXAMPLE"),
        ("AWS_SECRET_KEY", SECRET),
    ])
    .await
    .unwrap_err();
    assert!(err.is_not_configured(), "{err}");
}

#[tokio::test]
async fn secrets_stay_out_of_debug() {
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
    ]);
    let provider = Environment::from_env(env);
    let creds = provider.provide_credentials().await.unwrap();
    let shown = format!("{creds:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
}

#[test]
fn provider_debug_does_not_show_the_environment() {
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ]);
    let shown = format!("{:?}", Environment::from_env(env));
    assert!(!shown.contains(SECRET), "{shown}");
}
