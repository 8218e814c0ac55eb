//! Sentry's slug rules: lowercase letters, digits, `-` and `_`, 1 to 50 characters, not all digits.

/// The longest slug Sentry accepts.
pub const MAX_LEN: usize = 50;

/// Whether `s` is a slug Sentry would accept for a project or team.
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.bytes().all(|b| b.is_ascii_digit())
}

/// The slug Sentry derives from a project name when the create call gives none: lowercased,
/// other characters replaced by `-`, repeats collapsed, trimmed, cut to 50.
pub fn from_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        if keep {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    let cut: String = trimmed.chars().take(MAX_LEN).collect();
    cut.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_slugs() {
        for s in ["a", "frontend", "my_project-2", "9lives", &"x".repeat(50)] {
            assert!(is_valid(s), "{s:?} should be valid");
        }
    }

    #[test]
    fn invalid_slugs() {
        for s in [
            "",
            "123",
            "Upper",
            "with space",
            "dot.ted",
            "slash/ed",
            "..%2F..",
            "ünï",
            &"x".repeat(51),
        ] {
            assert!(!is_valid(s), "{s:?} should be invalid");
        }
    }

    #[test]
    fn slug_from_name() {
        assert_eq!(from_name("My Shop: Orders!"), "my-shop-orders");
        assert_eq!(from_name("--a__b--"), "a__b");
        assert_eq!(from_name(&"ab ".repeat(30)).len(), 50);
        assert!(!from_name(&"ab ".repeat(30)).ends_with('-'));
    }
}
