//! Texts cut to a bound in bytes, at a character boundary: what the size rules of error
//! events, stack-trace frames and trace metric items apply to what the telemetry sends.

/// `text` cut to at most `max` bytes.
pub fn cut(text: &str, max: usize) -> &str {
    &text[..text.floor_char_boundary(max)]
}

/// `text` cut to at most `max` bytes in place, its spare capacity given back (a megabyte
/// cut to a kilobyte holds a kilobyte).
pub fn cut_in_place(text: &mut String, max: usize) {
    if text.len() > max {
        text.truncate(text.floor_char_boundary(max));
        text.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_character_boundary() {
        let table = [
            ("héllo", 2, "h"),
            ("héllo", 3, "hé"),
            ("abc", 10, "abc"),
            ("", 0, ""),
        ];
        for (text, max, want) in table {
            assert_eq!(cut(text, max), want, "{text} {max}");
            let mut owned = text.to_owned();
            cut_in_place(&mut owned, max);
            assert_eq!(owned, want, "{text} {max}");
        }
    }

    #[test]
    fn a_text_cut_in_place_gives_its_memory_back() {
        let mut text = "é".repeat(1 << 20);
        cut_in_place(&mut text, 1025);
        assert_eq!(text.len(), 1024);
        assert!(text.capacity() < 2048, "{}", text.capacity());
    }
}
