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

/// The message a panic carries (`panic!` with a literal or a formatted message), if any.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panics_message_is_read_whether_literal_or_formatted() {
        let literal = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        let formatted = std::panic::catch_unwind(|| panic!("{}", 7)).unwrap_err();
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), Some("boom"));
        assert_eq!(panic_message(formatted.as_ref()), Some("7"));
        assert_eq!(panic_message(other.as_ref()), None);
    }

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
