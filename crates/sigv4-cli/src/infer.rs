//! Region and signing service for a URL: the flags, else what `sigv4_core::infer` tells from
//! the host name, else a usage error naming the flags to pass.

use http::Uri;

use crate::error::CliError;

/// The region and service to sign for: the flags, else what the host tells, else an error
/// naming the flags to pass.
pub(crate) fn resolve_scope(
    uri: &Uri,
    region: Option<&str>,
    service: Option<&str>,
) -> Result<(String, String), CliError> {
    sigv4_core::infer::resolve_scope(uri, region, service).map_err(|e| {
        let missing = match (e.region_missing, e.service_missing) {
            (true, true) => "--region and --service are",
            (true, false) => "--region is",
            _ => "--service is",
        };
        CliError::Usage(format!(
            "{missing} required: they cannot be told from the host {:?} \
             (for example --region us-east-1 --service execute-api)",
            e.host
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_missing_flags() {
        let uri: Uri = "http://127.0.0.1:8080/".parse().unwrap();
        let err = resolve_scope(&uri, None, None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err
            .to_string()
            .contains("--region and --service are required"));
        let err = resolve_scope(&uri, Some("us-east-1"), None).unwrap_err();
        assert!(
            err.to_string().starts_with("--service is required"),
            "{err}"
        );
        let err = resolve_scope(&uri, None, Some("execute-api")).unwrap_err();
        assert!(err.to_string().starts_with("--region is required"), "{err}");
    }
}
