//! The shared config / credentials file parser: a pure function over (file kind, text).
//!
//! Two steps, as in the SDKs: [`parse_raw`] reads the text into sections and properties (this is
//! where syntax errors are found, even inside sections that are later ignored), then [`normalize`]
//! decides which sections count for which file kind (`[profile x]` in `config`, `[x]` in
//! `credentials`, `[default]` against `[profile default]`, `[sso-session x]`, `[services x]`) and
//! drops invalid names.

use std::collections::BTreeMap;
use std::fmt;

/// Which of the two shared files a text comes from; the section rules differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The shared config file (`~/.aws/config`): profiles are `[profile name]`, plus `[default]`,
    /// `[sso-session name]` and `[services name]`.
    Config,
    /// The shared credentials file (`~/.aws/credentials`): profiles are `[name]`.
    Credentials,
}

impl FileKind {
    /// `"config"` or `"credentials"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Credentials => "credentials",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a line. The messages never quote the line (it may hold a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A `[` line without its closing `]`.
    UnterminatedSection,
    /// A property or continuation line before any `[section]`.
    PropertyOutsideSection,
    /// An indented (continuation) line right after a section header.
    ContinuationOutsideProperty,
    /// A property line without `=`.
    MissingEquals,
    /// A property line whose name is empty (`= value`).
    EmptyPropertyName,
    /// A sub-property line (indented, under `key =`) without `=`.
    MissingSubPropertyEquals,
    /// A sub-property line whose name is empty.
    EmptySubPropertyName,
}

impl ParseErrorKind {
    /// The human-readable description (the wording the shared test vectors look for).
    pub fn message(self) -> &'static str {
        match self {
            Self::UnterminatedSection => "Profile definition must end with ']'",
            Self::PropertyOutsideSection => {
                "Expected a profile definition before this line (like `[profile name]` or `[name]`)"
            }
            Self::ContinuationOutsideProperty => {
                "Expected a property definition, found continuation (an indented line)"
            }
            Self::MissingEquals => "Expected an '=' sign defining a property",
            Self::EmptyPropertyName => "Property did not have a name",
            Self::MissingSubPropertyEquals => "Expected an '=' sign defining a sub-property",
            Self::EmptySubPropertyName => "Sub-property did not have a name",
        }
    }
}

/// A syntax error in a profile file: where (file and 1-based line) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    file: String,
    line: usize,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(file: impl Into<String>, line: usize, kind: ParseErrorKind) -> Self {
        Self {
            file: file.into(),
            line,
            kind,
        }
    }

    /// The file: its path when loaded from disk, else `"config"` / `"credentials"`.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line number.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    pub(crate) fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not parse profile file {} line {}: {}",
            self.file,
            self.line,
            self.kind.message()
        )
    }
}

impl std::error::Error for ParseError {}

/// One `[...]` section as written: the trimmed text between the brackets and its properties in
/// file order (keys lower-cased).
#[derive(Clone)]
pub(crate) struct RawSection {
    pub(crate) header: String,
    pub(crate) properties: Vec<(String, String)>,
}

/// The properties of one section (a profile, an sso-session or a services block).
///
/// Keys are ASCII lower-case (lookups are case-insensitive); values are trimmed; a value written
/// over several lines keeps its lines joined with `\n`. A property with sub-properties
/// (`s3 =` followed by indented `key = value` lines) has them as its raw value (`"\nkey = value"`);
/// read them with [`Section::sub_property`] / [`Section::sub_properties`].
///
/// `Debug` shows the keys, and the values only of keys that are not secret-looking.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Section {
    properties: BTreeMap<String, String>,
}

impl Section {
    /// A property's value; `key` is matched case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        if key.bytes().any(|b| b.is_ascii_uppercase()) {
            self.properties
                .get(&key.to_ascii_lowercase())
                .map(String::as_str)
        } else {
            self.properties.get(key).map(String::as_str)
        }
    }

    /// True when the property is present (even with an empty value).
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// All properties, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// True when the section has no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The sub-properties of `key` (`s3 =` then indented `name = value` lines), in file order,
    /// names and values trimmed. `None` when `key` is absent; a plain value gives an empty list.
    pub fn sub_properties(&self, key: &str) -> Option<Vec<(&str, &str)>> {
        let value = self.get(key)?;
        Some(
            value
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, _)| !k.is_empty())
                .collect(),
        )
    }

    /// One sub-property (`s3 =` then `  max_concurrent_requests = 10`); the last one wins when
    /// repeated. The sub-property name is matched case-insensitively.
    pub fn sub_property(&self, key: &str, sub_key: &str) -> Option<&str> {
        self.sub_properties(key)?
            .into_iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(sub_key))
            .map(|(_, v)| v)
    }

    pub(crate) fn insert(&mut self, key: String, value: String) {
        self.properties.insert(key, value);
    }

    pub(crate) fn merge_from(&mut self, other: &Section) {
        for (k, v) in &other.properties {
            self.properties.insert(k.clone(), v.clone());
        }
    }
}

/// True for keys whose values must not be printed.
pub(crate) fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("secret")
        || key.contains("token")
        || key.contains("password")
        || key == "credential_process"
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.properties {
            if is_sensitive_key(k) {
                map.entry(k, &"** redacted **");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// One parsed and normalized file: its profiles, sso-sessions and services sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFile {
    pub(crate) profiles: BTreeMap<String, Section>,
    pub(crate) sso_sessions: BTreeMap<String, Section>,
    pub(crate) services: BTreeMap<String, Section>,
}

impl ProfileFile {
    /// The profiles, by name.
    pub fn profiles(&self) -> &BTreeMap<String, Section> {
        &self.profiles
    }

    /// The `[sso-session name]` sections (config file only), by name.
    pub fn sso_sessions(&self) -> &BTreeMap<String, Section> {
        &self.sso_sessions
    }

    /// The `[services name]` sections (config file only), by name.
    pub fn services(&self) -> &BTreeMap<String, Section> {
        &self.services
    }
}

/// Parses one file's text by the SDKs' rules. Pure: no I/O, no environment.
///
/// Errors name the file as `"config"` or `"credentials"` and the 1-based line.
///
/// ```
/// use sigv4_credentials::profile::{parse, FileKind};
///
/// let file = parse(FileKind::Config, "[profile dev]\nRegion = eu-west-1 # comment\n").unwrap();
/// assert_eq!(file.profiles()["dev"].get("region"), Some("eu-west-1"));
///
/// let err = parse(FileKind::Config, "[profile dev]\nregion eu-west-1\n").unwrap_err();
/// assert_eq!(err.line(), 2);
/// ```
pub fn parse(kind: FileKind, text: &str) -> Result<ProfileFile, ParseError> {
    let raw = parse_raw(text).map_err(|(line, k)| ParseError::new(kind.as_str(), line, k))?;
    Ok(normalize(kind, &raw))
}

/// Where a continuation line goes.
enum State {
    /// Before the first section header.
    Start,
    /// Right after a header, no property yet.
    InSection,
    /// After a property line; `sub` when its value was empty (so indented lines are
    /// sub-properties).
    InProperty { sub: bool },
}

/// Step one: sections and properties as written. Errors are (1-based line, kind).
pub(crate) fn parse_raw(text: &str) -> Result<Vec<RawSection>, (usize, ParseErrorKind)> {
    let mut sections: Vec<RawSection> = Vec::new();
    let mut state = State::Start;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let header = strip_comment(line, false).trim_end();
            let inner = header
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .ok_or((line_no, ParseErrorKind::UnterminatedSection))?;
            sections.push(RawSection {
                header: inner.trim().to_owned(),
                properties: Vec::new(),
            });
            state = State::InSection;
            continue;
        }
        let section = match sections.last_mut() {
            Some(section) => section,
            None => return Err((line_no, ParseErrorKind::PropertyOutsideSection)),
        };
        if line.starts_with(' ') || line.starts_with('\t') {
            let content = line.trim();
            match state {
                State::Start => return Err((line_no, ParseErrorKind::PropertyOutsideSection)),
                State::InSection => {
                    return Err((line_no, ParseErrorKind::ContinuationOutsideProperty))
                }
                State::InProperty { sub } => {
                    if sub {
                        let (name, _) = content
                            .split_once('=')
                            .ok_or((line_no, ParseErrorKind::MissingSubPropertyEquals))?;
                        if name.trim().is_empty() {
                            return Err((line_no, ParseErrorKind::EmptySubPropertyName));
                        }
                    }
                    if let Some((_, value)) = section.properties.last_mut() {
                        value.push('\n');
                        value.push_str(content);
                    }
                }
            }
            continue;
        }
        let content = strip_comment(line, true);
        let (name, value) = content
            .split_once('=')
            .ok_or((line_no, ParseErrorKind::MissingEquals))?;
        let name = name.trim();
        if name.is_empty() {
            return Err((line_no, ParseErrorKind::EmptyPropertyName));
        }
        let value = value.trim();
        section
            .properties
            .push((name.to_ascii_lowercase(), value.to_owned()));
        state = State::InProperty {
            sub: value.is_empty(),
        };
    }
    Ok(sections)
}

/// Cuts a `#` or `;` comment. In property lines a comment starts only after whitespace
/// (`value;x` keeps its `;`); in section lines anywhere.
fn strip_comment(line: &str, needs_whitespace: bool) -> &str {
    let mut previous_is_space = false;
    for (i, c) in line.char_indices() {
        if (c == '#' || c == ';') && (!needs_whitespace || previous_is_space) {
            return &line[..i];
        }
        previous_is_space = c == ' ' || c == '\t';
    }
    line
}

/// Profile, sso-session, services and property names: ASCII letters, digits and `-/.%@_:+`.
pub(crate) fn is_valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '.' | '%' | '@' | '_' | ':' | '+')
        })
}

/// `"profile  foo"` with prefix `"profile"` gives `Some("foo")`; `"profilefoo"` gives `None`.
fn strip_keyword<'a>(header: &'a str, keyword: &str) -> Option<&'a str> {
    let rest = header.strip_prefix(keyword)?;
    if rest.starts_with(' ') || rest.starts_with('\t') {
        Some(rest.trim())
    } else {
        None
    }
}

enum Target<'a> {
    Profile(&'a str),
    /// `[default]` in the config file: loses to any `[profile default]` in the same file.
    BareDefault,
    SsoSession(&'a str),
    Services(&'a str),
    Ignored(&'static str),
}

fn classify(kind: FileKind, header: &str) -> Target<'_> {
    let target = match kind {
        FileKind::Credentials => Target::Profile(header),
        FileKind::Config => {
            if let Some(name) = strip_keyword(header, "profile") {
                Target::Profile(name)
            } else if let Some(name) = strip_keyword(header, "sso-session") {
                Target::SsoSession(name)
            } else if let Some(name) = strip_keyword(header, "services") {
                Target::Services(name)
            } else if header == "default" {
                Target::BareDefault
            } else {
                Target::Ignored("config file sections must be `[profile name]` or `[default]`")
            }
        }
    };
    let name = match &target {
        Target::Profile(n) | Target::SsoSession(n) | Target::Services(n) => n,
        Target::BareDefault | Target::Ignored(_) => return target,
    };
    if is_valid_identifier(name) {
        target
    } else {
        Target::Ignored("invalid name (allowed: letters, digits and - / . % @ _ : +)")
    }
}

/// Step two: which sections count, merged by name (later properties win).
pub(crate) fn normalize(kind: FileKind, raw: &[RawSection]) -> ProfileFile {
    let has_prefixed_default = kind == FileKind::Config
        && raw
            .iter()
            .any(|s| strip_keyword(&s.header, "profile") == Some("default"));
    let mut file = ProfileFile::default();
    for section in raw {
        let (map, name) = match classify(kind, &section.header) {
            Target::Profile(name) => (&mut file.profiles, name),
            Target::BareDefault if has_prefixed_default => {
                tracing::debug!(
                    "ignoring [default] in the config file: [profile default] takes precedence"
                );
                continue;
            }
            Target::BareDefault => (&mut file.profiles, "default"),
            Target::SsoSession(name) => (&mut file.sso_sessions, name),
            Target::Services(name) => (&mut file.services, name),
            Target::Ignored(why) => {
                tracing::warn!(file = kind.as_str(), section = %section.header, "ignoring profile file section: {why}");
                continue;
            }
        };
        let entry = map.entry(name.to_owned()).or_default();
        for (key, value) in &section.properties {
            if is_valid_identifier(key) {
                entry.insert(key.clone(), value.clone());
            } else {
                tracing::warn!(file = kind.as_str(), section = %section.header, "ignoring property with an invalid name");
            }
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_needs_whitespace_in_values_only() {
        assert_eq!(strip_comment("a = b;c ;d", true), "a = b;c ");
        assert_eq!(strip_comment("[x];c", false), "[x]");
        assert_eq!(strip_comment("a = b", true), "a = b");
    }

    #[test]
    fn sub_properties_are_readable() {
        let file = parse(
            FileKind::Config,
            "[profile a]\ns3 =\n  max_concurrent_requests = 10\n  Addressing_Style = path\n",
        )
        .unwrap();
        let profile = &file.profiles()["a"];
        assert_eq!(profile.sub_property("s3", "addressing_style"), Some("path"));
        assert_eq!(profile.sub_properties("s3").unwrap().len(), 2);
        assert_eq!(profile.sub_property("s3", "missing"), None);
    }

    #[test]
    fn debug_redacts_secret_values() {
        let file = parse(
            FileKind::Credentials,
            "[a]\naws_access_key_id = AKID\naws_secret_access_key = SUPERSECRET\naws_session_token = TOKENVALUE\n",
        )
        .unwrap();
        let text = format!("{file:?}");
        assert!(text.contains("AKID"));
        assert!(!text.contains("SUPERSECRET"));
        assert!(!text.contains("TOKENVALUE"));
    }

    #[test]
    fn errors_do_not_quote_the_line() {
        let err = parse(
            FileKind::Credentials,
            "[a]\naws_secret_access_key SUPERSECRET\n",
        )
        .unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(!err.to_string().contains("SUPERSECRET"));
    }

    #[test]
    fn services_sections_are_kept() {
        let file = parse(
            FileKind::Config,
            "[services dev]\ns3 =\n  endpoint_url = http://localhost\n",
        )
        .unwrap();
        assert_eq!(
            file.services()["dev"].sub_property("s3", "endpoint_url"),
            Some("http://localhost")
        );
    }
}
