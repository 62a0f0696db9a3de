//! `sigv4`: sign and presign HTTP requests with AWS Signature Version 4.
//!
//! ```text
//! sigv4 sign --spec FILE|-                      JSON specs in, one JSON line per spec out
//! sigv4 sign [flags] URL                        sign one request, show how
//! sigv4 presign [flags] [--expires S] URL       presign one request, show how
//! sigv4 curl [curl-like flags] URL              send a signed request (awscurl replacement)
//! sigv4 credentials [--export | --json]         which credentials the default chain finds
//! sigv4 proxy --upstream URL [flags]            a signing reverse proxy (a sidecar)
//! ```
//!
//! Exit codes: see [`cli::EXIT_CODES`].
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod cli;
mod creds;
mod curl;
mod human;
mod infer;
mod net;
mod proxy;
#[cfg(test)]
mod test_env;
mod upload;

use std::process::ExitCode;

use clap::Parser;
// The library's modules, reachable as `crate::error` / `crate::request` from the binary's own.
use sigv4_cli::{error, request};

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigv4: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Sign(args) => match (&args.spec, &args.url) {
            (Some(path), _) => sigv4_cli::sign_spec_file(path),
            (None, Some(url)) => {
                runtime()?.block_on(human::run(url, &args.request, &args.credentials, None))
            }
            // clap requires one of the two; kept as an error rather than a panic.
            (None, None) => Err(CliError::Usage("give a URL or --spec FILE".to_owned())),
        },
        Command::Presign(args) => runtime()?.block_on(human::run(
            &args.url,
            &args.request,
            &args.credentials,
            Some(args.expires),
        )),
        Command::Curl(args) => runtime()?.block_on(curl::run(args)),
        Command::Credentials(args) => {
            let mut out = std::io::stdout().lock();
            runtime()?.block_on(creds::run(args, &mut out))
        }
        Command::Proxy(args) => proxy::run(args),
    }
}

/// A single-threaded runtime: one request at a time.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Network(format!("cannot start the I/O runtime: {e}")))
}
