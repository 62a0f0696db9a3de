//! The parts of the `sigv4` command that other crates call: the `sigv4 sign --spec` reader and
//! signer (the fuzz targets in `fuzz/` throw input at it), with the error type and the request
//! helpers it shares with the binary's flag forms. The binary (`src/main.rs`) parses flags and
//! uses these modules; it does not compile them a second time.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod error;
pub mod request;
mod spec;

use std::io::Write;

pub use error::CliError;

/// Signs every spec of `input` (JSON specs: see `sigv4 sign --help`) and writes one JSON line per
/// spec to `out`; returns the number of lines written. A spec that cannot be signed gives an
/// `{id, error}` line and the run goes on; input that is not JSON objects stops the run with
/// [`CliError::Usage`] before any output.
pub fn sign_specs(input: &[u8], out: impl Write) -> Result<u64, CliError> {
    spec::run(input, out)
}

/// `sigv4 sign --spec PATH`: [`sign_specs`] on a file (`-` for standard input), writing to
/// standard output.
pub fn sign_spec_file(path: &str) -> Result<(), CliError> {
    spec::run_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec the suite's keys sign (aws-c-auth `get-vanilla`).
    const GOOD: &str = r#"{"id": "a", "method": "GET", "url": "http://example.amazonaws.com/",
        "access_key": "AKIDEXAMPLE", "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "region": "us-east-1", "service": "service", "timestamp": "20150830T123600Z"}"#;

    fn refused_without_output(input: &[u8]) {
        let mut out = Vec::new();
        let result = sign_specs(input, &mut out);
        assert!(
            matches!(result, Err(CliError::Usage(_))),
            "refused as a usage error: {result:?}"
        );
        assert!(
            out.is_empty(),
            "nothing written before the refusal: {}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn the_good_spec_signs() {
        let mut out = Vec::new();
        assert_eq!(sign_specs(GOOD.as_bytes(), &mut out).unwrap(), 1);
        let line = String::from_utf8(out).unwrap();
        // The suite's get-vanilla signature.
        assert!(
            line.contains("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            "{line}"
        );
    }

    /// Found by the `spec` fuzz target: bytes that are not UTF-8 inside a string of a later
    /// document passed the up-front check (which skipped strings unread), so the run wrote the
    /// earlier documents' lines and then stopped.
    #[test]
    fn fuzz_invalid_utf8_in_a_later_document_stops_the_run_before_any_output() {
        let mut input = format!("{GOOD}\n").into_bytes();
        input.extend_from_slice(br#"{"id": "b", "region": "us-east-1"#);
        input.extend_from_slice(&[0xff, 0xfe]);
        input.extend_from_slice(b"\"}\n");
        refused_without_output(&input);
    }

    /// The same for an escaped lone surrogate (`\udc00` is no character) in a later document.
    #[test]
    fn fuzz_lone_surrogate_in_a_later_document_stops_the_run_before_any_output() {
        let input = format!("{GOOD}\n{}", GOOD.replace("us-east-1", r"us-east-1\udc00"));
        refused_without_output(input.as_bytes());
        let input = format!("{GOOD}\n{}", GOOD.replace(r#""id""#, r#""\ud800id""#));
        refused_without_output(input.as_bytes());
    }
}
