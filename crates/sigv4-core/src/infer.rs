//! Region and signing service from a URL's host name.
//!
//! Only well-known AWS host names are recognized; anything else (an IP address, a custom
//! domain) gives nothing, and the caller asks its user for the region and service (the `sigv4`
//! command's `--region` / `--service`). Pure functions: no I/O, no allocation beyond the answer.
//!
//! Recognized (also under `amazonaws.com.cn` and `api.aws`, with `-fips` and `dualstack`
//! variants):
//!
//! - `<id>.execute-api.<region>.amazonaws.com` (and `...execute-api.<region>.vpce.amazonaws.com`)
//! - `<id>.lambda-url.<region>.on.aws` (service `lambda`)
//! - S3: `bucket.s3.<region>.amazonaws.com`, `s3.<region>.amazonaws.com`,
//!   `bucket.s3.dualstack.<region>...`, `s3-fips.<region>...`, `s3.amazonaws.com` and
//!   `bucket.s3.amazonaws.com` (us-east-1), the legacy `bucket.s3-<region>.amazonaws.com`,
//!   `s3-external-1.amazonaws.com`, access points, S3 Control (signed as `s3`), S3 Express
//!   (`s3express`) and Outposts (`s3-outposts`)
//! - `<service>.<region>.amazonaws.com`, `<prefix>.<service>.<region>.amazonaws.com`, the
//!   region-first `<domain>.<region>.es.amazonaws.com` (OpenSearch, `aoss` too), and the
//!   global endpoints of IAM, STS, Route 53, CloudFront, Organizations... (`iam.amazonaws.com`:
//!   us-east-1; cn-north-1 under `amazonaws.com.cn`)
//! - host prefixes whose signing name differs: `email` -> `ses`, `runtime.lex` -> `lex`,
//!   `streams.dynamodb` -> `dynamodb`, `bedrock-runtime` -> `bedrock`, `appsync-api` ->
//!   `appsync`, `api.ecr` -> `ecr`, ...

//!
//! ```
//! use sigv4_core::infer::{infer_from_host, Inferred};
//!
//! let inferred = infer_from_host("abc123.execute-api.eu-west-1.amazonaws.com");
//! assert_eq!(inferred.region.as_deref(), Some("eu-west-1"));
//! assert_eq!(inferred.service.as_deref(), Some("execute-api"));
//! assert_eq!(infer_from_host("127.0.0.1"), Inferred::default());
//! ```

use std::fmt;

use http::Uri;

/// What the host name tells; either part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inferred {
    /// The signing region.
    pub region: Option<String>,
    /// The signing name of the service.
    pub service: Option<String>,
}

impl Inferred {
    fn both(region: &str, service: &str) -> Self {
        Self {
            region: Some(region.to_owned()),
            service: Some(service.to_owned()),
        }
    }
}

/// The region and signing service for `uri` when its host tells them
/// (`sqs.eu-west-1.amazonaws.com` -> `eu-west-1`, `sqs`).
pub fn infer_region_service(uri: &Uri) -> Inferred {
    uri.host().map(infer_from_host).unwrap_or_default()
}

/// The region or the service (or both) could not be told from a host name and were not given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeUnknown {
    /// The host name looked at (empty when there was none).
    pub host: String,
    /// The region is missing.
    pub region_missing: bool,
    /// The service is missing.
    pub service_missing: bool,
}

impl fmt::Display for ScopeUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match (self.region_missing, self.service_missing) {
            (true, true) => "the region and the service",
            (true, false) => "the region",
            _ => "the service",
        };
        write!(
            f,
            "{what} cannot be told from the host {:?}: give them explicitly",
            self.host
        )
    }
}

impl std::error::Error for ScopeUnknown {}

/// The region and service to sign for: those given, else what the host of `uri` tells, else
/// [`ScopeUnknown`] naming what is missing.
///
/// ```
/// use sigv4_core::infer::resolve_scope;
///
/// let uri: http::Uri = "https://sqs.eu-west-1.amazonaws.com/".parse().unwrap();
/// assert_eq!(resolve_scope(&uri, Some("us-west-2"), None).unwrap(),
///     ("us-west-2".to_owned(), "sqs".to_owned()));
/// let local: http::Uri = "http://127.0.0.1:8080/".parse().unwrap();
/// assert!(resolve_scope(&local, None, Some("execute-api")).unwrap_err().region_missing);
/// ```
pub fn resolve_scope(
    uri: &Uri,
    region: Option<&str>,
    service: Option<&str>,
) -> Result<(String, String), ScopeUnknown> {
    let inferred = infer_region_service(uri);
    let region = region.map(str::to_owned).or(inferred.region);
    let service = service.map(str::to_owned).or(inferred.service);
    match (region, service) {
        (Some(region), Some(service)) => Ok((region, service)),
        (region, service) => Err(ScopeUnknown {
            host: uri.host().unwrap_or("").to_owned(),
            region_missing: region.is_none(),
            service_missing: service.is_none(),
        }),
    }
}

/// Whether requests signed for `service` follow S3's signing rules (the path neither normalized
/// nor encoded twice, `x-amz-content-sha256` always sent, `UNSIGNED-PAYLOAD` in presigned URLs):
/// `s3`, `s3-object-lambda`, `s3-outposts` and `s3express`. Signing these with the generic rules
/// is the classic cause of S3's `SignatureDoesNotMatch` for keys with `//`, `./` or `%`.
///
/// ```
/// use sigv4_core::infer::uses_s3_rules;
///
/// assert!(uses_s3_rules("s3") && uses_s3_rules("s3-outposts"));
/// assert!(!uses_s3_rules("execute-api") && !uses_s3_rules("s3control"));
/// ```
pub fn uses_s3_rules(service: &str) -> bool {
    matches!(
        service,
        "s3" | "s3-object-lambda" | "s3-outposts" | "s3express"
    )
}

/// A region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`,
/// `us-isob-east-1`, `eusc-de-east-1`.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    if parts.len() < 3 {
        return false;
    }
    let letters = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let (first, rest) = (parts[0], &parts[1..]);
    let Some((last, middle)) = rest.split_last() else {
        return false;
    };
    (2..=4).contains(&first.len())
        && letters(first)
        && middle.iter().all(|p| letters(p))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// Host prefixes whose signing name is not the prefix itself (checked on the last two labels
/// before the region, then on the last one).
const ALIASES: &[(&str, &str)] = &[
    ("runtime.lex", "lex"),
    ("models.lex", "lex"),
    ("runtime-v2-lex", "lex"),
    ("runtime.sagemaker", "sagemaker"),
    ("api.sagemaker", "sagemaker"),
    ("streams.dynamodb", "dynamodb"),
    ("api.ecr", "ecr"),
    ("api.pricing", "pricing"),
    ("data.iot", "iotdata"),
    ("data-ats.iot", "iotdata"),
    ("data.jobs.iot", "iot-jobs-data"),
    ("email", "ses"),
    ("bedrock-runtime", "bedrock"),
    ("bedrock-agent", "bedrock"),
    ("bedrock-agent-runtime", "bedrock"),
    ("appsync-api", "appsync"),
    ("monitoring", "monitoring"),
];

/// Services with one global endpoint, `<service>.amazonaws.com`, signed for us-east-1
/// (cn-north-1 in China).
const GLOBAL: &[&str] = &[
    "iam",
    "sts",
    "route53",
    "cloudfront",
    "organizations",
    "waf",
    "budgets",
    "sdb",
];

fn alias(name: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// The signing name for the labels in front of the region (`["abc", "execute-api"]`).
fn service_of(labels: &[&str]) -> Option<String> {
    let labels = match labels.split_last() {
        Some((&"dualstack", rest)) => rest,
        _ => labels,
    };
    if labels.len() >= 2 {
        let two = labels[labels.len() - 2..].join(".");
        if let Some(service) = alias(&two) {
            return Some(service.to_owned());
        }
    }
    let last = labels.last()?;
    let last = last.strip_suffix("-fips").unwrap_or(last);
    if last.is_empty() {
        return None;
    }
    Some(alias(last).unwrap_or(last).to_owned())
}

/// S3's own host names; `labels` are those in front of the partition suffix.
fn infer_s3(labels: &[&str], global_region: &str) -> Option<Inferred> {
    // The rightmost S3 label (bucket names may hold dots, even "s3").
    let (index, label) = labels.iter().enumerate().rev().find(|(_, l)| {
        **l == "s3"
            || l.starts_with("s3-")
            || l.starts_with("s3express-")
            || l.starts_with("s3.")
            || **l == "s3express"
    })?;
    let after = &labels[index + 1..];
    let region = match after {
        [] => None,
        [region] | ["dualstack", region] if is_region(region) => Some(*region),
        _ => return None,
    };
    let service = if label.starts_with("s3express") {
        "s3express"
    } else if label.starts_with("s3-outposts") {
        "s3-outposts"
    } else {
        "s3"
    };
    match (region, *label) {
        (Some(region), _) => Some(Inferred::both(region, service)),
        (None, "s3" | "s3-fips" | "s3-external-1") => Some(Inferred::both(global_region, service)),
        (None, legacy) => {
            // bucket.s3-us-west-2.amazonaws.com
            let region = legacy.strip_prefix("s3-")?;
            let region = region.strip_prefix("fips-").unwrap_or(region);
            is_region(region).then(|| Inferred::both(region, "s3"))
        }
    }
}

/// Region and service from a host name (see the module docs).
pub fn infer_from_host(host: &str) -> Inferred {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let (rest, global_region) = if let Some(rest) = host.strip_suffix(".amazonaws.com.cn") {
        (rest, "cn-north-1")
    } else if let Some(rest) = host.strip_suffix(".amazonaws.com") {
        (rest, "us-east-1")
    } else if let Some(rest) = host.strip_suffix(".api.aws") {
        (rest, "us-east-1")
    } else if let Some(rest) = host.strip_suffix(".on.aws") {
        // <url-id>.lambda-url.<region>.on.aws
        let labels: Vec<&str> = rest.split('.').collect();
        return match labels.as_slice() {
            [.., "lambda-url", region] if is_region(region) => Inferred::both(region, "lambda"),
            [.., region] if is_region(region) => Inferred {
                region: Some((*region).to_owned()),
                service: None,
            },
            _ => Inferred::default(),
        };
    } else {
        return Inferred::default();
    };
    let mut labels: Vec<&str> = rest.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Inferred::default();
    }
    // PrivateLink endpoints: ...execute-api.us-east-1.vpce.amazonaws.com
    if labels.len() > 1 && labels.last() == Some(&"vpce") {
        labels.pop();
    }
    if let Some(s3) = infer_s3(&labels, global_region) {
        return s3;
    }
    match labels.as_slice() {
        // <service>.<region>, <prefix>.<service>.<region>, <service>.dualstack.<region>
        [front @ .., region] if is_region(region) => Inferred {
            region: Some((*region).to_owned()),
            service: service_of(front),
        },
        // Region first: <domain>.<region>.es, <region>.elasticmapreduce
        [.., region, service] if is_region(region) => Inferred::both(region, service),
        // Global endpoints: iam.amazonaws.com, sts.amazonaws.com
        [service] if GLOBAL.contains(service) => Inferred::both(global_region, service),
        _ => Inferred::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real host names (from AWS documentation and service endpoints lists) and what they
    /// sign for.
    const HOSTS: &[(&str, Option<&str>, Option<&str>)] = &[
        // API Gateway
        (
            "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("execute-api"),
        ),
        (
            "a1b2c3d4e5.execute-api.eu-west-3.amazonaws.com",
            Some("eu-west-3"),
            Some("execute-api"),
        ),
        (
            "a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.us-west-2.vpce.amazonaws.com",
            Some("us-west-2"),
            Some("execute-api"),
        ),
        (
            "a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn",
            Some("cn-north-1"),
            Some("execute-api"),
        ),
        // Lambda function URLs
        (
            "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-2.on.aws",
            Some("us-east-2"),
            Some("lambda"),
        ),
        (
            "lambda.ap-southeast-2.amazonaws.com",
            Some("ap-southeast-2"),
            Some("lambda"),
        ),
        // S3: virtual-hosted, path style, global, legacy dash, dualstack, FIPS
        (
            "examplebucket.s3.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3"),
        ),
        (
            "my.dotted.bucket.s3.eu-central-1.amazonaws.com",
            Some("eu-central-1"),
            Some("s3"),
        ),
        (
            "s3.ap-northeast-1.amazonaws.com",
            Some("ap-northeast-1"),
            Some("s3"),
        ),
        ("s3.amazonaws.com", Some("us-east-1"), Some("s3")),
        (
            "examplebucket.s3.amazonaws.com",
            Some("us-east-1"),
            Some("s3"),
        ),
        ("s3-external-1.amazonaws.com", Some("us-east-1"), Some("s3")),
        (
            "examplebucket.s3-us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3"),
        ),
        ("s3-eu-west-1.amazonaws.com", Some("eu-west-1"), Some("s3")),
        (
            "examplebucket.s3.dualstack.us-east-2.amazonaws.com",
            Some("us-east-2"),
            Some("s3"),
        ),
        (
            "s3-fips.us-gov-west-1.amazonaws.com",
            Some("us-gov-west-1"),
            Some("s3"),
        ),
        (
            "s3-fips.dualstack.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("s3"),
        ),
        (
            "examplebucket.s3.cn-northwest-1.amazonaws.com.cn",
            Some("cn-northwest-1"),
            Some("s3"),
        ),
        (
            "myap-123456789012.s3-accesspoint.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3"),
        ),
        (
            "123456789012.s3-control.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3"),
        ),
        (
            "bucket--usw2-az1--x-s3.s3express-usw2-az1.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3express"),
        ),
        (
            "myaccesspoint-123456789012.op-01ac5d28a6a232904.s3-outposts.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("s3-outposts"),
        ),
        (
            "s3.dualstack.eu-west-1.amazonaws.com",
            Some("eu-west-1"),
            Some("s3"),
        ),
        // <service>.<region>
        (
            "sqs.eu-west-1.amazonaws.com",
            Some("eu-west-1"),
            Some("sqs"),
        ),
        (
            "dynamodb.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("dynamodb"),
        ),
        (
            "dynamodb-fips.us-gov-west-1.amazonaws.com",
            Some("us-gov-west-1"),
            Some("dynamodb"),
        ),
        ("ec2.us-east-1.api.aws", Some("us-east-1"), Some("ec2")),
        (
            "sts.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("sts"),
        ),
        (
            "logs.il-central-1.amazonaws.com",
            Some("il-central-1"),
            Some("logs"),
        ),
        (
            "ssm.us-isob-east-1.amazonaws.com",
            Some("us-isob-east-1"),
            Some("ssm"),
        ),
        (
            "monitoring.ca-central-1.amazonaws.com",
            Some("ca-central-1"),
            Some("monitoring"),
        ),
        (
            "states.dualstack.eu-north-1.amazonaws.com",
            Some("eu-north-1"),
            Some("states"),
        ),
        (
            "SQS.EU-WEST-1.AMAZONAWS.COM.",
            Some("eu-west-1"),
            Some("sqs"),
        ),
        // Signing names that differ from the host prefix
        (
            "email.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("ses"),
        ),
        (
            "runtime.lex.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("lex"),
        ),
        (
            "streams.dynamodb.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("dynamodb"),
        ),
        (
            "bedrock-runtime.us-west-2.amazonaws.com",
            Some("us-west-2"),
            Some("bedrock"),
        ),
        (
            "abcdefghijklmnopqrstuvwxyz.appsync-api.eu-west-2.amazonaws.com",
            Some("eu-west-2"),
            Some("appsync"),
        ),
        (
            "api.ecr.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("ecr"),
        ),
        (
            "runtime.sagemaker.us-east-1.amazonaws.com",
            Some("us-east-1"),
            Some("sagemaker"),
        ),
        // Region first
        (
            "search-my-domain-abc123.us-east-1.es.amazonaws.com",
            Some("us-east-1"),
            Some("es"),
        ),
        (
            "abc123def456.us-east-1.aoss.amazonaws.com",
            Some("us-east-1"),
            Some("aoss"),
        ),
        // Global endpoints
        ("iam.amazonaws.com", Some("us-east-1"), Some("iam")),
        ("sts.amazonaws.com", Some("us-east-1"), Some("sts")),
        ("route53.amazonaws.com", Some("us-east-1"), Some("route53")),
        ("iam.amazonaws.com.cn", Some("cn-north-1"), Some("iam")),
        // Nothing to tell
        ("127.0.0.1", None, None),
        ("localhost", None, None),
        ("api.example.com", None, None),
        ("amazonaws.com", None, None),
        ("notamazonaws.com", None, None),
        ("example.amazonaws.com.evil.test", None, None),
        ("a..amazonaws.com", None, None),
        ("example.amazonaws.com", None, None),
        ("foo.bar.baz.amazonaws.com", None, None),
    ];

    #[test]
    fn real_world_host_names() {
        let mut failures = Vec::new();
        for (host, region, service) in HOSTS {
            let got = infer_from_host(host);
            let want = Inferred {
                region: region.map(str::to_owned),
                service: service.map(str::to_owned),
            };
            if got != want {
                failures.push(format!("{host}: got {got:?}, want {want:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "eusc-de-east-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "us-east",
            "east-1",
            "s3",
            "u-east-1",
            "us-east-x",
            "us--1",
            "US-EAST-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn given_parts_win_and_missing_parts_are_named() {
        let uri: Uri = "https://sqs.eu-west-1.amazonaws.com/".parse().unwrap();
        assert_eq!(
            resolve_scope(&uri, Some("us-west-2"), None).unwrap(),
            ("us-west-2".to_owned(), "sqs".to_owned())
        );
        let uri: Uri = "http://127.0.0.1:8080/".parse().unwrap();
        let err = resolve_scope(&uri, None, None).unwrap_err();
        assert!(err.region_missing && err.service_missing);
        assert_eq!(err.host, "127.0.0.1");
        let err = resolve_scope(&uri, Some("us-east-1"), None).unwrap_err();
        assert!(!err.region_missing && err.service_missing);
        let uri: Uri = "https://x.us-east-1.on.aws/".parse().unwrap();
        let err = resolve_scope(&uri, None, None).unwrap_err();
        assert!(!err.region_missing && err.service_missing, "{err}");
    }
}
