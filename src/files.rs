//! Reading the files depwait is pointed at (`--config`, kubeconfigs, CA bundles, resolver
//! files) with a bound on both their size and the time they take.
//!
//! A path can name anything: `/dev/zero` never ends, a FIFO with no writer blocks in `open`
//! forever, a file on a hung network mount blocks in `read`. The size limit is enforced on the
//! bytes actually read (metadata lies for devices and `/proc`), and the read runs on a thread of
//! its own so that the caller — the async runtime included — waits at most `within`. A read
//! still stuck when that passes is abandoned; its thread ends with the process.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// How long reading one local file may take when nothing tighter applies (the wait's own
/// timeout is usually tighter): a regular file on a healthy disk takes microseconds.
pub const READ_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused or failed (missing file, permissions, a directory).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// More than `limit` bytes came out of it.
    #[error("{} is larger than {} (a device or an endless stream?); depwait reads at most that", path.display(), human_bytes(*limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit that was passed.
        limit: usize,
    },
    /// Opening or reading it did not finish in time (a FIFO with no writer, a hung mount).
    #[error("reading {} did not finish within {} (a FIFO with no writer, or a hung mount?)", path.display(), humantime::format_duration(*within))]
    Stalled {
        /// The file.
        path: PathBuf,
        /// How long was waited.
        within: Duration,
    },
}

impl ReadError {
    /// Whether the file does not exist (some callers skip missing files, as kubectl does for
    /// `KUBECONFIG` entries).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Read at most `limit` bytes of `path`, waiting at most `within` for open and read together.
/// Blocks the calling thread; use [`read_async`] on the async runtime.
pub fn read(path: &Path, limit: usize, within: Duration) -> Result<Vec<u8>, ReadError> {
    let (tx, rx) = mpsc::sync_channel(1);
    spawn_reader(path, limit, move |result| {
        let _ = tx.send(result);
    })?;
    match rx.recv_timeout(within) {
        Ok(result) => result,
        Err(_) => Err(ReadError::Stalled {
            path: path.to_path_buf(),
            within,
        }),
    }
}

/// [`read`] for async code: the runtime thread is never blocked by the file.
pub async fn read_async(path: &Path, limit: usize, within: Duration) -> Result<Vec<u8>, ReadError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn_reader(path, limit, move |result| {
        let _ = tx.send(result);
    })?;
    let stalled = || ReadError::Stalled {
        path: path.to_path_buf(),
        within,
    };
    match tokio::time::timeout(within, rx).await {
        Ok(Ok(result)) => result,
        // The reader thread died without answering (it cannot panic short of a bug), or time ran out.
        Ok(Err(_)) | Err(_) => Err(stalled()),
    }
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, limit: usize, within: Duration) -> Result<String, ReadError> {
    let bytes = read(path, limit, within)?;
    utf8(path, bytes)
}

/// [`read_async`], as UTF-8 text.
pub async fn read_to_string_async(
    path: &Path,
    limit: usize,
    within: Duration,
) -> Result<String, ReadError> {
    let bytes = read_async(path, limit, within).await?;
    utf8(path, bytes)
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|_| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
    })
}

fn spawn_reader(
    path: &Path,
    limit: usize,
    answer: impl FnOnce(Result<Vec<u8>, ReadError>) + Send + 'static,
) -> Result<(), ReadError> {
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("depwait-read".into())
        .spawn(move || answer(read_now(&owned, limit)))
        .map(drop)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn read_now(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "too large" without reading on.
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// The YAML parser's settings for a file depwait reads: at most `nesting` levels (a parser's
/// time on deep nesting is where YAML readers have gone quadratic), and errors without the
/// source snippet, which would quote the file (a kubeconfig's token, a manifest's Secret).
pub fn yaml_options(nesting: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = nesting;
    budget.flow_nesting_limit = nesting;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.with_snippet = false;
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_device_is_cut_at_the_limit() {
        let e = read(Path::new("/dev/zero"), 1 << 20, READ_TIME_LIMIT).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn a_file_exactly_at_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        assert_eq!(read(&path, 100, READ_TIME_LIMIT).unwrap().len(), 100);
        assert!(matches!(
            read(&path, 99, READ_TIME_LIMIT),
            Err(ReadError::TooLarge { .. })
        ));
    }

    #[test]
    fn fifo_without_writer_is_abandoned_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read(&path, 1024, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, ReadError::Stalled { .. }), "{e}");
    }

    #[tokio::test]
    async fn async_read_does_not_block_the_runtime_on_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()
        );
        let e = read_to_string_async(&path, 1024, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(e, ReadError::Stalled { .. }), "{e}");
    }

    #[test]
    fn missing_file_is_told_apart() {
        let e = read(Path::new("/nonexistent/x"), 10, READ_TIME_LIMIT).unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().contains("/nonexistent/x"));
    }
}
