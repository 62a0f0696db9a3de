//! `sigv4 curl -T FILE` (and `-T -`): an upload streamed from disk in constant memory.
//!
//! A file is read as the connection asks for more (backpressure is hyper's), one chunk at a time.
//! Standard input is first spooled to a temporary file: S3 needs the length before the first
//! byte (`x-amz-decoded-content-length`), and a signed payload needs the hash before the head.
//! On a terminal, large uploads draw a progress line on standard error.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use sigv4_core::chunked::ChunkSigner;

use crate::error::CliError;

/// How much is read from disk at a time (and the aws-chunked chunk size).
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;

/// Uploads at least this large get a progress line on a terminal.
const PROGRESS_FROM: u64 = 4 * 1024 * 1024;

/// The file behind `-T`: a path given by the user, or standard input spooled to a temporary file
/// that is removed when this is dropped.
#[derive(Debug)]
pub(crate) struct Upload {
    path: PathBuf,
    len: u64,
    spooled: bool,
}

impl Upload {
    /// Opens `-T ARG`: a file, or `-` for standard input (spooled to a temporary file).
    pub(crate) fn open(arg: &str) -> Result<Self, CliError> {
        if arg == "-" {
            return Self::spool(&mut io::stdin().lock());
        }
        let path = PathBuf::from(arg);
        let meta = std::fs::metadata(&path)
            .map_err(|e| CliError::Usage(format!("-T {arg}: cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(CliError::Usage(format!(
                "-T {arg}: not a regular file (give a file, or - for standard input)"
            )));
        }
        Ok(Self {
            path,
            len: meta.len(),
            spooled: false,
        })
    }

    /// Copies `input` to a fresh temporary file (readable by this user only).
    fn spool(input: &mut impl Read) -> Result<Self, CliError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "sigv4-upload-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let failed = |e: io::Error| {
            CliError::Usage(format!(
                "-T -: cannot spool standard input to {}: {e}",
                path.display()
            ))
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(failed)?;
        // From here on the file is ours to remove, whatever happens.
        let mut upload = Self {
            path: path.clone(),
            len: 0,
            spooled: true,
        };
        upload.len = io::copy(input, &mut file).map_err(failed)?;
        file.flush().map_err(failed)?;
        Ok(upload)
    }

    /// The number of bytes to upload.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The hex SHA-256 of the content, read from disk in chunks.
    pub(crate) fn sha256_hex(&self) -> Result<String, CliError> {
        use sha2::{Digest, Sha256};
        let mut file = self.reopen()?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK_SIZE];
        let mut total = 0u64;
        loop {
            let n = read_full(&mut file, &mut buf).map_err(|e| self.read_error(e))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        if total != self.len {
            return Err(self.changed());
        }
        Ok(sigv4_cli::request::hex(&hasher.finalize()))
    }

    /// A body streaming the content, `frame` turning each chunk into the bytes to send (aws-chunked
    /// framing, or the chunk as is), `end` giving what follows the last chunk.
    pub(crate) fn body(&self, framing: Framing) -> Result<FileBody, CliError> {
        let progress = (self.len >= PROGRESS_FROM && io::stderr().is_terminal())
            .then(|| Progress::new(self.len));
        Ok(FileBody {
            file: Some(self.reopen()?),
            path: self.path.clone(),
            remaining: self.len,
            framing,
            progress,
        })
    }

    fn reopen(&self) -> Result<File, CliError> {
        File::open(&self.path).map_err(|e| self.read_error(e))
    }

    fn read_error(&self, e: io::Error) -> CliError {
        CliError::Usage(format!("-T {}: cannot read it: {e}", self.shown()))
    }

    fn changed(&self) -> CliError {
        CliError::Usage(format!(
            "-T {}: the file changed size while it was being sent",
            self.shown()
        ))
    }

    fn shown(&self) -> String {
        if self.spooled {
            "-".to_owned()
        } else {
            self.path.display().to_string()
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.spooled {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Reads until `buf` is full or the end of the file; the number of bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What goes on the wire for each chunk read from the file.
pub(crate) enum Framing {
    /// The bytes as they are (the payload hash was computed beforehand, or is unsigned).
    Plain,
    /// aws-chunked: each chunk framed with its signature, chained from the head's; the final
    /// chunk at the end. `None` once finished.
    Chunked(Option<Box<ChunkSigner>>),
}

impl Framing {
    /// aws-chunked framing with `signer` (made from the head's signature).
    pub(crate) fn chunked(signer: ChunkSigner) -> Self {
        Framing::Chunked(Some(Box::new(signer)))
    }

    fn frame(&mut self, data: Vec<u8>) -> Bytes {
        match self {
            Framing::Plain | Framing::Chunked(None) => Bytes::from(data),
            Framing::Chunked(Some(signer)) => {
                let mut out = Vec::with_capacity(data.len() + 100);
                signer.frame_into(&data, &mut out);
                Bytes::from(out)
            }
        }
    }

    fn end(&mut self) -> Option<Bytes> {
        match self {
            Framing::Plain => None,
            Framing::Chunked(signer) => signer.take().map(|signer| signer.finish()),
        }
    }
}

/// The streamed upload: reads a chunk from disk each time the connection asks for one.
pub(crate) struct FileBody {
    file: Option<File>,
    path: PathBuf,
    remaining: u64,
    framing: Framing,
    progress: Option<Progress>,
}

impl FileBody {
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        if self.remaining == 0 {
            self.file = None;
            if let Some(progress) = self.progress.as_mut() {
                progress.done();
            }
            return Ok(self.framing.end());
        }
        let want = CHUNK_SIZE.min(usize::try_from(self.remaining).unwrap_or(CHUNK_SIZE));
        let mut data = vec![0u8; want];
        let n = read_full(file, &mut data)?;
        if n < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} became shorter while it was being sent",
                    display(&self.path)
                ),
            ));
        }
        self.remaining -= n as u64;
        if let Some(progress) = self.progress.as_mut() {
            progress.advance(n as u64);
        }
        Ok(Some(self.framing.frame(data)))
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        // Reading a local file does not wait on the network: a plain blocking read of one chunk.
        let this = self.get_mut();
        Poll::Ready(this.next_chunk().transpose().map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.file.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// `  12.0 MiB / 1.00 GiB  (1%)`, redrawn on standard error at each whole percent.
struct Progress {
    total: u64,
    sent: u64,
    shown: Option<u64>,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            total,
            sent: 0,
            shown: None,
        }
    }

    fn advance(&mut self, n: u64) {
        self.sent += n;
        let percent = self.sent.saturating_mul(100) / self.total.max(1);
        if self.shown != Some(percent) {
            self.shown = Some(percent);
            let mut err = io::stderr().lock();
            let _ = write!(
                err,
                "\r  {} / {}  ({percent}%)",
                size(self.sent),
                size(self.total)
            );
            let _ = err.flush();
        }
    }

    fn done(&mut self) {
        let _ = writeln!(io::stderr());
    }
}

/// A byte count for people: `812 B`, `12.0 MiB`, `1.00 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn content(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 253) as u8).collect()
    }

    fn collect(body: FileBody) -> Result<Vec<u8>, io::Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { body.collect().await.map(|c| c.to_bytes().to_vec()) })
    }

    #[test]
    fn spooled_input_streams_back_whole_and_is_removed() {
        let data = content(3 * CHUNK_SIZE + 17);
        let upload = Upload::spool(&mut &data[..]).unwrap();
        assert_eq!(upload.len(), data.len() as u64);
        // The streamed hash equals the core's one-shot hash of the same bytes.
        assert_eq!(upload.sha256_hex().unwrap(), sigv4_core::sha256_hex(&data));
        assert_eq!(collect(upload.body(Framing::Plain).unwrap()).unwrap(), data);
        let path = upload.path.clone();
        assert!(path.exists());
        drop(upload);
        assert!(!path.exists(), "the spooled copy is removed");
    }

    #[test]
    fn a_file_that_shrinks_fails_the_body() {
        let data = content(CHUNK_SIZE + 10);
        let upload = Upload::spool(&mut &data[..]).unwrap();
        let body = upload.body(Framing::Plain).unwrap();
        std::fs::write(&upload.path, &data[..100]).unwrap();
        let err = collect(body).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(matches!(upload.sha256_hex(), Err(CliError::Usage(_))));
    }

    #[test]
    fn empty_uploads_and_sizes() {
        let upload = Upload::spool(&mut &b""[..]).unwrap();
        assert_eq!(upload.len(), 0);
        assert_eq!(collect(upload.body(Framing::Plain).unwrap()).unwrap(), b"");
        assert_eq!(upload.sha256_hex().unwrap(), sigv4_core::EMPTY_SHA256);
        assert_eq!(size(812), "812 B");
        assert_eq!(size(12 * 1024 * 1024 + 1), "12.0 MiB");
        assert_eq!(size(1 << 30), "1.00 GiB");
        assert!(matches!(Upload::open("/"), Err(CliError::Usage(_))));
    }
}
