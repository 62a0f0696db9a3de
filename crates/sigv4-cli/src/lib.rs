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
