//! Where STS calls go, and in which region they are signed, as the SDKs configure it.
//!
//! The URL is resolved by the crate's one endpoint resolver ([`crate::endpoint`]) for the service
//! id `sts`: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the `sts` sub-section of the profile's
//! `services` section, the profile's `endpoint_url` (none of them under
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`); else the regional endpoint of the region:
//! `https://sts.{region}.amazonaws.com` (`.amazonaws.com.cn` in China), with FIPS
//! (`AWS_USE_FIPS_ENDPOINT` / `use_fips_endpoint`: `sts-fips.`) and dual-stack
//! (`AWS_USE_DUALSTACK_ENDPOINT` / `use_dualstack_endpoint`: `.api.aws`,
//! `.api.amazonwebservices.com.cn` in China). `aws-global` means the global endpoint
//! `https://sts.amazonaws.com` (signed for `us-east-1`).
//!
//! The region: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the profile's `region`. An STS source
//! without one is an error that says so.
//!
//! ```
//! use sigv4_credentials::sts::endpoint::regional_endpoint;
//!
//! assert_eq!(regional_endpoint("eu-west-1", false, false).unwrap(), "https://sts.eu-west-1.amazonaws.com");
//! assert_eq!(regional_endpoint("us-east-1", true, true).unwrap(), "https://sts-fips.us-east-1.api.aws");
//! assert_eq!(regional_endpoint("cn-north-1", false, false).unwrap(), "https://sts.cn-north-1.amazonaws.com.cn");
//! assert!(regional_endpoint("cn-north-1", true, false).is_err());
//! ```

use crate::endpoint::{self as service_endpoint, Service};
use crate::profile::{ProfileSet, Section};
use crate::{CredentialsError, Env};

const PROVIDER: &str = "sts";

/// Where STS calls go and how they are signed.
pub type StsEndpoint = service_endpoint::ServiceEndpoint;

/// The regional STS endpoint for `region`, with the FIPS and dual-stack variants.
pub fn regional_endpoint(
    region: &str,
    fips: bool,
    dual_stack: bool,
) -> Result<String, CredentialsError> {
    sts_url(region, fips, dual_stack).map_err(|e| CredentialsError::failed(PROVIDER, e))
}

/// STS's default host pattern (see [`regional_endpoint`]), for [`Service::STS`].
pub(crate) fn sts_url(region: &str, fips: bool, dual_stack: bool) -> Result<String, String> {
    if region == "aws-global" && !fips && !dual_stack {
        return Ok("https://sts.amazonaws.com".to_owned());
    }
    let region = if region == "aws-global" {
        "us-east-1"
    } else {
        region
    };
    // In GovCloud the regular STS endpoints are already FIPS 140 validated.
    let gov_regular = region.starts_with("us-gov-") && !dual_stack;
    let fips = fips && !gov_regular;
    service_endpoint::partition_host("sts", region, fips, dual_stack)
}

/// The region for STS calls: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`.
pub fn resolve_region(env: &Env, profile: Option<&Section>) -> Option<String> {
    env.get_non_blank("AWS_REGION")
        .or_else(|| env.get_non_blank("AWS_DEFAULT_REGION"))
        .or_else(|| {
            profile
                .and_then(|p| p.get("region"))
                .map(str::to_owned)
                .filter(|r| !r.trim().is_empty())
        })
        .map(|r| r.trim().to_owned())
}

/// The STS endpoint and signing region for this environment and profile set (the selected
/// profile's settings apply).
pub fn resolve(env: &Env, set: Option<&ProfileSet>) -> Result<StsEndpoint, CredentialsError> {
    let profile = set.and_then(ProfileSet::selected);
    let region = resolve_region(env, profile);
    let (uri, source) = service_endpoint::resolve(
        &Service::STS,
        PROVIDER,
        env,
        set,
        region.as_deref(),
        "STS needs a region to know where to send the call and how to sign it: set \
         AWS_REGION, or `region` in the profile",
    )?;
    let region = match region {
        Some(region) if region == "aws-global" => "us-east-1".to_owned(),
        Some(region) => region,
        // A configured endpoint without a region (a local emulator): sign for us-east-1, as the
        // SDKs' global STS endpoint does.
        None => "us-east-1".to_owned(),
    };
    Ok(StsEndpoint {
        uri,
        region,
        source,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    fn set(config: &str) -> ProfileSet {
        ProfileSet::from_texts(config, "", "default").unwrap()
    }

    #[test]
    fn regional_endpoints_by_partition() {
        let cases = [
            (
                "us-east-1",
                false,
                false,
                "https://sts.us-east-1.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                false,
                "https://sts-fips.us-east-1.amazonaws.com",
            ),
            ("us-east-1", false, true, "https://sts.us-east-1.api.aws"),
            (
                "us-east-1",
                true,
                true,
                "https://sts-fips.us-east-1.api.aws",
            ),
            (
                "cn-northwest-1",
                false,
                true,
                "https://sts.cn-northwest-1.api.amazonwebservices.com.cn",
            ),
            (
                "us-gov-west-1",
                false,
                false,
                "https://sts.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-gov-west-1",
                true,
                false,
                "https://sts.us-gov-west-1.amazonaws.com",
            ),
            (
                "us-gov-east-1",
                true,
                true,
                "https://sts-fips.us-gov-east-1.api.aws",
            ),
            ("aws-global", false, false, "https://sts.amazonaws.com"),
        ];
        for (region, fips, dual, want) in cases {
            assert_eq!(
                regional_endpoint(region, fips, dual).unwrap(),
                want,
                "{region} {fips} {dual}"
            );
        }
        assert!(regional_endpoint("us-east-1/evil", false, false).is_err());
        assert!(regional_endpoint("", false, false).is_err());
    }

    #[test]
    fn service_env_beats_global_env_beats_services_section_beats_profile() {
        let config = "[default]\nregion = eu-west-1\nservices = s\nendpoint_url = http://profile\n[services s]\nsts =\n  endpoint_url = http://services\n";
        let set = set(config);
        let at = |pairs: &[(&str, &str)]| {
            resolve(&Env::from_pairs(pairs.iter().copied()), Some(&set))
                .unwrap()
                .uri
                .to_string()
        };
        assert_eq!(
            at(&[
                ("AWS_ENDPOINT_URL_STS", "http://svc-env"),
                ("AWS_ENDPOINT_URL", "http://env")
            ]),
            "http://svc-env/"
        );
        assert_eq!(at(&[("AWS_ENDPOINT_URL", "http://env")]), "http://env/");
        assert_eq!(at(&[]), "http://services/");
        assert_eq!(
            at(&[
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
                ("AWS_ENDPOINT_URL", "http://env")
            ]),
            "https://sts.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn a_missing_region_is_a_clear_error() {
        let err = resolve(&Env::from_pairs::<&str, &str>([]), None).unwrap_err();
        assert!(err.to_string().contains("AWS_REGION"), "{err}");
    }

    #[test]
    fn flags_must_be_booleans() {
        let env = Env::from_pairs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
        ]);
        let err = resolve(&env, None).unwrap_err();
        assert!(err.to_string().contains("AWS_USE_FIPS_ENDPOINT"), "{err}");
    }

    #[test]
    fn a_missing_services_section_is_named() {
        let set = set("[default]\nregion = eu-west-1\nservices = nope\n");
        let err = resolve(&Env::from_pairs::<&str, &str>([]), Some(&set)).unwrap_err();
        assert!(err.to_string().contains("[services nope]"), "{err}");
    }
}
