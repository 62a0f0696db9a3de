//! The credentials the emulators hand out: numbered, deterministic, told apart by a tag.

use std::time::SystemTime;

use sigv4_core::Credentials;

/// The `number`-th credentials of an emulator: access key id `ASIA<TAG>` followed by the number
/// in 13 digits (20 characters, like AWS's), a 40-character secret and a session token with `/`,
/// `+` and `=` in it (so that clients must encode it right), all three derived from the tag and
/// the number only.
pub(crate) fn numbered_credentials(
    tag: &str,
    number: u64,
    expiry: SystemTime,
    provider: &'static str,
) -> Credentials {
    let lower = tag.to_ascii_lowercase();
    Credentials::builder(
        format!("ASIA{tag}{number:013}"),
        format!("{lower}SecretKey/{number:013}/{}", "x".repeat(13)),
    )
    .session_token(format!(
        "IQoJ{lower}SessionToken{number:013}//EMULATED+TOKEN="
    ))
    .expiry(expiry)
    .provider_name(provider)
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn shapes() {
        let creds = numbered_credentials("EMU", 2, UNIX_EPOCH, "p");
        assert_eq!(creds.access_key_id(), "ASIAEMU0000000000002");
        assert_eq!(
            creds.secret_access_key(),
            "emuSecretKey/0000000000002/xxxxxxxxxxxxx"
        );
        assert_eq!(creds.secret_access_key().len(), 40);
        assert_eq!(
            creds.session_token(),
            Some("IQoJemuSessionToken0000000000002//EMULATED+TOKEN=")
        );
        assert_eq!(creds.expiry(), Some(UNIX_EPOCH));
        assert_eq!(creds.provider_name(), "p");
    }
}
