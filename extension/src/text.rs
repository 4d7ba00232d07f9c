//! Text from outside, made safe to log.

/// The longest value from outside (a telemetry field, a variable's value) a log line quotes.
const LOGGED_VALUE_CHARS: usize = 200;

/// `text` cut to what a log line may quote, saying how long it was: values from outside never
/// go into the log whole (a 400 KB value must not make a 400 KB log line).
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(LOGGED_VALUE_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => {
            let kept = text.get(..end).unwrap_or_default();
            std::borrow::Cow::Owned(format!("{kept}… ({} bytes in all)", text.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_clipped_with_their_length_and_short_ones_kept() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(100_000);
        let clipped = clip(&long);
        assert!(
            clipped.chars().count() < LOGGED_VALUE_CHARS + 40,
            "{}",
            clipped.len()
        );
        assert!(clipped.ends_with("(200000 bytes in all)"), "{clipped}");
    }
}
