//! kubectl's label-selector grammar, parsed and validated locally.
//!
//! The model (`Expression`, `Selector`) and its rendering for the API come from `kube::core`; no
//! maintained crate parses the *string* form, so this module does only that: turn
//! `app=web,tier in (a,b),!canary` into a `Selector`, rejecting what the API server would reject
//! (bad keys, bad values, unknown operators) before a single request is made.

use std::collections::BTreeSet;
use std::fmt;

use kube::core::{Expression, Selector};

/// Why a selector string was refused, with enough context to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} (at character {position} of `{input}`)")]
pub struct SelectorError {
    /// The selector as given.
    pub input: String,
    /// 1-based character position the problem was noticed at.
    pub position: usize,
    /// What is wrong, in words.
    pub problem: String,
}

/// A parsed selector with the text it renders to, so log lines and the server see the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    /// Canonical text: what is sent as `labelSelector=` and shown to users.
    text: String,
    /// The parsed form, kept for local matching in tests and future client-side checks.
    selector: Selector,
}

impl LabelSelector {
    /// Parse kubectl's grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`,
    /// joined by commas. An empty selector is refused: waiting on "every pod in the namespace" is
    /// almost always a mistake in an init container.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let expressions = Parser::new(input).parse()?;
        let selector: Selector = expressions.into_iter().collect();
        Ok(Self {
            text: selector.to_string(),
            selector,
        })
    }

    /// Equality selector from `key -> value` pairs (the seed's `NAMESPACE_LABEL_DICT` entries).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SelectorError> {
        let mut expressions = Vec::new();
        for (key, value) in pairs {
            let err = |problem: String| SelectorError {
                input: format!("{key}={value}"),
                position: 1,
                problem,
            };
            validate_key(key).map_err(|e| err(e.to_string()))?;
            validate_value(value).map_err(|e| SelectorError {
                input: format!("{key}={value}"),
                position: key.chars().count() + 2,
                problem: e.to_string(),
            })?;
            expressions.push(Expression::Equal(key.to_string(), value.to_string()));
        }
        if expressions.is_empty() {
            return Err(SelectorError {
                input: String::new(),
                position: 1,
                problem: "no labels given; a selector must name at least one label".into(),
            });
        }
        let selector: Selector = expressions.into_iter().collect();
        Ok(Self {
            text: selector.to_string(),
            selector,
        })
    }

    /// The canonical selector text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed selector.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Not,
    Eq,
    NotEq,
    Open,
    Close,
    Comma,
    /// `<` / `>`: valid in apimachinery's parser but not in label selectors for list/watch
    /// through kube's model, so named precisely when refused.
    Compare(char),
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<(usize, Token)>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            tokens: Vec::new(),
            next: 0,
        }
    }

    fn error(&self, position: usize, problem: impl Into<String>) -> SelectorError {
        SelectorError {
            input: self.input.to_string(),
            position,
            problem: problem.into(),
        }
    }

    fn lex(&mut self) -> Result<(), SelectorError> {
        let chars: Vec<char> = self.input.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let pos = i + 1;
            match c {
                ' ' | '\t' => i += 1,
                ',' => {
                    self.tokens.push((pos, Token::Comma));
                    i += 1;
                }
                '(' => {
                    self.tokens.push((pos, Token::Open));
                    i += 1;
                }
                ')' => {
                    self.tokens.push((pos, Token::Close));
                    i += 1;
                }
                '<' | '>' => {
                    self.tokens.push((pos, Token::Compare(c)));
                    i += 1;
                }
                '!' if chars.get(i + 1) == Some(&'=') => {
                    self.tokens.push((pos, Token::NotEq));
                    i += 2;
                }
                '!' => {
                    self.tokens.push((pos, Token::Not));
                    i += 1;
                }
                '=' => {
                    // `==` is kubectl's synonym for `=`.
                    i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                    self.tokens.push((pos, Token::Eq));
                }
                _ => {
                    let start = i;
                    while i < chars.len() && !" \t,()<>!=".contains(chars[i]) {
                        i += 1;
                    }
                    let word: String = chars[start..i].iter().collect();
                    self.tokens.push((pos, Token::Word(word)));
                }
            }
        }
        Ok(())
    }

    fn peek(&self) -> Option<&(usize, Token)> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<(usize, Token)> {
        let t = self.tokens.get(self.next).cloned();
        self.next += 1;
        t
    }

    fn end_position(&self) -> usize {
        self.input.chars().count() + 1
    }

    fn parse(mut self) -> Result<Vec<Expression>, SelectorError> {
        self.lex()?;
        if self.tokens.is_empty() {
            return Err(self.error(1, "empty selector; name at least one label, e.g. `app=web`"));
        }
        let mut expressions = Vec::new();
        loop {
            expressions.push(self.requirement()?);
            match self.bump() {
                None => break,
                Some((_, Token::Comma)) => continue,
                Some((pos, t)) => {
                    return Err(self.error(
                        pos,
                        format!("expected `,` between requirements, found {}", describe(&t)),
                    ));
                }
            }
        }
        Ok(expressions)
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.bump() {
            Some((pos, Token::Word(w))) => {
                validate_key(&w).map_err(|e| self.error(pos, e.to_string()))?;
                Ok(w)
            }
            Some((pos, t)) => {
                Err(self.error(pos, format!("expected a label key, found {}", describe(&t))))
            }
            None => Err(self.error(self.end_position(), "expected a label key, found the end")),
        }
    }

    fn requirement(&mut self) -> Result<Expression, SelectorError> {
        if let Some((_, Token::Not)) = self.peek() {
            self.bump();
            return Ok(Expression::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        let op = self.peek().cloned();
        match op {
            None | Some((_, Token::Comma)) => Ok(Expression::Exists(key)),
            Some((_, Token::Eq)) => {
                self.bump();
                Ok(Expression::Equal(key, self.value()?))
            }
            Some((_, Token::NotEq)) => {
                self.bump();
                Ok(Expression::NotEqual(key, self.value()?))
            }
            Some((_, Token::Word(w))) if w == "in" || w == "notin" => {
                self.bump();
                let values = self.value_set()?;
                Ok(if w == "in" {
                    Expression::In(key, values)
                } else {
                    Expression::NotIn(key, values)
                })
            }
            Some((pos, Token::Compare(c))) => Err(self.error(
                pos,
                format!(
                    "operator `{c}` is not supported; use `=`, `!=`, `in (..)`, `notin (..)`, `key` or `!key`"
                ),
            )),
            Some((pos, t)) => Err(self.error(
                pos,
                format!(
                    "expected an operator (`=`, `==`, `!=`, `in`, `notin`) or `,` after `{key}`, found {}",
                    describe(&t)
                ),
            )),
        }
    }

    /// A value after `=`/`!=`; may be empty (`tier=` selects the empty value, as in kubectl).
    fn value(&mut self) -> Result<String, SelectorError> {
        match self.peek().cloned() {
            Some((pos, Token::Word(w))) => {
                self.bump();
                validate_value(&w).map_err(|e| self.error(pos, e.to_string()))?;
                Ok(w)
            }
            None | Some((_, Token::Comma)) => Ok(String::new()),
            Some((pos, t)) => Err(self.error(
                pos,
                format!("expected a label value, found {}", describe(&t)),
            )),
        }
    }

    fn value_set(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        match self.bump() {
            Some((_, Token::Open)) => {}
            Some((pos, t)) => {
                return Err(self.error(
                    pos,
                    format!(
                        "expected `(` to open a value set, found {}; e.g. `tier in (web,api)`",
                        describe(&t)
                    ),
                ));
            }
            None => {
                return Err(self.error(
                    self.end_position(),
                    "expected `(` to open a value set, found the end; e.g. `tier in (web,api)`",
                ));
            }
        }
        let mut values = BTreeSet::new();
        let mut expect_value = true;
        loop {
            match self.bump() {
                Some((pos, Token::Word(w))) if expect_value => {
                    validate_value(&w).map_err(|e| self.error(pos, e.to_string()))?;
                    values.insert(w);
                    expect_value = false;
                }
                Some((_, Token::Comma)) => {
                    if expect_value {
                        // `(a,,b)`: kubectl reads the gap as the empty value.
                        values.insert(String::new());
                    }
                    expect_value = true;
                }
                Some((pos, Token::Close)) => {
                    if expect_value && !values.is_empty() {
                        values.insert(String::new());
                    }
                    if values.is_empty() {
                        return Err(self.error(
                            pos,
                            "a value set needs at least one value, e.g. `tier in (web)`",
                        ));
                    }
                    return Ok(values);
                }
                Some((pos, t)) => {
                    return Err(self.error(
                        pos,
                        format!(
                            "expected a value, `,` or `)` in a value set, found {}",
                            describe(&t)
                        ),
                    ));
                }
                None => {
                    return Err(self.error(self.end_position(), "unclosed value set: missing `)`"));
                }
            }
        }
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("`{w}`"),
        Token::Not => "`!`".into(),
        Token::Eq => "`=`".into(),
        Token::NotEq => "`!=`".into(),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Comma => "`,`".into(),
        Token::Compare(c) => format!("`{c}`"),
    }
}

/// A label key or value the API server would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLabel {
    /// The part before `/` is not a DNS subdomain.
    #[error(
        "label key `{key}`: prefix `{prefix}` must be a DNS subdomain (lowercase letters, digits, `-`, `.`; at most 253 characters), e.g. `app.kubernetes.io/name`"
    )]
    Prefix {
        /// The whole key.
        key: String,
        /// Its prefix.
        prefix: String,
    },
    /// The name part is empty, too long or has other characters.
    #[error(
        "label key `{0}`: name part must be 1-63 characters, letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, e.g. `app`"
    )]
    KeyName(String),
    /// The value is too long or has other characters.
    #[error(
        "label value `{0}` must be at most 63 characters, letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
    )]
    Value(String),
}

/// `[prefix/]name`: prefix a DNS-1123 subdomain (≤ 253), name ≤ 63 alphanumerics with `-_.`
/// inside. The same rule the API server applies to label keys.
pub fn validate_key(key: &str) -> Result<(), BadLabel> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return Err(BadLabel::Prefix {
            key: key.into(),
            prefix: prefix.into(),
        });
    }
    if name.is_empty() || name.len() > 63 || !is_label_name(name) {
        return Err(BadLabel::KeyName(key.into()));
    }
    Ok(())
}

/// Empty, or ≤ 63 alphanumerics with `-_.` inside.
pub fn validate_value(value: &str) -> Result<(), BadLabel> {
    if value.is_empty() || (value.len() <= 63 && is_label_name(value)) {
        Ok(())
    } else {
        Err(BadLabel::Value(value.into()))
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// RFC 1123 label: what a namespace name must be.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use kube::core::SelectorExt;

    fn text(s: &str) -> String {
        LabelSelector::parse(s).unwrap().as_str().to_string()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_kubectl_operator_parses_to_its_canonical_form() {
        assert_eq!(text("app=web"), "app=web");
        assert_eq!(text("app==web"), "app=web");
        assert_eq!(text("app!=web"), "app!=web");
        assert_eq!(text("tier in (b, a)"), "tier in (a,b)");
        assert_eq!(text("tier notin (a)"), "tier notin (a)");
        assert_eq!(text("canary"), "canary");
        assert_eq!(text("!canary"), "!canary");
        assert_eq!(
            text(" app = web , tier in (x,y),!legacy,app.kubernetes.io/name=zk "),
            "app=web,tier in (x,y),!legacy,app.kubernetes.io/name=zk"
        );
    }

    #[test]
    fn empty_values_are_allowed_where_kubectl_allows_them() {
        assert_eq!(text("tier="), "tier=");
        assert_eq!(text("tier=,app=x"), "tier=,app=x");
        assert_eq!(text("x in (a,,b)"), "x in (,a,b)");
    }

    #[test]
    fn parsed_selectors_match_like_the_api_server() {
        let s = LabelSelector::parse("app=zk,tier in (db,cache),!canary").unwrap();
        assert!(
            s.selector()
                .matches(&labels(&[("app", "zk"), ("tier", "db")]))
        );
        assert!(
            !s.selector()
                .matches(&labels(&[("app", "zk"), ("tier", "db"), ("canary", "1")]))
        );
        assert!(!s.selector().matches(&labels(&[("app", "zk")])));
    }

    #[test]
    fn malformed_selectors_are_refused_with_a_position() {
        for (input, needle) in [
            ("", "empty selector"),
            ("   ", "empty selector"),
            ("app=web,", "expected a label key, found the end"),
            ("app=web,,x", "expected a label key"),
            ("app web", "expected an operator"),
            ("tier in a,b", "expected `(`"),
            ("tier in (a", "unclosed value set"),
            ("tier in ()", "at least one value"),
            ("replicas>3", "operator `>` is not supported"),
            ("-app=x", "label key `-app`"),
            ("app=-x", "label value `-x`"),
            ("Bad_Prefix.io/app=x", "prefix `Bad_Prefix.io`"),
            ("app=a=b", "expected `,`"),
            ("(app)", "expected a label key"),
        ] {
            let err = LabelSelector::parse(input).unwrap_err();
            assert!(
                err.to_string().contains(needle),
                "`{input}` gave `{err}`, wanted `{needle}`"
            );
        }
        let long = "a".repeat(64);
        assert!(LabelSelector::parse(&format!("app={long}")).is_err());
        assert!(LabelSelector::parse(&format!("{long}=x")).is_err());
    }

    #[test]
    fn pairs_become_an_equality_selector() {
        let s = LabelSelector::from_pairs([("environment", "dev"), ("app", "MyApp")]).unwrap();
        assert_eq!(s.as_str(), "environment=dev,app=MyApp");
        assert!(LabelSelector::from_pairs([("app", "bad value")]).is_err());
        assert!(LabelSelector::from_pairs([]).is_err());
    }

    #[test]
    fn namespace_names_follow_rfc_1123() {
        assert!(is_dns1123_label("namespace-1"));
        assert!(!is_dns1123_label("Namespace"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }
}
