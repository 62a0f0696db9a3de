//! The shared-config parser against the smithy-rs profile-parser vectors
//! (tests/fixtures/profile/profile-parser-tests.json, see SOURCE.txt): one test per case.

use std::collections::BTreeMap;

use serde_json::Value;
use sigv4_credentials::profile::ProfileSet;

fn cases() -> Vec<Value> {
    let text = include_str!("fixtures/profile/profile-parser-tests.json");
    let doc: Value = serde_json::from_str(text).expect("vector file is JSON");
    doc["tests"].as_array().expect("tests array").clone()
}

fn sections(value: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(map) = value.as_object() {
        for (name, props) in map {
            let props = props
                .as_object()
                .expect("properties object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_owned()))
                .collect();
            out.insert(name.clone(), props);
        }
    }
    out
}

fn ours(
    map: &BTreeMap<String, sigv4_credentials::profile::Section>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    map.iter()
        .map(|(name, section)| {
            let props = section
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (name.clone(), props)
        })
        .collect()
}

fn run(index: usize) {
    let cases = cases();
    let case = &cases[index];
    let name = case["name"].as_str().unwrap_or("?");
    let config = case["input"]["configFile"].as_str().unwrap_or("");
    let credentials = case["input"]["credentialsFile"].as_str().unwrap_or("");
    let result = ProfileSet::from_texts(config, credentials, "default");
    let output = &case["output"];
    if let Some(expected) = output["errorContaining"].as_str() {
        match result {
            Ok(set) => panic!(
                "case {index} `{name}`: expected an error containing {expected:?}, got {set:?}"
            ),
            Err(e) => assert!(
                e.to_string().contains(expected),
                "case {index} `{name}`: error {:?} does not contain {expected:?}",
                e.to_string()
            ),
        }
        return;
    }
    let set = result.unwrap_or_else(|e| panic!("case {index} `{name}`: unexpected error: {e}"));
    let expected = &output["config"];
    assert_eq!(
        ours(set.profiles()),
        sections(&expected["profiles"]),
        "case {index} `{name}`: profiles differ"
    );
    if !expected["sso_sessions"].is_null() {
        assert_eq!(
            ours(set.sso_sessions()),
            sections(&expected["sso_sessions"]),
            "case {index} `{name}`: sso-sessions differ"
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
    c00_empty_files_have_no_profiles => 0,
    c01_empty_profiles_have_no_properties => 1,
    c02_profile_names_support_alphanumeric_characters_and => 2,
    c03_profile_definitions_must_end_with_brackets => 3,
    c04_profile_names_should_be_trimmed => 4,
    c05_tabs_can_separate_profile_names_from_profile_prefix => 5,
    c06_properties_must_be_defined_in_a_profile => 6,
    c07_profiles_can_contain_properties => 7,
    c08_windows_style_line_endings_are_supported => 8,
    c09_equals_signs_are_supported_in_property_values => 9,
    c10_unicode_characters_are_supported_in_property_values => 10,
    c11_profiles_can_contain_multiple_properties => 11,
    c12_profiles_can_contain_multiple_properties => 12,
    c13_property_keys_and_values_are_trimmed => 13,
    c14_property_values_can_be_empty => 14,
    c15_property_key_cannot_be_empty => 15,
    c16_property_definitions_must_contain_an_equals_sign => 16,
    c17_multiple_profiles_can_be_empty => 17,
    c18_multiple_profiles_can_have_properties => 18,
    c19_blank_lines_are_ignored => 19,
    c20_pound_sign_comments_are_ignored => 20,
    c21_semicolon_sign_comments_are_ignored => 21,
    c22_all_comment_types_can_be_used_together => 22,
    c23_comments_can_be_empty => 23,
    c24_comments_can_be_adjacent_to_profile_names => 24,
    c25_comments_adjacent_to_values_are_included_in_the => 25,
    c26_property_values_can_be_continued_on_the_next => 26,
    c27_property_values_can_be_continued_with_multiple_lines => 27,
    c28_continuations_are_trimmed => 28,
    c29_continuation_values_include_pound_comments => 29,
    c30_continuation_values_include_semicolon_comments => 30,
    c31_continuations_cannot_be_used_outside_of_a_profile => 31,
    c32_continuations_cannot_be_used_outside_of_a_property => 32,
    c33_continuations_reset_with_profile_definitions => 33,
    c34_duplicate_profiles_in_the_same_file_merge_properties => 34,
    c35_duplicate_properties_in_a_profile_use_the_last => 35,
    c36_duplicate_properties_in_duplicate_profiles_use_the_last => 36,
    c37_duplicate_properties_in_duplicate_profiles_use_the_last => 37,
    c38_default_profile_with_profile_prefix_overrides_default_profile => 38,
    c39_default_profile_with_profile_prefix_overrides_default_profile => 39,
    c40_invalid_profile_names_are_ignored => 40,
    c41_invalid_property_names_are_ignored => 41,
    c42_all_valid_profile_name_characters_are_supported => 42,
    c43_all_valid_property_name_characters_are_supported => 43,
    c44_properties_can_have_sub_properties => 44,
    c45_invalid_sub_property_definitions_cause_an_error => 45,
    c46_sub_property_definitions_can_have_an_empty_value => 46,
    c47_sub_property_definitions_cannot_have_an_empty_name => 47,
    c48_sub_property_definitions_can_have_an_invalid_name => 48,
    c49_sub_properties_can_have_blank_lines_that_are => 49,
    c50_profiles_duplicated_in_multiple_files_are_merged => 50,
    c51_default_profiles_with_mixed_prefixes_in_the_config => 51,
    c52_default_profiles_with_mixed_prefixes_merge_with_credentials => 52,
    c53_duplicate_properties_between_files_uses_credentials_property => 53,
    c54_config_profiles_without_prefix_are_ignored => 54,
    c55_credentials_profiles_with_prefix_are_ignored => 55,
    c56_comment_characters_adjacent_to_profile_decls => 56,
    c57_invalid_continuation => 57,
    c58_sneaky_profile_name => 58,
    c59_profile_name_with_extra_whitespace => 59,
    c60_profile_name_with_extra_whitespace_in_credentials => 60,
    c61_properties_from_an_invalid_profile_name_are_ignored => 61,
    c62_sso_session_with_properties => 62,
    c63_sso_session_without_the_space_before_the_name => 63,
    c64_a_typo_d_sso_session_will_be_ignored => 64,
}
