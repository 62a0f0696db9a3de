//! A fixed environment for unit tests, in the `lookup` shape the CLI reads variables through.

/// Looks `name` up in `pairs` (never in the real process environment).
pub(crate) fn env_of(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    }
}
