//! Checking a DPoP proof (RFC 9449) as the sign-in service would: an ES256 JWT whose header
//! carries the P-256 public key (`jwk`) that verifies its signature, `typ` `dpop+jwt`, and claims
//! naming the method (`htm`), the URL (`htu`), a unique `jti` and a recent `iat`.

use base64ct::{Base64UrlUnpadded, Encoding};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

/// What a valid proof says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopClaims {
    /// `htm`.
    pub method: String,
    /// `htu`.
    pub url: String,
    /// `iat`, seconds since the epoch.
    pub issued_at: u64,
    /// `jti`.
    pub id: String,
    /// The key's `x` and `y` (base64url), identifying the key the proof was signed with.
    pub key: (String, String),
}

fn part(text: &str) -> Result<Value, String> {
    let bytes = Base64UrlUnpadded::decode_vec(text).map_err(|_| "not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|_| "not JSON".to_owned())
}

/// Checks the proof's form and signature; returns its claims (the caller checks them against the
/// request and the clock).
pub fn verify_dpop(jwt: &str) -> Result<DpopClaims, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("a DPoP proof has three parts".to_owned());
    };
    let head = part(header)?;
    if head["typ"] != "dpop+jwt" || head["alg"] != "ES256" {
        return Err("typ must be dpop+jwt and alg ES256".to_owned());
    }
    let jwk = &head["jwk"];
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err("the jwk must be an EC P-256 key".to_owned());
    }
    let coordinate = |name: &str| {
        jwk[name]
            .as_str()
            .and_then(|c| Base64UrlUnpadded::decode_vec(c).ok())
            .filter(|c| c.len() == 32)
            .ok_or_else(|| format!("the jwk's {name} is not 32 bytes of base64url"))
    };
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let point = p256::EncodedPoint::from_affine_coordinates(
        x.as_slice().into(),
        y.as_slice().into(),
        false,
    );
    let key = VerifyingKey::from_encoded_point(&point).map_err(|_| "the jwk is not on P-256")?;
    let signature = Base64UrlUnpadded::decode_vec(signature)
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or("the signature is not 64 bytes of base64url")?;
    key.verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the signature does not verify with the jwk".to_owned())?;
    let body = part(claims)?;
    let text = |name: &str| {
        body[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the claim {name} is missing"))
    };
    Ok(DpopClaims {
        method: text("htm")?,
        url: text("htu")?,
        id: text("jti")?,
        issued_at: body["iat"].as_u64().ok_or("the claim iat is missing")?,
        key: (
            jwk["x"].as_str().unwrap_or_default().to_owned(),
            jwk["y"].as_str().unwrap_or_default().to_owned(),
        ),
    })
}
