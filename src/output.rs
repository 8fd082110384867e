//! Writing to stdout and stderr without ever failing the run.
//!
//! `print!` and `eprint!` panic when a write fails, and a release build aborts on a panic (exit
//! 134): `depwait ... | head -1` (a closed pipe) or `2>/dev/full` would turn a wait that ended
//! well into a crash and skip the termination message. Output is a courtesy to whoever reads
//! it; the exit code and the termination message are the contract. So every write here is
//! all-or-nothing and its error is dropped: a reader that went away has nothing left to tell.

use std::io::Write;

/// Write `text` to stdout and flush it; a closed pipe or a full disk is ignored.
pub fn stdout(text: &str) {
    write_ignoring_errors(&mut std::io::stdout().lock(), text.as_bytes());
}

/// [`stdout`] for bytes (rendered completions, man pages).
pub fn stdout_bytes(bytes: &[u8]) {
    write_ignoring_errors(&mut std::io::stdout().lock(), bytes);
}

/// Write `text` to stderr; a closed pipe or a full disk is ignored.
pub fn stderr(text: &str) {
    write_ignoring_errors(&mut std::io::stderr().lock(), text.as_bytes());
}

/// `text` and a newline to stderr as one write, so concurrent lines do not interleave.
pub fn stderr_line(text: &str) {
    stderr(&format!("{text}\n"));
}

fn write_ignoring_errors(to: &mut impl Write, bytes: &[u8]) {
    // `write_all` retries interrupted writes; any other error means nobody is reading.
    let _ = to.write_all(bytes).and_then(|()| to.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails like a closed pipe.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_failed_write_is_ignored() {
        write_ignoring_errors(&mut Closed, b"nobody reads this");
    }
}
