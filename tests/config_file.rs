//! `--config FILE` is bounded whatever FILE is: random bytes, brackets nested 200,000 deep,
//! files past the size limit, endless devices and FIFOs all end in a parse or a refusal that
//! says which bound held. The bounds hold by construction (the size is counted on the bytes
//! read, the nesting checked in one pass before the YAML parser, the read given a deadline);
//! these tests check the outcome, never the time taken.

use std::io::Write;
use std::path::Path;

use depwait::config::Input;
use depwait::config::{Config, ConfigError};
use proptest::prelude::*;

fn read(path: &Path) -> Result<Config, ConfigError> {
    let input = Input::try_from_iter(["depwait", "--config", path.to_str().unwrap()])
        .expect("clap accepts --config FILE");
    Config::from_input(input)
}

fn read_bytes(bytes: &[u8]) -> Result<Config, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    read(file.path())
}

/// Refused, naming `--config` and saying `says`.
fn assert_refused(result: Result<Config, ConfigError>, says: &str) {
    match result {
        Ok(c) => panic!(
            "accepted {} dependencies, expected: {says}",
            c.dependencies.len()
        ),
        Err(e) => {
            assert!(e.name.starts_with("--config "), "{e}");
            assert!(e.problem.contains(says), "{e}\nexpected: {says}");
        }
    }
}

/// A refusal of the file, or of an empty list of dependencies (an empty document).
fn named_well(e: &ConfigError) -> bool {
    e.name.starts_with("--config ") || e.name == "dependencies"
}

fn bracket() -> impl Strategy<Value = u8> {
    prop_oneof![Just(b'['), Just(b'{')]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any bytes: a configuration or a refusal naming `--config` (or saying nothing is listed);
    /// never a panic.
    #[test]
    fn random_bytes_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Err(e) = read_bytes(&bytes) {
            prop_assert!(named_well(&e), "{}", e);
        }
    }

    /// YAML-ish text made of the characters that matter to a parser.
    #[test]
    fn yaml_like_text_parses_or_is_refused(text in "[\\[\\]{}:,'\"\\- \\n#&*!|>a-z0-9]{0,2000}") {
        if let Err(e) = read_bytes(text.as_bytes()) {
            prop_assert!(named_well(&e), "{}", e);
        }
    }

    /// Brackets past the limit, up to 200,000 deep, with anything before and between them, are
    /// refused by the nesting check (the YAML parser takes quadratic time on them).
    #[test]
    fn deep_nesting_is_refused_by_the_nesting_check(
        prefix in "(pods: |jobs:\n  - |)",
        depth in 33usize..200_000,
        opens in prop::collection::vec(bracket(), 1..64),
        filler in "[a-z ,\n]{0,3}",
    ) {
        let mut text = prefix.into_bytes();
        for i in 0..depth {
            text.push(opens[i % opens.len()]);
            if i % 1000 == 0 {
                text.extend_from_slice(filler.as_bytes());
            }
        }
        assert_refused(read_bytes(&text), "nest more than 32 deep");
    }

    /// Nesting within the limit never trips the check: its outcome is the parser's.
    #[test]
    fn shallow_nesting_passes_the_check(depth in 0usize..=30) {
        let text = format!("pods: ['{}ns:app=x{}']", "[".repeat(depth), "]".repeat(depth));
        if let Err(e) = read_bytes(text.as_bytes()) {
            prop_assert!(!e.problem.contains("nest more than"), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Past 1 MiB, whatever the content, a file is refused by the size counted while reading.
    #[test]
    fn files_past_the_limit_are_refused_by_size(
        over in 1usize..(3 << 20),
        line in "[a-z: \\-\\[\\]]{1,40}\n",
    ) {
        let size = (1 << 20) + over;
        let text: Vec<u8> = line.bytes().cycle().take(size).collect();
        assert_refused(read_bytes(&text), "more than 1024 KiB");
    }
}

/// A device that never ends is cut at the limit.
#[test]
fn an_endless_device_is_cut_at_the_limit() {
    assert_refused(read(Path::new("/dev/zero")), "more than 1024 KiB");
    assert_refused(read(Path::new("/dev/urandom")), "more than 1024 KiB");
}

fn fifo(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    path
}

/// A FIFO whose writer never stops is cut at the limit like a device.
#[test]
fn an_endless_fifo_is_cut_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = fifo(dir.path());
    let writer_path = path.clone();
    // Ends with EPIPE once depwait closes its end.
    std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let chunk = b"pods: [a:b=c]\n".repeat(4096);
        while w.write_all(&chunk).is_ok() {}
    });
    assert_refused(read(&path), "more than 1024 KiB");
}

/// A FIFO nobody writes to would block `open` forever: the read is abandoned at its deadline
/// (`files::READ_TIME_LIMIT`) and the run refused, naming the likely cause.
#[test]
fn a_fifo_without_a_writer_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(read(&fifo(dir.path())), "a FIFO with no writer");
}
