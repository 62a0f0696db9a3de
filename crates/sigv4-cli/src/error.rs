//! Why the command stopped, and its exit code.

use std::io;

/// A failure that ends the command: one line on stderr and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line or an input file is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The signer refused the request (exit 3).
    #[error("cannot sign: {0}")]
    Signing(String),
    /// No credentials were given (exit 4).
    #[error("{0}")]
    NoCredentials(String),
    /// The request could not be sent or the response not read: name resolution, connection,
    /// TLS, proxy, timeout (exit 5).
    #[error("{0}")]
    Network(String),
    /// The server answered 400 or above and `--fail` / `--fail-with-body` was given (exit 6).
    #[error("the server answered {0}")]
    HttpStatus(http::StatusCode),
    /// A redirect was not followed (exit 7).
    #[error("{0}")]
    Redirect(String),
    /// Writing the output failed (exit 1).
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

impl CliError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Output(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Signing(_) => 3,
            CliError::NoCredentials(_) => 4,
            CliError::Network(_) => 5,
            CliError::HttpStatus(_) => 6,
            CliError::Redirect(_) => 7,
        }
    }

    /// True when the reader of our output went away (`sigv4 ... | head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

impl From<sigv4_credentials::CredentialsError> for CliError {
    /// One line: the chain's list of sources tried is joined with `; `.
    fn from(e: sigv4_credentials::CredentialsError) -> Self {
        let text = e.to_string();
        let line = text
            .lines()
            .map(|l| l.trim().trim_start_matches("- "))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
            .replace(":;", ":");
        CliError::NoCredentials(line)
    }
}

/// Reads a named input: a file, or standard input for `-`.
pub fn read_input(path: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let result = if path == "-" {
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut io::stdin().lock(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    result.map_err(|e| {
        let source = if path == "-" {
            "standard input".to_owned()
        } else {
            format!("{path:?}")
        };
        CliError::Usage(format!("cannot read the {what} from {source}: {e}"))
    })
}
