//! Region and service from a URL's host name.

use http::Uri;

/// The region and signing service for `uri` when its host tells them
/// (`sqs.eu-west-1.amazonaws.com` -> `("eu-west-1", "sqs")`).
///
/// Not written yet (a later issue): always `None`, so `--region` and `--service` are required.
/// Flags given by the user always win over what this returns.
pub(crate) fn infer_region_service(uri: &Uri) -> Option<(String, String)> {
    let _ = uri;
    None
}
