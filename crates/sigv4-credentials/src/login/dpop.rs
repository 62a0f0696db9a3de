//! DPoP proofs (RFC 9449) for the sign-in token refresh: a JWT signed with ES256 by the key the
//! CLI created at `aws login` (cached as a SEC1 or PKCS #8 PEM), naming the method and URL.

use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey;
use p256::SecretKey;

/// The cached key, parsed; the secret scalar is wiped when dropped (p256's `SecretKey`).
pub(crate) struct DpopKey {
    signing: SigningKey,
    x: String,
    y: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").finish_non_exhaustive()
    }
}

impl DpopKey {
    /// Reads a PEM `EC PRIVATE KEY` (SEC1) or `PRIVATE KEY` (PKCS #8) on P-256. The error never
    /// quotes the key.
    pub(crate) fn from_pem(pem: &str) -> Result<DpopKey, &'static str> {
        let secret = SecretKey::from_sec1_pem(pem)
            .or_else(|_| SecretKey::from_pkcs8_pem(pem))
            .map_err(|_| "the dpopKey is not a P-256 private key in PEM (SEC1 or PKCS #8)")?;
        let point = secret.public_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err("the dpopKey's public point is not usable");
        };
        Ok(DpopKey {
            x: Base64UrlUnpadded::encode_string(x),
            y: Base64UrlUnpadded::encode_string(y),
            signing: SigningKey::from(&secret),
        })
    }

    /// A proof for `method` `url` at `iat` (seconds since the epoch), with a random `jti`.
    pub(crate) fn proof(&self, method: &str, url: &str, iat: u64) -> String {
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": {"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y},
        });
        let jti = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let claims = serde_json::json!({"jti": jti, "htm": method, "htu": url, "iat": iat});
        let mut jwt = Base64UrlUnpadded::encode_string(header.to_string().as_bytes());
        jwt.push('.');
        jwt.push_str(&Base64UrlUnpadded::encode_string(
            claims.to_string().as_bytes(),
        ));
        let signature: Signature = self.signing.sign(jwt.as_bytes());
        jwt.push('.');
        jwt.push_str(&Base64UrlUnpadded::encode_string(&signature.to_bytes()));
        jwt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    // The throwaway test key of the SDKs' login-provider-test-cases.json.
    const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPt/u8InPLpQeQLJTvVX+sNDzni8vMDMt3Liu+nMBigfoAoGCCqGSM49\nAwEHoUQDQgAEILkGG7rNOnxiIJlMgimY1UPP8eDMFP0DAY6WGjngP4bvTAiUCQ/I\nffut2379uP+OBCm2ovGpBOJRgrl1RspUOQ==\n-----END EC PRIVATE KEY-----\n";

    #[test]
    fn a_proof_verifies_with_the_key_in_its_header() {
        let key = DpopKey::from_pem(KEY).unwrap();
        let jwt = key.proof(
            "POST",
            "https://us-east-1.signin.aws.amazon.com/v1/token",
            1_763_510_400,
        );
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["iat"], 1_763_510_400);
        let x = Base64UrlUnpadded::decode_vec(header["jwk"]["x"].as_str().unwrap()).unwrap();
        let y = Base64UrlUnpadded::decode_vec(header["jwk"]["y"].as_str().unwrap()).unwrap();
        let point = p256::EncodedPoint::from_affine_coordinates(
            x.as_slice().into(),
            y.as_slice().into(),
            false,
        );
        let verifying = VerifyingKey::from_encoded_point(&point).unwrap();
        let signature =
            Signature::from_slice(&Base64UrlUnpadded::decode_vec(parts[2]).unwrap()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        verifying.verify(input.as_bytes(), &signature).unwrap();
        // A changed claim no longer verifies.
        assert!(verifying
            .verify(format!("{input}x").as_bytes(), &signature)
            .is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_key() {
        let key = DpopKey::from_pem(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "DpopKey { .. }");
        let err = DpopKey::from_pem(
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(!err.contains("MHcCAQEE"));
    }
}
