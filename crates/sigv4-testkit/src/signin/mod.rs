//! A loopback emulator of the AWS sign-in token endpoint that `aws login` sessions refresh
//! through: `POST /v1/token` with a DPoP proof, rotating refresh tokens, credentials expiring on
//! an injected clock, and fault injection.
//!
//! | request | answer |
//! | --- | --- |
//! | `{"clientId", "refreshToken", "grantType": "refresh_token"}` with a `DPoP` header that verifies ([`verify_dpop`]), names `POST` and this URL, is at most 5 minutes old by the emulator's clock and has an unused `jti`, for a registered session | `200 {"accessToken": {"accessKeyId", "secretAccessKey", "sessionToken"}, "refreshToken", "expiresIn", "tokenType"}`; the refresh token used is no longer valid |
//! | no or a bad DPoP proof | `400 invalid_dpop_proof` |
//! | an unknown client id, or a refresh token not registered or already used | `400 invalid_grant` |
//! | another grant type | `400 unsupported_grant_type` |
//!
//! Credentials are numbered `ASIASIGNIN0000000000001`, … (or the ones scripted with
//! [`SigninHandle::answer_next_with`]) and last [`SigninEmulatorBuilder::credentials_lifetime`]
//! (15 minutes by default, as the service). No credential, token or key is in any `Debug` output
//! or log line. Point a client at it with `AWS_ENDPOINT_URL_SIGNIN`.

mod dpop;
mod emulator;

pub use dpop::{verify_dpop, DpopClaims};
pub use emulator::{
    Fault, FaultRule, RequestRecord, ScriptedAnswer, SigninEmulator, SigninEmulatorBuilder,
    SigninHandle, Target,
};

/// The provider name on the credentials the accessors return.
pub const PROVIDER_NAME: &str = "signin-emulator";
