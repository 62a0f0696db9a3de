//! Where STS calls go, and in which region they are signed, as the SDKs configure it.
//!
//! The endpoint URL, in the SDKs' order (the shared "service-specific endpoints" rules):
//! 1. `AWS_ENDPOINT_URL_STS`;
//! 2. `AWS_ENDPOINT_URL`;
//! 3. the `sts` sub-section's `endpoint_url` in the `[services NAME]` section the profile names
//!    with `services = NAME`;
//! 4. the profile's `endpoint_url`;
//!
//! none of them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's
//! `ignore_configured_endpoint_urls`) is `true`; else the regional endpoint of the region:
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

use http::Uri;

use crate::profile::{ProfileSet, Section};
use crate::{CredentialsError, Env};

const PROVIDER: &str = "sts";

/// Where STS calls go and how they are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsEndpoint {
    /// The endpoint URL (scheme, host, optional port and path).
    pub uri: Uri,
    /// The region the calls are signed for.
    pub region: String,
    /// Where the URL came from (for messages): `AWS_ENDPOINT_URL_STS`, `the regional endpoint`…
    pub source: &'static str,
}

/// The regional STS endpoint for `region`, with the FIPS and dual-stack variants.
pub fn regional_endpoint(
    region: &str,
    fips: bool,
    dual_stack: bool,
) -> Result<String, CredentialsError> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(CredentialsError::failed(
            PROVIDER,
            format!("`{region}` is not a valid region name"),
        ));
    }
    if region == "aws-global" && !fips && !dual_stack {
        return Ok("https://sts.amazonaws.com".to_owned());
    }
    let china = region.starts_with("cn-");
    if china && fips {
        return Err(CredentialsError::failed(
            PROVIDER,
            format!("FIPS endpoints are not available in {region} (the aws-cn partition has none); turn off use_fips_endpoint / AWS_USE_FIPS_ENDPOINT"),
        ));
    }
    let region = if region == "aws-global" {
        "us-east-1"
    } else {
        region
    };
    let prefix = if fips { "sts-fips" } else { "sts" };
    // In GovCloud the regular STS endpoints are already FIPS 140 validated.
    let prefix = if fips && region.starts_with("us-gov-") && !dual_stack {
        "sts"
    } else {
        prefix
    };
    let suffix = match (china, dual_stack) {
        (false, false) => "amazonaws.com",
        (false, true) => "api.aws",
        (true, false) => "amazonaws.com.cn",
        (true, true) => "api.amazonwebservices.com.cn",
    };
    Ok(format!("https://{prefix}.{region}.{suffix}"))
}

fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A boolean setting: the variable, else the profile key; anything but `true`/`false` is an error.
fn flag(
    env: &Env,
    profile: Option<&Section>,
    var: &str,
    key: &str,
) -> Result<bool, CredentialsError> {
    let (raw, from) = match env.get_non_blank(var) {
        Some(v) => (v, var.to_owned()),
        None => match profile
            .and_then(|p| p.get(key))
            .filter(|v| !v.trim().is_empty())
        {
            Some(v) => (v.to_owned(), format!("the profile key {key}")),
            None => return Ok(false),
        },
    };
    truthy(&raw).ok_or_else(|| {
        CredentialsError::failed(
            PROVIDER,
            format!("{from} must be true or false, not `{}`", raw.trim()),
        )
    })
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

/// The configured endpoint URL, if any (see the module docs for the order).
fn configured_url(
    env: &Env,
    set: Option<&ProfileSet>,
) -> Result<Option<(String, &'static str)>, CredentialsError> {
    let profile = set.and_then(ProfileSet::selected);
    if flag(
        env,
        profile,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "ignore_configured_endpoint_urls",
    )? {
        return Ok(None);
    }
    if let Some(url) = env.get_non_blank("AWS_ENDPOINT_URL_STS") {
        return Ok(Some((url, "AWS_ENDPOINT_URL_STS")));
    }
    if let Some(url) = env.get_non_blank("AWS_ENDPOINT_URL") {
        return Ok(Some((url, "AWS_ENDPOINT_URL")));
    }
    if let (Some(set), Some(profile)) = (set, profile) {
        if let Some(services) = profile
            .get("services")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let section = set.services(services).ok_or_else(|| {
                CredentialsError::failed(
                    PROVIDER,
                    format!(
                        "profile `{}` names `services = {services}`, but there is no [services {services}] section",
                        set.selected_name()
                    ),
                )
            })?;
            if let Some(url) = section
                .sub_property("sts", "endpoint_url")
                .filter(|u| !u.trim().is_empty())
            {
                return Ok(Some((
                    url.to_owned(),
                    "the `sts` endpoint_url of the services section",
                )));
            }
        }
        if let Some(url) = profile.get("endpoint_url").filter(|u| !u.trim().is_empty()) {
            return Ok(Some((url.to_owned(), "the profile key endpoint_url")));
        }
    }
    Ok(None)
}

/// The STS endpoint and signing region for this environment and profile set (the selected
/// profile's settings apply).
pub fn resolve(env: &Env, set: Option<&ProfileSet>) -> Result<StsEndpoint, CredentialsError> {
    let profile = set.and_then(ProfileSet::selected);
    let region = resolve_region(env, profile);
    let configured = configured_url(env, set)?;
    let (url, source) = match (&configured, &region) {
        (Some((url, source)), _) => (url.trim().to_owned(), *source),
        (None, Some(region)) => {
            let fips = flag(env, profile, "AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint")?;
            let dual = flag(
                env,
                profile,
                "AWS_USE_DUALSTACK_ENDPOINT",
                "use_dualstack_endpoint",
            )?;
            (
                regional_endpoint(region, fips, dual)?,
                "the regional endpoint",
            )
        }
        (None, None) => {
            return Err(CredentialsError::failed(
                PROVIDER,
                "STS needs a region to know where to send the call and how to sign it: set \
                 AWS_REGION, or `region` in the profile",
            ))
        }
    };
    let uri = crate::transport::parse_endpoint(
        &url,
        PROVIDER,
        "STS",
        source,
        "https://sts.us-east-1.amazonaws.com",
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
