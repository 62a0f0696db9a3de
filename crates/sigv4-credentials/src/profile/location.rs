//! Where the shared files live and which profile is selected.

use std::fmt;
use std::path::PathBuf;

use crate::Env;

/// The variable that moves the shared config file.
pub const CONFIG_FILE_ENV: &str = "AWS_CONFIG_FILE";
/// The variable that moves the shared credentials file.
pub const CREDENTIALS_FILE_ENV: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// The variable that selects the profile.
pub const PROFILE_ENV: &str = "AWS_PROFILE";
/// The profile used when nothing selects another.
pub const DEFAULT_PROFILE: &str = "default";

/// Path rules to apply: the running platform's, or another one (for tests and tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// `/` separates path parts.
    Unix,
    /// `\` separates path parts.
    Windows,
}

impl Platform {
    /// The platform this program runs on.
    pub fn current() -> Self {
        if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Unix
        }
    }

    fn separator(self) -> char {
        match self {
            Platform::Unix => '/',
            Platform::Windows => '\\',
        }
    }
}

/// Where the shared config and credentials files are expected, and the selected profile name.
///
/// Rules (the SDKs'): `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` if set (a leading `~` is the
/// home directory), else `<home>/.aws/config` / `<home>/.aws/credentials`, where home is `HOME`, then
/// `USERPROFILE`, then `HOMEDRIVE` + `HOMEPATH`. A location is `None` only when it needs a home
/// directory and none is known. The profile is the override, else `AWS_PROFILE`, else `"default"`.
///
/// ```
/// use sigv4_credentials::profile::{FileLocations, Platform};
/// use sigv4_credentials::Env;
///
/// let env = Env::from_pairs([("HOME", "/home/me"), ("AWS_CONFIG_FILE", "~/work/config")]);
/// let at = FileLocations::resolve_for(&env, None, Platform::Unix);
/// assert_eq!(at.config_file().unwrap().to_str(), Some("/home/me/work/config"));
/// assert_eq!(at.credentials_file().unwrap().to_str(), Some("/home/me/.aws/credentials"));
/// assert_eq!(at.profile_name(), "default");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLocations {
    config: Option<PathBuf>,
    credentials: Option<PathBuf>,
    profile: String,
}

impl FileLocations {
    /// The locations for the running platform. `profile_override` (a builder's profile name) wins
    /// over `AWS_PROFILE`.
    pub fn resolve(env: &Env, profile_override: Option<&str>) -> Self {
        Self::resolve_for(env, profile_override, Platform::current())
    }

    /// The locations as they would be on `platform`.
    pub fn resolve_for(env: &Env, profile_override: Option<&str>, platform: Platform) -> Self {
        let home = env.home_dir().and_then(|h| h.to_str().map(str::to_owned));
        let sep = platform.separator();
        let locate = |var: &str, file: &str| -> Option<PathBuf> {
            match env.get_non_blank(var) {
                Some(path) => expand_home(path.trim(), home.as_deref(), platform),
                None => home
                    .as_deref()
                    .map(|h| PathBuf::from(format!("{}{sep}.aws{sep}{file}", trim_sep(h)))),
            }
        };
        let profile = profile_override
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .or_else(|| env.get_non_blank(PROFILE_ENV).map(|p| p.trim().to_owned()))
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        Self {
            config: locate(CONFIG_FILE_ENV, "config"),
            credentials: locate(CREDENTIALS_FILE_ENV, "credentials"),
            profile,
        }
    }

    /// The config file's location.
    pub fn config_file(&self) -> Option<&std::path::Path> {
        self.config.as_deref()
    }

    /// The credentials file's location.
    pub fn credentials_file(&self) -> Option<&std::path::Path> {
        self.credentials.as_deref()
    }

    /// The selected profile's name.
    pub fn profile_name(&self) -> &str {
        &self.profile
    }
}

impl fmt::Display for FileLocations {
    /// "config file /x/config and credentials file /x/credentials" (for messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |p: &Option<PathBuf>| match p {
            Some(p) => p.display().to_string(),
            None => "(no home directory known)".to_owned(),
        };
        write!(
            f,
            "config file {} and credentials file {}",
            show(&self.config),
            show(&self.credentials)
        )
    }
}

fn trim_sep(home: &str) -> &str {
    let trimmed = home.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        home
    } else {
        trimmed
    }
}

/// `~`, `~/x` (and `~\x` on Windows) are relative to the home directory; anything else is as given.
fn expand_home(path: &str, home: Option<&str>, platform: Platform) -> Option<PathBuf> {
    let rest = if path == "~" {
        Some("")
    } else if let Some(rest) = path.strip_prefix("~/") {
        Some(rest)
    } else if platform == Platform::Windows {
        path.strip_prefix("~\\")
    } else {
        None
    };
    match rest {
        None => Some(PathBuf::from(path)),
        Some(rest) => {
            let home = home?;
            if rest.is_empty() {
                return Some(PathBuf::from(home));
            }
            let sep = platform.separator();
            let rest: String = match platform {
                Platform::Windows => rest.replace('/', "\\"),
                Platform::Unix => rest.to_owned(),
            };
            Some(PathBuf::from(format!("{}{sep}{rest}", trim_sep(home))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_needs_a_home() {
        let env = Env::from_pairs([("AWS_CONFIG_FILE", "~/c")]);
        let at = FileLocations::resolve_for(&env, None, Platform::Unix);
        assert_eq!(at.config_file(), None);
        assert_eq!(at.credentials_file(), None);
    }

    #[test]
    fn tilde_on_windows_accepts_both_separators() {
        let env = Env::from_pairs([("USERPROFILE", "C:\\u"), ("AWS_CONFIG_FILE", "~/a/b")]);
        let at = FileLocations::resolve_for(&env, Some("x"), Platform::Windows);
        assert_eq!(at.config_file().unwrap().to_str(), Some("C:\\u\\a\\b"));
        assert_eq!(at.profile_name(), "x");
    }

    #[test]
    fn user_names_after_tilde_are_not_expanded() {
        let env = Env::from_pairs([("HOME", "/h"), ("AWS_CONFIG_FILE", "~bob/c")]);
        let at = FileLocations::resolve_for(&env, None, Platform::Unix);
        assert_eq!(at.config_file().unwrap().to_str(), Some("~bob/c"));
    }
}
