//! Text that reaches people: escaped so it cannot drive a terminal, redacted so it carries no
//! credential, and cut to fit where it goes.
//!
//! **Escaping.** Condition messages, container reasons, Job messages and object names come from
//! the cluster, and anyone who can write a pod's status can put an escape sequence, a carriage
//! return or a newline there — enough to clear a terminal or forge a log line
//! (`INFO all dependencies ready`). [`escape`] turns every control character (C0, DEL, C1) and
//! every Unicode bidi control or line separator into a visible escape (`\x1b`, `\n`,
//! `\u{202e}`). It is applied where text is *interpolated into output*, not where it enters:
//! the progress lines, heartbeat and summary ([`crate::report`], which also makes the
//! termination message and the Event's message), the `depwait check` table
//! ([`crate::check`]), the Event ([`crate::events`]), configuration errors
//! ([`crate::config::ConfigError`]) and a dependency's own `Display` (which `depwait rbac`
//! quotes in YAML comments). A new kind of dependency needs nothing: whatever its readiness rule
//! writes into a summary, and whatever its `Display` shows, passes through those few sinks.
//!
//! The escape is idempotent (escaping twice gives what escaping once gives: its output holds
//! only printable characters, and a backslash is left as it is), so a sink never has to know
//! whether the text was escaped on its way. The price: a literal `\x1b` written by a pod looks
//! like an escaped ESC. Both are harmless, and text without backslashes stays distinct.
//!
//! **Redaction.** `--http http://user:password@host/` sends the password as Basic auth (see
//! [`crate::probe`]), and a health URL may carry a token in its query (`?token=...`). [`Url`]
//! holds such a URL: its `Display` and `Debug` show it with the password and every query value
//! replaced by `***`; only the HTTP client reads the real text. [`redact`] does the same to any
//! text quoting a URL (a configuration error quoting what was typed).
//!
//! **Truncation.** [`truncate`] is the one place text is cut: to a number of bytes where the
//! receiver counts bytes (an Event's message, the termination log), to a number of characters
//! where a person reads it ([`ellipsize`]: a pod condition's message, a plugin's stderr line).
//! Either way it never splits a character.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// What a redacted secret is shown as.
pub const MASK: &str = "***";

/// Whether `c` is escaped: control characters, bidi controls (which reorder what a terminal
/// shows) and the Unicode line and paragraph separators (which some viewers break lines on).
pub fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

/// `text` with every [dangerous](is_dangerous) character replaced by a visible escape: `\n`,
/// `\r`, `\t`, `\x1b` for the other ASCII controls, `\u{9b}` beyond. Borrowed when there is
/// nothing to escape, which is almost always.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_dangerous(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value shown through [`escape`]: `format!("{}", Escaped(&reason))`.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.to_string();
        f.write_str(&escape(&shown))
    }
}

/// A length limit, and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// UTF-8 bytes: what an API field or a file caps.
    Bytes(usize),
    /// Characters (Unicode scalar values): what a line shown to people is kept to.
    Chars(usize),
}

/// The longest start of `text` within `limit`, ending at a character boundary: a multibyte
/// character the limit falls inside is left out whole. `text` itself when it fits.
pub fn truncate(text: &str, limit: Limit) -> &str {
    let end = match limit {
        Limit::Bytes(max) if text.len() <= max => return text,
        Limit::Bytes(max) => {
            // `str::floor_char_boundary` is newer than the crate's rust-version. A character
            // is at most 4 bytes long, so this steps back at most 3 times.
            let mut end = max;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            end
        }
        Limit::Chars(max) => match text.char_indices().nth(max) {
            Some((end, _)) => end,
            None => return text,
        },
    };
    &text[..end]
}

/// At most `max_chars` characters of `text`, followed by `…` when some were cut.
pub fn ellipsize(text: &str, max_chars: usize) -> Cow<'_, str> {
    match truncate(text, Limit::Chars(max_chars)) {
        shown if shown.len() == text.len() => Cow::Borrowed(text),
        shown => Cow::Owned(format!("{shown}…")),
    }
}

/// A URL that may carry credentials (userinfo, query tokens). Shown redacted everywhere —
/// `Display`, `Debug`, every log line and message built from it; [`Url::as_sent`] is for the
/// HTTP client alone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Url(String);

impl Url {
    /// Wrap `text` (validated by the caller).
    pub fn new(text: impl Into<String>) -> Self {
        Url(text.into())
    }

    /// The URL as the request needs it, secrets included. Never print this.
    pub fn as_sent(&self) -> &str {
        &self.0
    }
}

impl Url {
    /// The URL as people see it: [`redact`]ed, but with the userinfo found by parsing, so a
    /// path's `@` (`/users/@me`) is not taken for one.
    fn shown(&self) -> String {
        let parsed = self.0.parse::<http::Uri>().ok();
        match (
            parsed.as_ref().and_then(|u| u.authority()),
            self.0.split_once("://"),
        ) {
            (Some(authority), Some((scheme, rest))) if rest.starts_with(authority.as_str()) => {
                format!("{scheme}://{}", redact_url(rest, authority.as_str().len()))
            }
            _ => redact(&self.0).into_owned(),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.shown()))
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({:?})", self.shown())
    }
}

/// `text` with the credentials of every URL in it hidden: `scheme://user:PASSWORD@` becomes
/// `scheme://user:***@`, a userinfo without `:` (a bare token) becomes `***@`, and every query
/// value becomes `***` (`?token=***&verbose=***`): a rule with no list of "secret" names to
/// forget one from. Text without `://` is returned as it is.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    // Where a URL quoted in a sentence ends.
    let ends = |c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '<' | '>');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let url_end = after.find(ends).unwrap_or(after.len());
        let (url, tail) = after.split_at(url_end);
        out.push_str(&redact_after_scheme(url));
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// One URL quoted in free text, from just after `://` to its end. Its userinfo ends at the
/// last `@` anywhere in it: a password with a raw `/`, `?` or `#` (no valid URL has one, but a
/// mistyped one can) is hidden too, at the price of hiding a path's `@` in text that quotes
/// such a URL.
fn redact_after_scheme(url: &str) -> String {
    let authority_end = match url.rfind('@') {
        Some(at) => at + url[at..].find(['/', '?', '#']).unwrap_or(url.len() - at),
        None => url.find(['/', '?', '#']).unwrap_or(url.len()),
    };
    redact_url(url, authority_end)
}

/// A URL from just after `://`, its authority ending at `authority_end`: the userinfo's
/// password and every query value masked.
fn redact_url(url: &str, authority_end: usize) -> String {
    let (authority, path) = url.split_at(authority_end);
    let mut out = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{MASK}@{host}"),
        },
        None => authority.to_string(),
    };
    let (before_fragment, fragment) = match path.find('#') {
        Some(i) => path.split_at(i),
        None => (path, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, value)) if !value.is_empty() => format!("{name}={MASK}"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The inverse of [`escape`] for text that had no backslash: proves nothing was lost.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('x') => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                Some('u') => {
                    assert_eq!(chars.next(), Some('{'));
                    let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                }
                other => panic!("unexpected escape {other:?} in {text:?}"),
            }
        }
        out
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(
            escape("\x1b[2J\r\nINFO all dependencies ready\x07"),
            "\\x1b[2J\\r\\nINFO all dependencies ready\\x07"
        );
        assert_eq!(escape("a\tb\x7f\u{9b}c"), "a\\tb\\x7f\\u{9b}c");
        assert_eq!(escape("abc\u{202e}cba\u{2066}"), "abc\\u{202e}cba\\u{2066}");
        assert_eq!(escape("line\u{2028}sep"), "line\\u{2028}sep");
        assert!(matches!(escape("CrashLoopBackOff: é ✓"), Cow::Borrowed(_)));
        assert_eq!(Escaped("x\ny").to_string(), "x\\ny");
    }

    /// Anything — printable, controls, bidi controls, backslashes — as a pod could write it.
    fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[ -~]{0,8}",
            proptest::char::range('\0', '\u{a0}').prop_map(String::from),
            proptest::sample::select(vec![
                "\u{202e}",
                "\u{2066}",
                "\u{200f}",
                "\u{061c}",
                "\u{2028}",
                "\\",
                "\\x1b",
                "é",
                "\u{1f600}",
            ])
            .prop_map(String::from),
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn escaped_text_has_no_dangerous_character(s in hostile()) {
            let e = escape(&s);
            prop_assert!(!e.chars().any(is_dangerous), "{:?} -> {:?}", s, e);
        }

        #[test]
        fn escaping_twice_is_escaping_once(s in hostile()) {
            let once = escape(&s).into_owned();
            prop_assert_eq!(escape(&once), once.as_str());
        }

        #[test]
        fn without_backslashes_nothing_is_lost(s in hostile()) {
            let s = s.replace('\\', "/");
            prop_assert_eq!(unescape(&escape(&s)), s);
        }

        #[test]
        fn distinct_texts_stay_distinct(a in hostile(), b in hostile()) {
            let (a, b) = (a.replace('\\', "/"), b.replace('\\', "/"));
            prop_assume!(a != b);
            prop_assert_ne!(escape(&a), escape(&b));
        }

        #[test]
        fn printable_text_is_unchanged(s in "[ -~é✓]{0,40}") {
            prop_assert_eq!(escape(&s), s.as_str());
        }

        #[test]
        fn redaction_never_shows_the_password(
            user in "[a-z]{1,8}",
            password in "[A-Za-z0-9%!]{4,16}",
            token in "[A-Za-z0-9]{8,16}",
        ) {
            let url = format!("https://{user}:{password}@api.example.com:8443/ready?token={token}#200");
            let shown = Url::new(url.clone()).to_string();
            prop_assert!(!shown.contains(&password), "{}", shown);
            prop_assert!(!shown.contains(&token), "{}", shown);
            let debug = format!("{:?}", Url::new(url.clone()));
            prop_assert!(!debug.contains(&password) && !debug.contains(&token), "{}", debug);
            let quoted = format!("--http #1 `{url}`: bad");
            let r = redact(&quoted);
            prop_assert!(!r.contains(&password) && !r.contains(&token), "{}", r);
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        // é is 2 bytes, ✓ 3, 😀 4: a byte limit inside one leaves it out whole.
        let text = "aé✓😀";
        let cuts: Vec<&str> = (0..=11).map(|n| truncate(text, Limit::Bytes(n))).collect();
        assert_eq!(
            cuts,
            [
                "",
                "a",
                "a",
                "aé",
                "aé",
                "aé",
                "aé✓",
                "aé✓",
                "aé✓",
                "aé✓",
                "aé✓😀",
                "aé✓😀"
            ]
        );
        let chars: Vec<&str> = (0..=5).map(|n| truncate(text, Limit::Chars(n))).collect();
        assert_eq!(chars, ["", "a", "aé", "aé✓", "aé✓😀", "aé✓😀"]);
        assert_eq!(truncate("", Limit::Bytes(0)), "");
        assert_eq!(truncate("", Limit::Chars(0)), "");
    }

    #[test]
    fn truncation_at_exactly_the_limit_keeps_everything() {
        assert_eq!(truncate("abc", Limit::Bytes(3)), "abc");
        assert_eq!(truncate("abc", Limit::Bytes(2)), "ab");
        assert_eq!(truncate("ééé", Limit::Chars(3)), "ééé");
        assert_eq!(truncate("ééé", Limit::Bytes(6)), "ééé");
        assert_eq!(ellipsize("abc", 3), "abc");
        assert!(matches!(ellipsize("abc", 3), Cow::Borrowed(_)));
        assert_eq!(ellipsize("abcd", 3), "abc…");
        assert_eq!(ellipsize("éééé", 3), "ééé…");
        assert_eq!(ellipsize("", 0), "");
        assert_eq!(ellipsize("a", 0), "…");
    }

    proptest! {
        #[test]
        fn truncation_is_the_longest_fitting_start(s in hostile(), n in 0usize..64) {
            let bytes = truncate(&s, Limit::Bytes(n));
            prop_assert!(s.starts_with(bytes) && bytes.len() <= n);
            // One more character would not fit.
            if let Some(next) = s[bytes.len()..].chars().next() {
                prop_assert!(bytes.len() + next.len_utf8() > n);
            }
            let chars = truncate(&s, Limit::Chars(n));
            prop_assert!(s.starts_with(chars));
            prop_assert_eq!(chars.chars().count(), s.chars().count().min(n));
        }
    }

    #[test]
    fn urls_show_without_credentials() {
        let shown = |s: &str| Url::new(s).to_string();
        assert_eq!(
            shown("http://user:s3cret@api.app.svc:8080/healthz"),
            "http://user:***@api.app.svc:8080/healthz"
        );
        assert_eq!(
            shown("https://ghp_abc@host/x"),
            "https://***@host/x",
            "a bare userinfo may be a token"
        );
        assert_eq!(
            shown("https://host/ready?token=abc&verbose=1&flag#frag"),
            "https://host/ready?token=***&verbose=***&flag#frag"
        );
        assert_eq!(shown("http://[::1]:80/"), "http://[::1]:80/");
        assert_eq!(
            format!("{:?}", Url::new("http://u:p@h/")),
            "Url(\"http://u:***@h/\")"
        );
        assert_eq!(
            redact("--http #2 `http://a:b@h/?k=v#200`: `99999` is not a port"),
            "--http #2 `http://a:***@h/?k=***#200`: `99999` is not a port"
        );
        assert_eq!(redact("no url here: a:b@c"), "no url here: a:b@c");
        for typo in ["pa/ss", "pa?ss", "pa#ss"] {
            assert_eq!(
                redact(&format!("`http://u:{typo}@h/x` is not a URL")),
                "`http://u:***@h/x` is not a URL",
                "a mistyped password with a raw `/`, `?` or `#` is hidden too"
            );
        }
        assert_eq!(
            shown("https://host/users/@me?x=1"),
            "https://host/users/@me?x=***",
            "a parsed URL's path keeps its `@`"
        );
    }
}
