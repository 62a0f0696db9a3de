//! The shared AWS config and credentials files, and the [`Profile`] credentials provider.
//!
//! - [`parse`] reads one file's text by the SDKs' rules (a pure function, driven by the shared test
//!   vectors): `[profile name]` in `config`, `[name]` in `credentials`, `[profile default]` beats
//!   `[default]` in `config`, `#`/`;` comments (inside a value only after whitespace), indented
//!   continuation lines and sub-properties, case-insensitive keys; sections and properties with
//!   invalid names are skipped, real syntax errors are errors naming the line.
//! - [`ProfileSet::load`] finds the files ([`FileLocations`]), parses both and merges them
//!   (credentials-file values win), and remembers the selected profile.
//! - [`Profile`] gives credentials from the selected profile: static keys or `credential_process`.
//!
//! ```
//! use sigv4_credentials::profile::ProfileSet;
//!
//! let set = ProfileSet::from_texts(
//!     "[profile dev]\nregion = eu-west-1\n",
//!     "[dev]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI\n",
//!     "dev",
//! )
//! .unwrap();
//! assert_eq!(set.selected_name(), "dev");
//! assert_eq!(set.get("region"), Some("eu-west-1"));
//! assert_eq!(set.get("AWS_ACCESS_KEY_ID"), Some("AKIDEXAMPLE"));
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::{CredentialsError, Env};

pub mod chain;
mod location;
mod parser;
mod provider;

pub use location::{
    FileLocations, Platform, CONFIG_FILE_ENV, CREDENTIALS_FILE_ENV, DEFAULT_PROFILE, PROFILE_ENV,
};
pub use parser::{parse, FileKind, ParseError, ParseErrorKind, ProfileFile, Section};
pub use provider::{Profile, ProfileBuilder, PROVIDER_NAME};

/// The merged contents of the shared config and credentials files, with the selected profile.
///
/// `Debug` redacts secret-looking values.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    profiles: BTreeMap<String, Section>,
    sso_sessions: BTreeMap<String, Section>,
    services: BTreeMap<String, Section>,
    selected: String,
    locations: Option<FileLocations>,
    files_found: usize,
}

impl ProfileSet {
    /// Finds, reads and merges the shared files (see [`FileLocations`] for where they are looked
    /// for). `profile_override` wins over `AWS_PROFILE`.
    ///
    /// A missing file counts as empty. A file that exists but cannot be read, is not UTF-8 or has
    /// a syntax error gives [`CredentialsError::Failed`] naming the file (and the line).
    pub fn load(env: &Env, profile_override: Option<&str>) -> Result<ProfileSet, CredentialsError> {
        let locations = FileLocations::resolve(env, profile_override);
        Self::load_from(locations)
    }

    /// Like [`ProfileSet::load`], from already resolved locations.
    pub fn load_from(locations: FileLocations) -> Result<ProfileSet, CredentialsError> {
        let mut files_found = 0;
        let mut read =
            |path: Option<&Path>, kind: FileKind| -> Result<ProfileFile, CredentialsError> {
                let Some(path) = path else {
                    return Ok(ProfileFile::default());
                };
                match read_file(path, kind)? {
                    Some(file) => {
                        files_found += 1;
                        Ok(file)
                    }
                    None => Ok(ProfileFile::default()),
                }
            };
        let config = read(locations.config_file(), FileKind::Config)?;
        let credentials = read(locations.credentials_file(), FileKind::Credentials)?;
        let mut set = Self::from_files(config, credentials, locations.profile_name());
        set.files_found = files_found;
        set.locations = Some(locations);
        Ok(set)
    }

    /// Merges two parsed files: profiles with the same name are merged, and a property set in
    /// both takes the credentials file's value.
    pub fn from_files(config: ProfileFile, credentials: ProfileFile, selected: &str) -> ProfileSet {
        let mut profiles = config.profiles;
        for (name, section) in &credentials.profiles {
            profiles
                .entry(name.clone())
                .or_default()
                .merge_from(section);
        }
        ProfileSet {
            profiles,
            sso_sessions: config.sso_sessions,
            services: config.services,
            selected: selected.to_owned(),
            locations: None,
            files_found: 0,
        }
    }

    /// Parses and merges the two files' texts (pure; errors name `"config"` or `"credentials"`).
    pub fn from_texts(
        config: &str,
        credentials: &str,
        selected: &str,
    ) -> Result<ProfileSet, ParseError> {
        Ok(Self::from_files(
            parse(FileKind::Config, config)?,
            parse(FileKind::Credentials, credentials)?,
            selected,
        ))
    }

    /// The selected profile's name (the override, else `AWS_PROFILE`, else `"default"`).
    pub fn selected_name(&self) -> &str {
        &self.selected
    }

    /// The selected profile, if either file defines it.
    pub fn selected(&self) -> Option<&Section> {
        self.profiles.get(&self.selected)
    }

    /// A property of the selected profile (key matched case-insensitively).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.selected()?.get(key)
    }

    /// Any profile by name (names are case-sensitive).
    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.profiles.get(name)
    }

    /// All profiles, by name.
    pub fn profiles(&self) -> &BTreeMap<String, Section> {
        &self.profiles
    }

    /// An `[sso-session name]` section of the config file.
    pub fn sso_session(&self, name: &str) -> Option<&Section> {
        self.sso_sessions.get(name)
    }

    /// All `[sso-session name]` sections, by name.
    pub fn sso_sessions(&self) -> &BTreeMap<String, Section> {
        &self.sso_sessions
    }

    /// A `[services name]` section of the config file.
    pub fn services(&self, name: &str) -> Option<&Section> {
        self.services.get(name)
    }

    /// True when no profile is defined at all.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Where the files were looked for (`None` when built from texts).
    pub fn locations(&self) -> Option<&FileLocations> {
        self.locations.as_ref()
    }

    /// How many of the two files exist (0 when built from texts).
    pub fn files_found(&self) -> usize {
        self.files_found
    }
}

/// Reads and parses one file; `Ok(None)` when it does not exist.
fn read_file(path: &Path, kind: FileKind) -> Result<Option<ProfileFile>, CredentialsError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = %path.display(), "profile file not found");
            return Ok(None);
        }
        Err(e) => {
            return Err(CredentialsError::failed_with(
                PROVIDER_NAME,
                format!(
                    "could not read the shared {kind} file {}: {e}",
                    path.display()
                ),
                e,
            ))
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        CredentialsError::failed(
            PROVIDER_NAME,
            format!(
                "could not parse profile file {} line {line}: not valid UTF-8",
                path.display()
            ),
        )
    })?;
    let text = zeroize::Zeroizing::new(text);
    match parse(kind, &text) {
        Ok(file) => Ok(Some(file)),
        Err(e) => {
            let e = e.with_file(path.display().to_string());
            Err(CredentialsError::failed_with(
                PROVIDER_NAME,
                format!("{e}; fix or remove that line"),
                e,
            ))
        }
    }
}
