//! Scrubs secrets from every text the core hands out (log lines, export errors, the
//! status). Sentry's answers, a proxy's error page included, may echo the request's headers:
//! the auth token and any `Authorization` value must not reach a log. Each text also becomes
//! one line, so an echoed body cannot forge or split log lines.

const REDACTED: &str = "[REDACTED]";
/// What ends a text the core cut short ([`crate::http::body_text`]): the cut may fall inside
/// a secret, whose beginning is then redacted too.
pub const CUT_MARK: &str = "…";
/// The shortest beginning of a secret redacted before a cut: shorter ones say nothing of it.
const MIN_CUT_SECRET: usize = 4;

/// Header names whose values are secrets wherever they appear in a text.
const SECRET_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "x-sentry-auth"];

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Exact secrets (the auth token), removed wherever they appear.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        Redactor {
            secrets: secrets.into_iter().filter(|s| !s.is_empty()).collect(),
        }
    }

    /// `text` on one line, without the secrets, header values that hold secrets, or
    /// bearer credentials.
    pub fn clean(&self, text: &str) -> String {
        let mut text = one_line(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
            text = redact_cut_secret(text, secret);
        }
        for header in SECRET_HEADERS {
            text = redact_values_after(&text, header, is_header_separator);
        }
        redact_values_after(&text, "bearer", |c| c == ' ')
    }
}

/// `text` with the beginning of `secret` that a cut left before a [`CUT_MARK`] redacted.
fn redact_cut_secret(text: String, secret: &str) -> String {
    let prefixes = secret.char_indices().map(|(at, _)| at).rev();
    let longest = prefixes
        .filter(|&at| at >= MIN_CUT_SECRET)
        .map(|at| &secret[..at])
        .find(|beginning| text.contains(&format!("{beginning}{CUT_MARK}")));
    match longest {
        Some(beginning) => text.replace(
            &format!("{beginning}{CUT_MARK}"),
            &format!("{REDACTED}{CUT_MARK}"),
        ),
        None => text,
    }
}

/// Control characters (newlines included) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `:`, `=` and the quotes and spaces around them, as in `Authorization: x`,
/// `"authorization":"x"` or `authorization=x`.
fn is_header_separator(c: char) -> bool {
    matches!(c, ':' | '=' | '"' | '\'' | ' ')
}

/// Replaces the value that follows each case-insensitive `name` (and the separators
/// `separator` accepts) up to the end of the value: a quote, comma, semicolon, `}` or the
/// end of the text. A value may hold spaces (`Bearer abc`), so a space does not end it.
fn redact_values_after(text: &str, name: &str, separator: impl Fn(char) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(name) {
        let name_end = search + found + name.len();
        let value_start = name_end
            + text[name_end..]
                .find(|c: char| !separator(c))
                .unwrap_or(text.len() - name_end);
        search = name_end;
        // A separator must follow the name: `authorizationless` is not a header.
        if value_start == name_end || value_start == text.len() {
            continue;
        }
        let value_end = value_start
            + text[value_start..]
                .find(['"', '\'', ',', ';', '}'])
                .unwrap_or(text.len() - value_start);
        if text[value_start..value_end].trim() == REDACTED {
            continue;
        }
        out.push_str(&text[rest..value_start]);
        out.push_str(REDACTED);
        rest = value_end;
        search = value_end;
    }
    out.push_str(&text[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_what_may_leak() {
        let redactor = Redactor::new(["sntrys_secret123".to_owned()]);
        let cases = [
            (
                "echoed header block",
                "bad gateway\r\nAuthorization: Bearer sntrys_secret123\r\nHost: x",
                "bad gateway  Authorization: [REDACTED]",
            ),
            (
                "the token alone",
                "token sntrys_secret123 is not valid",
                "token [REDACTED] is not valid",
            ),
            (
                "an unknown credential in JSON",
                r#"{"headers":{"authorization":"Bearer other-token","accept":"*/*"}}"#,
                r#"{"headers":{"authorization":"[REDACTED]","accept":"*/*"}}"#,
            ),
            (
                "a bearer credential without the header name",
                "sent Bearer abc.def, refused",
                "sent Bearer [REDACTED], refused",
            ),
            (
                "a Sentry key header",
                "X-Sentry-Auth: Sentry sentry_key=0123, sentry_version=7",
                "X-Sentry-Auth: [REDACTED], sentry_version=7",
            ),
            (
                "text without secrets",
                "management API answered 502: upstream down",
                "management API answered 502: upstream down",
            ),
            (
                "a word that only starts like a header",
                "authorizationless",
                "authorizationless",
            ),
        ];
        for (what, input, want) in cases {
            let got = redactor.clean(input);
            assert!(got.starts_with(want) || got == want, "{what}: {got:?}");
            assert!(!got.contains("sntrys_secret123"), "{what}: {got:?}");
            assert!(
                !got.contains('\n') && !got.contains('\r'),
                "{what}: {got:?}"
            );
        }
    }

    #[test]
    fn a_secret_cut_short_is_redacted_before_the_cut() {
        let token = "sntrys_0123456789abcdef0123456789abcdef";
        let redactor = Redactor::new([token.to_owned()]);
        let body = format!("{}echo {token}", "x".repeat(500));
        let shown = redactor.clean(&crate::http::body_text(body.as_bytes()));
        assert!(shown.ends_with(&format!("{REDACTED}{CUT_MARK}")), "{shown}");
        assert!(!shown.contains("sntrys_01"), "{shown}");
        let short = redactor.clean(&format!("the word snt{CUT_MARK}"));
        assert_eq!(
            short,
            format!("the word snt{CUT_MARK}"),
            "too short to tell"
        );
    }

    #[test]
    fn an_empty_secret_changes_nothing() {
        assert_eq!(Redactor::new([String::new()]).clean("a b"), "a b");
    }
}
