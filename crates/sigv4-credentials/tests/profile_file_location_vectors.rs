//! Shared-file locations and profile selection against the smithy-rs file-location vectors
//! (tests/fixtures/profile/file-location-tests.json, see SOURCE.txt): one test per case.

use serde_json::Value;
use sigv4_credentials::profile::{FileLocations, Platform};
use sigv4_credentials::Env;

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/profile/file-location-tests.json");
    let doc: Value = serde_json::from_str(text).expect("vector file is JSON");
    doc["tests"].as_array().expect("tests array").clone()
}

fn run(index: usize) {
    let cases = cases();
    let case = &cases[index];
    let name = case["name"].as_str().unwrap_or("?");
    let env = Env::from_pairs(
        case["environment"]
            .as_object()
            .expect("environment object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned())),
    );
    let platform = match case["platform"].as_str() {
        Some("windows") => Platform::Windows,
        Some("linux") | Some("macos") => Platform::Unix,
        other => panic!("case {index} `{name}`: unknown platform {other:?}"),
    };
    let at = FileLocations::resolve_for(&env, None, platform);
    let shown = |p: Option<&std::path::Path>| p.and_then(|p| p.to_str()).map(str::to_owned);
    assert_eq!(
        shown(at.config_file()).as_deref(),
        case["configLocation"].as_str(),
        "case {index} `{name}`: config file location"
    );
    assert_eq!(
        shown(at.credentials_file()).as_deref(),
        case["credentialsLocation"].as_str(),
        "case {index} `{name}`: credentials file location"
    );
    if let Some(profile) = case["profile"].as_str() {
        assert_eq!(
            at.profile_name(),
            profile,
            "case {index} `{name}`: selected profile"
        );
    }
}

macro_rules! vector_tests {
    ($($test:ident => $index:expr,)*) => {
        $(
            #[test]
            fn $test() {
                run($index);
            }
        )*

        #[test]
        fn every_vector_has_a_test() {
            let indices = [$($index),*];
            assert_eq!(indices.len(), cases().len());
            assert!(indices.iter().enumerate().all(|(i, n)| i == *n));
        }
    };
}

vector_tests! {
    c00_user_home_is_loaded_from_home_with_highest => 0,
    c01_user_home_is_loaded_from_home_with_highest => 1,
    c02_user_home_is_loaded_from_userprofile_on_windows => 2,
    c03_user_home_is_loaded_from_homedrive_homepath_on => 3,
    c04_the_default_config_location_can_be_overridden_by => 4,
    c05_the_default_credentials_location_can_be_overridden_by => 5,
    c06_the_default_credentials_location_can_be_overridden_by => 6,
    c07_the_default_credentials_location_can_be_overridden_by => 7,
    c08_the_default_profile_can_be_overridden_via_environment => 8,
}
