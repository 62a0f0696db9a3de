//! Where an AWS service's calls go, as the SDKs configure it: one resolver for every service the
//! credential sources call (STS, SSO, SSO-OIDC, sign-in), given the service's id and its default
//! host pattern.
//!
//! The endpoint URL, in the SDKs' order (the shared "service-specific endpoints" rules), for a
//! service whose id is `sso_oidc` (variable suffix `SSO_OIDC`):
//! 1. `AWS_ENDPOINT_URL_SSO_OIDC`;
//! 2. `AWS_ENDPOINT_URL`;
//! 3. the `sso_oidc` sub-section's `endpoint_url` in the `[services NAME]` section the profile
//!    names with `services = NAME`;
//! 4. the profile's `endpoint_url`;
//!
//! none of them when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (or the profile's
//! `ignore_configured_endpoint_urls`) is `true`; else the service's default host for the region,
//! with FIPS (`AWS_USE_FIPS_ENDPOINT` / `use_fips_endpoint`) and dual-stack
//! (`AWS_USE_DUALSTACK_ENDPOINT` / `use_dualstack_endpoint`) variants.
//!
//! ```
//! use sigv4_credentials::endpoint::{partition_host, Service};
//!
//! assert_eq!(partition_host("portal.sso", "us-east-2", true, true).unwrap(), "https://portal.sso-fips.us-east-2.api.aws");
//! assert_eq!(partition_host("oidc", "cn-north-1", false, false).unwrap(), "https://oidc.cn-north-1.amazonaws.com.cn");
//! assert_eq!(Service::SSO.env_var(), "AWS_ENDPOINT_URL_SSO");
//! assert_eq!(Service::SSO_OIDC.env_var(), "AWS_ENDPOINT_URL_SSO_OIDC");
//! ```

use http::Uri;

use crate::profile::{ProfileSet, Section};
use crate::{CredentialsError, Env};

/// A service whose endpoint can be configured: its id and its default host pattern.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The service id as the `services` sections spell it (`sts`, `sso`, `sso_oidc`, `signin`);
    /// upper-cased, it is the suffix of `AWS_ENDPOINT_URL_<ID>`.
    pub id: &'static str,
    /// The name in messages (`STS`, `SSO`...).
    pub name: &'static str,
    /// The default URL for a region, FIPS and dual-stack flags (an error when the partition has
    /// no such variant).
    pub default_url: fn(region: &str, fips: bool, dual_stack: bool) -> Result<String, String>,
}

impl Service {
    /// AWS STS (see [`crate::sts::endpoint::regional_endpoint`]).
    pub const STS: Service = Service {
        id: "sts",
        name: "STS",
        default_url: crate::sts::endpoint::sts_url,
    };
    /// The IAM Identity Center portal (`GetRoleCredentials`): `portal.sso.{region}.amazonaws.com`.
    pub const SSO: Service = Service {
        id: "sso",
        name: "SSO",
        default_url: |region, fips, dual| partition_host("portal.sso", region, fips, dual),
    };
    /// IAM Identity Center OIDC (`CreateToken`): `oidc.{region}.amazonaws.com`.
    pub const SSO_OIDC: Service = Service {
        id: "sso_oidc",
        name: "SSO-OIDC",
        default_url: |region, fips, dual| partition_host("oidc", region, fips, dual),
    };
    /// AWS sign-in (`aws login` token refresh): `{region}.signin.aws.amazon.com`.
    pub const SIGNIN: Service = Service {
        id: "signin",
        name: "sign-in",
        default_url: signin_url,
    };

    /// `AWS_ENDPOINT_URL_<ID>`, the id upper-cased.
    pub fn env_var(&self) -> String {
        format!("AWS_ENDPOINT_URL_{}", self.id.to_ascii_uppercase())
    }
}

/// Where a service's calls go and the region they are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpoint {
    /// The endpoint URL (scheme, host, optional port and path).
    pub uri: Uri,
    /// The region the calls are for (and signed for, where they are signed).
    pub region: String,
    /// Where the URL came from (for messages): `AWS_ENDPOINT_URL_STS`, `the regional endpoint`…
    pub source: String,
}

fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `https://{label}.{region}.{suffix}` with the partition's suffix (`amazonaws.com`,
/// `amazonaws.com.cn`; dual-stack `api.aws`, `api.amazonwebservices.com.cn`) and, for FIPS, the
/// last part of `label` suffixed `-fips` (`portal.sso` becomes `portal.sso-fips`). The China
/// partition has no FIPS endpoints.
pub fn partition_host(
    label: &str,
    region: &str,
    fips: bool,
    dual_stack: bool,
) -> Result<String, String> {
    if !valid_region(region) {
        return Err(format!("`{region}` is not a valid region name"));
    }
    let china = region.starts_with("cn-");
    if china && fips {
        return Err(format!("FIPS endpoints are not available in {region} (the aws-cn partition has none); turn off use_fips_endpoint / AWS_USE_FIPS_ENDPOINT"));
    }
    let label = if fips {
        format!("{label}-fips")
    } else {
        label.to_owned()
    };
    let suffix = match (china, dual_stack) {
        (false, false) => "amazonaws.com",
        (false, true) => "api.aws",
        (true, false) => "amazonaws.com.cn",
        (true, true) => "api.amazonwebservices.com.cn",
    };
    Ok(format!("https://{label}.{region}.{suffix}"))
}

fn signin_url(region: &str, fips: bool, dual_stack: bool) -> Result<String, String> {
    if !valid_region(region) {
        return Err(format!("`{region}` is not a valid region name"));
    }
    if fips || dual_stack {
        return Err(
            "AWS sign-in has no FIPS or dual-stack endpoints; set AWS_ENDPOINT_URL_SIGNIN or turn \
             off use_fips_endpoint / use_dualstack_endpoint"
                .to_owned(),
        );
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.cn"
    } else {
        "aws.amazon.com"
    };
    Ok(format!("https://{region}.signin.{suffix}"))
}

fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A boolean setting: the variable, else the profile key; anything but `true`/`false` is an error.
pub(crate) fn flag(
    provider: &'static str,
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
            provider,
            format!("{from} must be true or false, not `{}`", raw.trim()),
        )
    })
}

/// The configured endpoint URL of `service`, if any (see the module docs for the order).
fn configured_url(
    service: &Service,
    provider: &'static str,
    env: &Env,
    set: Option<&ProfileSet>,
) -> Result<Option<(String, String)>, CredentialsError> {
    let profile = set.and_then(ProfileSet::selected);
    if flag(
        provider,
        env,
        profile,
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "ignore_configured_endpoint_urls",
    )? {
        return Ok(None);
    }
    let var = service.env_var();
    if let Some(url) = env.get_non_blank(&var) {
        return Ok(Some((url, var)));
    }
    if let Some(url) = env.get_non_blank("AWS_ENDPOINT_URL") {
        return Ok(Some((url, "AWS_ENDPOINT_URL".to_owned())));
    }
    if let (Some(set), Some(profile)) = (set, profile) {
        if let Some(services) = profile
            .get("services")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let section = set.services(services).ok_or_else(|| {
                CredentialsError::failed(
                    provider,
                    format!(
                        "profile `{}` names `services = {services}`, but there is no [services {services}] section",
                        set.selected_name()
                    ),
                )
            })?;
            if let Some(url) = section
                .sub_property(service.id, "endpoint_url")
                .filter(|u| !u.trim().is_empty())
            {
                return Ok(Some((
                    url.to_owned(),
                    format!("the `{}` endpoint_url of the services section", service.id),
                )));
            }
        }
        if let Some(url) = profile.get("endpoint_url").filter(|u| !u.trim().is_empty()) {
            return Ok(Some((
                url.to_owned(),
                "the profile key endpoint_url".to_owned(),
            )));
        }
    }
    Ok(None)
}

/// Where the calls to `service` go, for this environment and profile set (the selected profile's
/// settings apply) and `region` (`None`: only a configured URL can be used; `missing_region`
/// then says what to set). Errors are named `provider`.
pub fn resolve(
    service: &Service,
    provider: &'static str,
    env: &Env,
    set: Option<&ProfileSet>,
    region: Option<&str>,
    missing_region: &str,
) -> Result<(Uri, String), CredentialsError> {
    let profile = set.and_then(ProfileSet::selected);
    let configured = configured_url(service, provider, env, set)?;
    let (url, source): (String, String) = match (configured, region) {
        (Some((url, source)), _) => (url.trim().to_owned(), source),
        (None, Some(region)) => {
            let fips = flag(
                provider,
                env,
                profile,
                "AWS_USE_FIPS_ENDPOINT",
                "use_fips_endpoint",
            )?;
            let dual = flag(
                provider,
                env,
                profile,
                "AWS_USE_DUALSTACK_ENDPOINT",
                "use_dualstack_endpoint",
            )?;
            let url = (service.default_url)(region, fips, dual)
                .map_err(|e| CredentialsError::failed(provider, e))?;
            (url, "the regional endpoint".to_owned())
        }
        (None, None) => return Err(CredentialsError::failed(provider, missing_region)),
    };
    let example = (service.default_url)("us-east-1", false, false)
        .unwrap_or_else(|_| "https://example.amazonaws.com".to_owned());
    let uri = crate::transport::parse_endpoint(&url, provider, service.name, &source, &example)?;
    Ok((uri, source))
}

/// `scheme://authority` of an endpoint, for messages.
pub(crate) fn origin(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", |a| a.as_str())
    )
}

/// `uri` joined with `path_and_query` (the endpoint URL may carry a base path).
pub(crate) fn join(uri: &Uri, path_and_query: &str) -> Result<Uri, http::Error> {
    let base = uri.path().trim_end_matches('/');
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(format!("{base}{path_and_query}").parse()?);
    Ok(Uri::from_parts(parts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(config: &str) -> ProfileSet {
        ProfileSet::from_texts(config, "", "default").unwrap()
    }

    #[test]
    fn each_service_reads_its_own_variable_and_services_key() {
        let set = set("[default]\nservices = s\n[services s]\nsso =\n  endpoint_url = http://sso-section\nsso_oidc =\n  endpoint_url = http://oidc-section\n");
        let at = |service: &Service, pairs: &[(&str, &str)]| {
            resolve(
                service,
                "test",
                &Env::from_pairs(pairs.iter().copied()),
                Some(&set),
                Some("us-east-1"),
                "no region",
            )
            .unwrap()
            .0
            .to_string()
        };
        assert_eq!(at(&Service::SSO, &[]), "http://sso-section/");
        assert_eq!(at(&Service::SSO_OIDC, &[]), "http://oidc-section/");
        assert_eq!(
            at(&Service::SSO, &[("AWS_ENDPOINT_URL_SSO", "http://env-sso")]),
            "http://env-sso/"
        );
        // The SSO variable is not the SSO-OIDC one.
        assert_eq!(
            at(
                &Service::SSO_OIDC,
                &[("AWS_ENDPOINT_URL_SSO", "http://env-sso")]
            ),
            "http://oidc-section/"
        );
        assert_eq!(
            at(
                &Service::SSO_OIDC,
                &[("AWS_ENDPOINT_URL_SSO_OIDC", "http://env-oidc")]
            ),
            "http://env-oidc/"
        );
        assert_eq!(
            at(
                &Service::SSO,
                &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]
            ),
            "https://portal.sso.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            at(
                &Service::SIGNIN,
                &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")]
            ),
            "https://us-east-1.signin.aws.amazon.com/"
        );
    }

    #[test]
    fn default_hosts_by_partition() {
        assert_eq!(
            partition_host("portal.sso", "us-east-2", true, false).unwrap(),
            "https://portal.sso-fips.us-east-2.amazonaws.com"
        );
        assert_eq!(
            partition_host("oidc", "eu-west-1", false, true).unwrap(),
            "https://oidc.eu-west-1.api.aws"
        );
        assert!(partition_host("oidc", "cn-north-1", true, false).is_err());
        assert!(partition_host("oidc", "us-east-1/x", false, false).is_err());
    }

    #[test]
    fn join_keeps_a_base_path() {
        let uri: Uri = "http://h:1/base/".parse().unwrap();
        assert_eq!(
            join(&uri, "/token").unwrap().to_string(),
            "http://h:1/base/token"
        );
        let uri: Uri = "https://h".parse().unwrap();
        assert_eq!(
            join(&uri, "/federation/credentials?a=1")
                .unwrap()
                .to_string(),
            "https://h/federation/credentials?a=1"
        );
    }
}
