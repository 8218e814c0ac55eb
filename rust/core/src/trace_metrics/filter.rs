//! `metrics.include` / `metrics.exclude`: which metrics (by name) are sent, since Sentry bills
//! per item. A pattern is the name itself with `*` standing for any run of characters.

/// One name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    /// The literal pieces between the `*`s.
    pieces: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl NamePattern {
    pub fn new(pattern: &str) -> NamePattern {
        NamePattern {
            pieces: pattern
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            anchored_start: !pattern.starts_with('*'),
            anchored_end: !pattern.ends_with('*'),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        let mut rest = name;
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            let anchored_here = i == 0 && self.anchored_start;
            let at = if anchored_here {
                rest.starts_with(piece.as_str()).then_some(0)
            } else if i == last && self.anchored_end {
                // The last piece ends the name; leftmost matches earlier keep it reachable.
                rest.ends_with(piece.as_str())
                    .then(|| rest.len() - piece.len())
            } else {
                rest.find(piece.as_str())
            };
            let Some(at) = at else { return false };
            rest = &rest[at + piece.len()..];
        }
        !self.anchored_end || rest.is_empty()
    }
}

/// Which metric names are sent: those matching an `include` pattern (all, when there is
/// none) and no `exclude` pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    pub include: Vec<NamePattern>,
    pub exclude: Vec<NamePattern>,
}

impl NameFilter {
    pub fn allows(&self, name: &str) -> bool {
        let included = self.include.is_empty() || self.include.iter().any(|p| p.matches(name));
        included && !self.exclude.iter().any(|p| p.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_with_stars_for_any_run() {
        let table = [
            ("http.server.duration", "http.server.duration", true),
            ("http.server.duration", "http.server.duration.x", false),
            ("http.*", "http.server.duration", true),
            ("http.*", "rpc.server.duration", false),
            ("*.duration", "http.server.duration", true),
            ("*.duration", "http.server.duration_ms", false),
            ("*server*", "http.server.duration", true),
            ("http.*.duration", "http.client.duration", true),
            ("http.*.duration", "http.duration", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("a*b*a", "abba", true),
            ("*", "anything", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, name, matches) in table {
            assert_eq!(
                NamePattern::new(pattern).matches(name),
                matches,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn exclude_wins_and_no_include_means_all() {
        let filter = NameFilter {
            include: vec![NamePattern::new("http.*")],
            exclude: vec![NamePattern::new("*.debug")],
        };
        assert!(filter.allows("http.server.duration"));
        assert!(!filter.allows("http.server.debug"));
        assert!(!filter.allows("db.calls"));
        let all = NameFilter {
            include: Vec::new(),
            exclude: vec![NamePattern::new("db.*")],
        };
        assert!(all.allows("http.x") && !all.allows("db.calls"));
    }
}
