//! Profile chains (`role_arn`, `source_profile`, `credential_source`, web identity, SSO) against
//! the SDKs' shared `assume-role-tests.json` (tests/fixtures/profile/, see SOURCE.txt): one test per
//! case, each resolving the case's profiles with `profile::chain::resolve` and comparing the chain
//! (base, then the roles in the order they are assumed) or the error with the case's output.
//!
//! The `Sso` base is compared with its settings (`sso_session`, `sso_start_url`, `sso_region`,
//! `sso_account_id`, `sso_role_name`: the session's for the `sso_session` form).

use serde_json::Value;
use sigv4_credentials::profile::chain::{resolve, Base, NamedSource};
use sigv4_credentials::profile::ProfileSet;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/profile/assume-role-tests.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The case's profiles as a config file.
fn config_text(input: &Value) -> String {
    let mut out = String::new();
    for (name, keys) in input["profiles"].as_object().unwrap() {
        if name == "default" {
            out.push_str("[default]\n");
        } else {
            out.push_str(&format!("[profile {name}]\n"));
        }
        for (key, value) in keys.as_object().unwrap() {
            out.push_str(&format!("{key} = {}\n", value.as_str().unwrap()));
        }
    }
    if let Some(sessions) = input.get("sso_sessions").and_then(Value::as_object) {
        for (name, keys) in sessions {
            out.push_str(&format!("[sso-session {name}]\n"));
            for (key, value) in keys.as_object().unwrap() {
                out.push_str(&format!("{key} = {}\n", value.as_str().unwrap()));
            }
        }
    }
    out
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn run(index: usize, docs: &str) {
    let cases = cases();
    assert_eq!(cases.len(), 28, "the fixture holds 28 cases");
    let case = &cases[index];
    assert_eq!(case["docs"].as_str(), Some(docs), "case {index} moved");
    let input = &case["input"];
    let selected = input["selected_profile"].as_str().unwrap();
    let set = ProfileSet::from_texts(&config_text(input), "", selected).unwrap();
    let got = resolve(&set);
    let output = &case["output"];
    if let Some(error) = output.get("Error").and_then(Value::as_str) {
        let err = got.expect_err(docs);
        assert!(
            err.message.contains(error),
            "{docs}: `{}` should contain `{error}`",
            err.message
        );
        return;
    }
    let chain = got.unwrap_or_else(|e| panic!("{docs}: {}", e.message));
    let want = output["ProfileChain"].as_array().unwrap();
    let (base, roles) = want.split_first().unwrap();
    match (
        &chain.base,
        base.as_object().unwrap().iter().next().unwrap(),
    ) {
        (
            Base::AccessKey {
                access_key_id,
                secret_access_key,
                account_id,
                ..
            },
            (kind, v),
        ) if kind == "AccessKey" => {
            assert_eq!(
                Some(access_key_id.clone()),
                text(v, "access_key_id"),
                "{docs}"
            );
            assert_eq!(
                Some(secret_access_key.clone()),
                text(v, "secret_access_key"),
                "{docs}"
            );
            assert_eq!(account_id.clone(), text(v, "account_id"), "{docs}");
        }
        (Base::NamedSource(named), (kind, v)) if kind == "NamedSource" => {
            let name = match named {
                NamedSource::Environment => "Environment",
                NamedSource::Ec2InstanceMetadata => "Ec2InstanceMetadata",
                NamedSource::EcsContainer => "EcsContainer",
            };
            assert_eq!(Some(name), v.as_str(), "{docs}");
        }
        (
            Base::WebIdentity {
                role_arn,
                token_file,
                session_name,
            },
            (kind, v),
        ) if kind == "WebIdentityToken" => {
            assert_eq!(Some(role_arn.clone()), text(v, "role_arn"), "{docs}");
            assert_eq!(
                Some(token_file.display().to_string()),
                text(v, "web_identity_token_file"),
                "{docs}"
            );
            assert_eq!(session_name.clone(), text(v, "role_session_name"), "{docs}");
        }
        (
            Base::Sso {
                session_name,
                start_url,
                region,
                account_id,
                role_name,
                ..
            },
            (kind, v),
        ) if kind == "Sso" => {
            assert_eq!(session_name.clone(), text(v, "sso_session"), "{docs}");
            assert_eq!(start_url.clone(), text(v, "sso_start_url"), "{docs}");
            assert_eq!(region.clone(), text(v, "sso_region"), "{docs}");
            assert_eq!(account_id.clone(), text(v, "sso_account_id"), "{docs}");
            assert_eq!(role_name.clone(), text(v, "sso_role_name"), "{docs}");
        }
        (got, want) => panic!("{docs}: base {got:?}, expected {want:?}"),
    }
    assert_eq!(chain.roles.len(), roles.len(), "{docs}: number of roles");
    for (hop, want) in chain.roles.iter().zip(roles) {
        let want = &want["AssumeRole"];
        assert_eq!(Some(hop.role_arn.clone()), text(want, "role_arn"), "{docs}");
        assert_eq!(hop.session_name, text(want, "role_session_name"), "{docs}");
        assert_eq!(hop.external_id, text(want, "external_id"), "{docs}");
    }
}

macro_rules! cases {
    ($($name:ident: $index:expr, $docs:expr;)*) => {
        $(
            #[test]
            fn $name() {
                run($index, $docs);
            }
        )*
    };
}

cases! {
    basic_static_source: 0, "basic test case, a role_arn backed by a static credential";
    source_profile_beats_own_keys: 1, "ignore explicit credentials when source profile is specified";
    role_session_name: 2, "load role_session_name for the AssumeRole provider";
    external_id: 3, "load external id for the AssumeRole provider";
    self_referential: 4, "self referential profile (first load base creds, then use for the role)";
    credential_source: 5, "Load credentials from a credential_source";
    role_arn_without_source: 6, "role_arn without source source_profile";
    source_and_credential_source: 7, "source profile and credential source both present";
    missing_secret: 8, "partial credentials error (missing secret)";
    missing_access_key: 9, "partial credentials error (missing access key)";
    empty_source_profile: 10, "missing credentials error (empty source profile)";
    only_configuration: 11, "profile only contains configuration";
    missing_source_profile: 12, "missing source profile";
    missing_root_profile: 13, "missing root profile (should never happen in practice)";
    multiple_chained: 14, "multiple chained assume role profiles";
    chained_static_credentials: 15, "chained assume role profiles with static credentials (ignore assume role when static credentials present)";
    infinite_loop: 16, "assume role profile infinite loop";
    infinite_loop_with_static_credentials: 17, "infinite loop with static credentials";
    web_identity_role: 18, "web identity role";
    web_identity_role_with_session_name: 19, "web identity role with session name";
    web_identity_without_role: 20, "web identity role";
    web_identity_as_source_profile: 21, "web identity token as source profile";
    sso_credentials: 22, "SSO credentials profile selected";
    sso_missing_account_id: 23, "invalid SSO credentials configuration: missing account ID";
    sso_missing_role_name: 24, "invalid SSO credentials configuration: missing role name";
    sso_region_outside_session: 25, "invalid SSO token configuration: sso_region must be in sso-session";
    sso_token: 26, "SSO token profile selected";
    sso_session_not_found: 27, "invalid SSO token configuration: sso-session not found";
}
