//! JSON text, written straight into a document: strings escaped and numbers formatted exactly
//! as serde_json writes them (the same escapes, the same shortest round-trip floats), so the
//! bytes are what the earlier `serde_json::Value` encoder wrote, without building values.

/// Appends `s` as a JSON string: quotes, backslashes and control characters escaped
/// (`\n`, `\t`, ... or `\u00XX`); everything else, non-ASCII included, as it is.
pub(super) fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    // Most texts need no escape at all: skip them eight bytes at a time.
    let bytes = s.as_bytes();
    let mut clean = 0;
    while let Some(word) = bytes.get(clean..clean + 8) {
        if needs_escape(u64::from_le_bytes(word.try_into().unwrap_or([0; 8]))) {
            break;
        }
        clean += 8;
    }
    for (i, byte) in s.bytes().enumerate().skip(clean) {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `start` and `i` are both at ASCII bytes, so on character boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            for nibble in [byte >> 4, byte & 0xf] {
                out.push(char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')));
            }
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// Whether any of the eight bytes of `word` is a control character, `"` or `\\` (exact: the
/// classic "has a zero byte" / "has a byte less than n" tests).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
    control || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\')))
}

/// Appends a finite `f64` (the caller leaves out NaN and infinities, which JSON cannot hold).
/// Whole numbers below 10^15 (counts, flags, megabytes, billed milliseconds: most values) take
/// a shorter path to the same text, `N.0`.
pub(super) fn float(out: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
        int(out, v as i64);
        out.push_str(".0");
        return;
    }
    out.push_str(zmij::Buffer::new().format_finite(v));
}

pub(super) fn uint(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

pub(super) fn int(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn a_word_needs_escaping_exactly_when_one_of_its_bytes_does() {
        for byte in 0..=255u8 {
            for position in 0..8 {
                let mut word = *b"abcdefgh";
                word[position] = byte;
                let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
                assert_eq!(
                    needs_escape(u64::from_le_bytes(word)),
                    expected,
                    "{byte:#x} at {position}"
                );
            }
        }
    }

    #[test]
    fn escapes_as_serde_json_does() {
        let s = "a\"b\\c\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é/😀";
        // Long clean runs before and after escapes, across word boundaries.
        let long = format!("{}\"{}\u{1}{}", "x".repeat(17), "é".repeat(9), "y".repeat(8));
        assert_eq!(
            written(|o| string(o, &long)),
            serde_json::to_string(&long).unwrap()
        );
        let ours = written(|o| string(o, s));
        assert_eq!(ours, serde_json::to_string(s).unwrap());
        assert_eq!(ours, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0000\\u001f\u{7f}é/😀\"");
    }

    #[test]
    fn numbers_as_serde_json_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            52.3,
            0.1 + 0.2,
            1e21,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            -3.5,
        ] {
            assert_eq!(written(|o| float(o, v)), serde_json::to_string(&v).unwrap());
        }
        assert_eq!(written(|o| uint(o, u64::MAX)), "18446744073709551615");
        assert_eq!(written(|o| int(o, i64::MIN)), "-9223372036854775808");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any string comes back unchanged through a JSON parser, in the bytes serde_json
        /// itself would write.
        #[test]
        fn any_string_round_trips(s in any::<String>()) {
            let ours = written(|o| string(o, &s));
            prop_assert_eq!(&ours, &serde_json::to_string(&s).unwrap());
            let back: String = serde_json::from_str(&ours).unwrap();
            prop_assert_eq!(back, s);
        }

        /// Whole numbers, on both sides of the short path's bound, are written as serde_json
        /// writes them.
        #[test]
        fn whole_numbers_as_serde_json_writes_them(n in any::<i64>(), shift in 0u32..64) {
            let v = (n >> shift) as f64;
            prop_assert_eq!(written(|o| float(o, v)), serde_json::to_string(&v).unwrap());
        }

        /// Any finite float is written as serde_json writes it and reads back (with an exact
        /// parser: serde_json's default one may be off by the last bit) as the same value.
        #[test]
        fn any_finite_float_round_trips(v in any::<f64>().prop_filter("finite", |v| v.is_finite())) {
            let ours = written(|o| float(o, v));
            prop_assert_eq!(&ours, &serde_json::to_string(&v).unwrap());
            let back: f64 = ours.parse().unwrap();
            prop_assert_eq!(back.to_bits(), v.to_bits());
        }
    }
}
