//! The credential chain a profile describes, resolved without I/O: a base (static keys, a
//! `credential_source`, a web identity token, `credential_process`, SSO) followed by zero or more
//! roles to assume, each with the previous one's credentials.
//!
//! ```
//! use sigv4_credentials::profile::{chain::{resolve, Base}, ProfileSet};
//!
//! let set = ProfileSet::from_texts(
//!     "[profile app]\nrole_arn = arn:aws:iam::111111111111:role/app\nsource_profile = ops\n\
//!      [profile ops]\nrole_arn = arn:aws:iam::222222222222:role/ops\nsource_profile = me\n",
//!     "[me]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n",
//!     "app",
//! ).unwrap();
//! let chain = resolve(&set).unwrap();
//! assert!(matches!(chain.base, Base::AccessKey { .. }));
//! let roles: Vec<_> = chain.roles.iter().map(|r| r.role_arn.as_str()).collect();
//! // Assumed in this order: ops first (with the static keys), then app.
//! assert_eq!(roles, ["arn:aws:iam::222222222222:role/ops", "arn:aws:iam::111111111111:role/app"]);
//! ```
//!
//! The walk follows the SDKs (and their shared `assume-role-tests.json`): from the selected
//! profile, a `role_arn` with `source_profile` continues at the source profile (a source profile
//! with static keys ends the walk there, even if it has a `role_arn`; a profile naming itself as
//! its source uses its own keys); a `role_arn` with `credential_source` ends at that named source;
//! a `role_arn` with `web_identity_token_file` ends at web identity. A profile seen twice is a
//! loop, an error.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{ProfileSet, Section};
use crate::sts::RoleRequest;
use crate::CredentialsError;

/// Where the first credentials of a profile chain come from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base {
    /// `aws_access_key_id` / `aws_secret_access_key` (/ `aws_session_token`) of a profile.
    AccessKey {
        /// The profile holding them.
        profile: String,
        /// The access key id.
        access_key_id: String,
        /// The secret (never shown in `Debug`).
        secret_access_key: String,
        /// The session token, if any (never shown in `Debug`).
        session_token: Option<String>,
        /// `aws_account_id`, if set.
        account_id: Option<String>,
    },
    /// `credential_source = Environment | Ec2InstanceMetadata | EcsContainer`.
    NamedSource(NamedSource),
    /// `role_arn` + `web_identity_token_file` (+ `role_session_name`).
    WebIdentity {
        /// The role to assume with the token.
        role_arn: String,
        /// The token file.
        token_file: PathBuf,
        /// `role_session_name`, if set.
        session_name: Option<String>,
    },
    /// `credential_process`.
    Process {
        /// The profile holding it.
        profile: String,
        /// The command line.
        command: String,
    },
    /// SSO (`sso_session` or the legacy `sso_start_url` form), with its settings as found (the
    /// session's `sso_start_url` and `sso_region` for the `sso_session` form).
    Sso {
        /// The profile holding it.
        profile: String,
        /// The key that selected SSO.
        key: &'static str,
        /// `sso_session`, if set.
        session_name: Option<String>,
        /// `sso_start_url`.
        start_url: Option<String>,
        /// `sso_region`.
        region: Option<String>,
        /// `sso_account_id` (none: the profile is for an SSO token, not credentials).
        account_id: Option<String>,
        /// `sso_role_name`.
        role_name: Option<String>,
    },
    /// `login_session` (`aws login`): the session's ARN.
    LoginSession {
        /// The profile holding it.
        profile: String,
        /// The `login_session` value (the ARN of the signed-in session).
        session: String,
    },
}

impl fmt::Debug for Base {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base::AccessKey {
                profile,
                access_key_id,
                account_id,
                ..
            } => f
                .debug_struct("AccessKey")
                .field("profile", profile)
                .field("access_key_id", access_key_id)
                .field("account_id", account_id)
                .finish_non_exhaustive(),
            Base::NamedSource(source) => f.debug_tuple("NamedSource").field(source).finish(),
            Base::WebIdentity {
                role_arn,
                token_file,
                session_name,
            } => f
                .debug_struct("WebIdentity")
                .field("role_arn", role_arn)
                .field("token_file", token_file)
                .field("session_name", session_name)
                .finish(),
            Base::Process { profile, .. } => f
                .debug_struct("Process")
                .field("profile", profile)
                .finish_non_exhaustive(),
            Base::Sso {
                profile,
                key,
                session_name,
                start_url,
                region,
                account_id,
                role_name,
            } => f
                .debug_struct("Sso")
                .field("profile", profile)
                .field("key", key)
                .field("session_name", session_name)
                .field("start_url", start_url)
                .field("region", region)
                .field("account_id", account_id)
                .field("role_name", role_name)
                .finish(),
            Base::LoginSession { profile, session } => f
                .debug_struct("LoginSession")
                .field("profile", profile)
                .field("session", session)
                .finish(),
        }
    }
}

/// The sources `credential_source` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedSource {
    /// `Environment`: `AWS_ACCESS_KEY_ID` and friends.
    Environment,
    /// `Ec2InstanceMetadata`: IMDS.
    Ec2InstanceMetadata,
    /// `EcsContainer`: the ECS / EKS Pod Identity container endpoint.
    EcsContainer,
}

/// One role to assume, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHop {
    /// The profile that asks for it.
    pub profile: String,
    /// The role.
    pub role_arn: String,
    /// `role_session_name`.
    pub session_name: Option<String>,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `duration_seconds`.
    pub duration: Option<Duration>,
    /// `mfa_serial` (a library cannot prompt for the code: using such a role is an error).
    pub mfa_serial: Option<String>,
}

impl RoleHop {
    /// What to send to STS for this hop.
    pub fn request(&self) -> RoleRequest {
        RoleRequest {
            role_arn: self.role_arn.clone(),
            session_name: self.session_name.clone(),
            external_id: self.external_id.clone(),
            duration: self.duration,
        }
    }
}

/// A resolved profile chain: the base, then the roles in the order they are assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileChain {
    /// Where the first credentials come from.
    pub base: Base,
    /// The roles, first assumed first (the selected profile's role is last).
    pub roles: Vec<RoleHop>,
}

/// Why a profile describes no usable chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// What is wrong, naming the profile and key.
    pub message: String,
    /// True when the selected profile simply holds no credentials (a chain moves on); false for
    /// a broken configuration.
    pub not_configured: bool,
}

impl ChainError {
    fn broken(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            not_configured: false,
        }
    }

    pub(crate) fn into_credentials_error(self, provider: &'static str) -> CredentialsError {
        if self.not_configured {
            CredentialsError::not_configured(provider, self.message)
        } else {
            CredentialsError::failed(provider, self.message)
        }
    }
}

fn value<'a>(profile: &'a Section, key: &str) -> Option<&'a str> {
    profile.get(key).map(str::trim).filter(|v| !v.is_empty())
}

/// Static keys of a profile: `Ok(None)` when it has neither key, an error when only one.
fn access_key(profile: &Section, name: &str) -> Result<Option<Base>, ChainError> {
    let id = value(profile, "aws_access_key_id");
    let secret = value(profile, "aws_secret_access_key");
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some(Base::AccessKey {
            profile: name.to_owned(),
            access_key_id: id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: value(profile, "aws_session_token").map(str::to_owned),
            account_id: value(profile, "aws_account_id").map(str::to_owned),
        })),
        (None, Some(_)) => Err(ChainError::broken(format!(
            "profile `{name}`: profile missing aws_access_key_id (it has aws_secret_access_key; set both)"
        ))),
        (Some(_), None) => Err(ChainError::broken(format!(
            "profile `{name}`: profile missing aws_secret_access_key (it has aws_access_key_id; set both)"
        ))),
    }
}

const SSO_KEYS: [&str; 4] = [
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
];

/// The base of a profile without `role_arn`.
fn leaf(set: &ProfileSet, profile: &Section, name: &str, root: bool) -> Result<Base, ChainError> {
    if value(profile, "web_identity_token_file").is_some() {
        return Err(ChainError::broken(format!(
            "profile `{name}`: `web_identity_token_file` was specified but `role_arn` was missing"
        )));
    }
    if let Some(key) = SSO_KEYS.into_iter().find(|k| value(profile, k).is_some()) {
        validate_sso(set, profile, name)?;
        let session_name = value(profile, "sso_session").map(str::to_owned);
        let session = session_name.as_deref().and_then(|s| set.sso_session(s));
        // The session's settings win; the profile's are the legacy form.
        let setting = |key: &str| {
            session
                .and_then(|s| value(s, key))
                .or_else(|| value(profile, key))
                .map(str::to_owned)
        };
        return Ok(Base::Sso {
            profile: name.to_owned(),
            key,
            start_url: setting("sso_start_url"),
            region: setting("sso_region"),
            session_name,
            account_id: value(profile, "sso_account_id").map(str::to_owned),
            role_name: value(profile, "sso_role_name").map(str::to_owned),
        });
    }
    if let Some(session) = value(profile, "login_session") {
        return Ok(Base::LoginSession {
            profile: name.to_owned(),
            session: session.to_owned(),
        });
    }
    if let Some(command) = value(profile, "credential_process") {
        return Ok(Base::Process {
            profile: name.to_owned(),
            command: command.to_owned(),
        });
    }
    if let Some(keys) = access_key(profile, name)? {
        return Ok(keys);
    }
    Err(ChainError {
        message: format!("profile `{name}` did not contain credential information (no aws_access_key_id, credential_process, role_arn, login_session or SSO keys)"),
        not_configured: root,
    })
}

/// The SDKs' checks of an SSO profile's keys.
fn validate_sso(set: &ProfileSet, profile: &Section, name: &str) -> Result<(), ChainError> {
    let account = value(profile, "sso_account_id");
    let role = value(profile, "sso_role_name");
    match (account, role) {
        (None, Some(_)) => {
            return Err(ChainError::broken(format!(
            "profile `{name}`: if `sso_role_name` is set, then `sso_account_id` must also be set"
        )))
        }
        (Some(_), None) => {
            return Err(ChainError::broken(format!(
            "profile `{name}`: if `sso_account_id` is set, then `sso_role_name` must also be set"
        )))
        }
        _ => {}
    }
    if let Some(session) = value(profile, "sso_session") {
        let Some(section) = set.sso_session(session) else {
            return Err(ChainError::broken(format!(
                "sso-session named `{session}` (referenced by profile `{name}`) was not found"
            )));
        };
        // The token cache is keyed by the session: a profile naming another start URL would use
        // the wrong sign-in.
        if let (Some(mine), Some(theirs)) = (
            value(profile, "sso_start_url"),
            value(section, "sso_start_url"),
        ) {
            if mine != theirs {
                return Err(ChainError::broken(format!(
                    "profile `{name}`: sso_start_url `{mine}` differs from `{theirs}` of the sso-session `{session}` it names; keep one"
                )));
            }
        }
        if value(profile, "sso_region").is_some() && account.is_none() {
            return Err(ChainError::broken(format!(
                "profile `{name}`: `sso_region` can only be specified in the [sso-session] config when a session name is given"
            )));
        }
    }
    Ok(())
}

fn hop(profile: &Section, name: &str, role_arn: &str) -> Result<RoleHop, ChainError> {
    let duration = match value(profile, "duration_seconds") {
        None => None,
        Some(raw) => match raw.parse::<u64>() {
            Ok(secs) if (900..=43_200).contains(&secs) => Some(Duration::from_secs(secs)),
            _ => {
                return Err(ChainError::broken(format!(
                    "profile `{name}`: duration_seconds must be a whole number from 900 to 43200, not `{raw}`"
                )))
            }
        },
    };
    Ok(RoleHop {
        profile: name.to_owned(),
        role_arn: role_arn.to_owned(),
        session_name: value(profile, "role_session_name").map(str::to_owned),
        external_id: value(profile, "external_id").map(str::to_owned),
        duration,
        mfa_serial: value(profile, "mfa_serial").map(str::to_owned),
    })
}

/// Resolves the selected profile's chain (see the module docs). No I/O.
pub fn resolve(set: &ProfileSet) -> Result<ProfileChain, ChainError> {
    if set.profiles().is_empty() {
        return Err(ChainError {
            message: "No profiles were defined".to_owned(),
            not_configured: true,
        });
    }
    let mut roles = Vec::new();
    let mut visited = HashSet::new();
    let mut name = set.selected_name().to_owned();
    let mut referenced_from: Option<String> = None;
    let base = loop {
        let Some(profile) = set.profile(&name) else {
            return Err(match &referenced_from {
                Some(from) => ChainError::broken(format!(
                    "could not find source profile {name} referenced from {from}"
                )),
                None => ChainError {
                    message: format!("profile `{name}` is not defined"),
                    not_configured: true,
                },
            });
        };
        if !visited.insert(name.clone()) {
            return Err(ChainError::broken(format!(
                "profile formed an infinite loop: {} -> {name}",
                roles
                    .iter()
                    .rev()
                    .map(|h: &RoleHop| h.profile.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )));
        }
        let root = referenced_from.is_none();
        // A source profile with static keys ends the walk, whatever else it says.
        if !root {
            if let Some(keys) = access_key(profile, &name)? {
                break keys;
            }
        }
        let Some(role_arn) = value(profile, "role_arn") else {
            break leaf(set, profile, &name, root)?;
        };
        if let Some(token_file) = value(profile, "web_identity_token_file") {
            break Base::WebIdentity {
                role_arn: role_arn.to_owned(),
                token_file: PathBuf::from(token_file),
                session_name: value(profile, "role_session_name").map(str::to_owned),
            };
        }
        let this = hop(profile, &name, role_arn)?;
        match (
            value(profile, "source_profile"),
            value(profile, "credential_source"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ChainError::broken(format!(
                    "profile `{name}`: profile contained both source_profile and credential_source; keep one"
                )))
            }
            (None, None) => {
                return Err(ChainError::broken(format!(
                    "profile `{name}` has role_arn, so the profile must contain `source_profile` or `credential_source`"
                )))
            }
            (None, Some(source)) => {
                roles.push(this);
                let named = match source {
                    "Environment" => NamedSource::Environment,
                    "Ec2InstanceMetadata" => NamedSource::Ec2InstanceMetadata,
                    "EcsContainer" => NamedSource::EcsContainer,
                    other => {
                        return Err(ChainError::broken(format!(
                            "profile `{name}`: credential_source `{other}` is not one of Environment, Ec2InstanceMetadata, EcsContainer"
                        )))
                    }
                };
                break Base::NamedSource(named);
            }
            (Some(source), None) => {
                roles.push(this);
                if source == name {
                    // Self-reference: this profile's own keys are the base.
                    match access_key(profile, &name)? {
                        Some(keys) => break keys,
                        None => {
                            return Err(ChainError::broken(format!(
                                "profile `{name}` names itself as source_profile but has no aws_access_key_id / aws_secret_access_key"
                            )))
                        }
                    }
                }
                referenced_from = Some(name);
                name = source.to_owned();
            }
        }
    };
    roles.reverse();
    Ok(ProfileChain { base, roles })
}
