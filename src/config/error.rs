//! The configuration boundary's one error.

/// A configuration mistake, phrased so the user can fix it. What the user typed is quoted
/// redacted and escaped ([`crate::text`]): a URL's password or query value (in a flag, or in a
/// `--config` key the parser quotes back) and a control character in an argument cannot reach
/// the terminal or the termination message, whichever parser wrote the words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {}\n  example: {example}",
    crate::text::Escaped(crate::text::redact(name)),
    crate::text::Escaped(crate::text::redact(problem))
)]
pub struct ConfigError {
    /// The flag or variable at fault, with position where useful (`--pods #2`).
    pub name: String,
    /// What is wrong.
    pub problem: String,
    /// A correct value for the same flag or variable.
    pub example: &'static str,
}
