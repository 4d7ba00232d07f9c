//! Event times: RFC 3339 text to epoch milliseconds.
//!
//! Lambda writes every time as `YYYY-MM-DDTHH:MM:SS.sssZ`, three per invocation. That form is
//! read here directly (chrono's general RFC 3339 parser was a visible share of the extension's
//! instructions under a flood, BENCHMARKS.md); anything else (an offset, a lower-case `t`, a leap
//! second, more than nine fraction digits) goes to chrono, so what is accepted and what it
//! means are chrono's. A property test holds the two to the same answers.

/// Milliseconds since the epoch, or chrono's error for text that is not RFC 3339.
pub(crate) fn epoch_ms(text: &str) -> Result<i64, chrono::ParseError> {
    match utc(text.as_bytes()) {
        Some(ms) => Ok(ms),
        None => chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` with every field in range; `None` for anything else.
fn utc(b: &[u8]) -> Option<i64> {
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if b.len() < 20 || !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let millis = match b.get(19)? {
        b'Z' if b.len() == 20 => 0,
        b'.' => {
            let fraction = b.get(20..b.len() - 1)?;
            if b.last() != Some(&b'Z') || fraction.is_empty() || fraction.len() > 9 {
                return None;
            }
            // The first three digits are the milliseconds; the rest must be digits and are
            // dropped (chrono's `timestamp_millis` truncates).
            let mut ms = 0;
            for (i, &c) in fraction.iter().enumerate() {
                let d = i64::from(c.wrapping_sub(b'0'));
                if d > 9 {
                    return None;
                }
                if i < 3 {
                    ms = ms * 10 + d;
                }
            }
            ms * 10_i64.pow(3u32.saturating_sub(fraction.len() as u32))
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis)
}

/// `count` decimal digits at `at`.
fn digits(b: &[u8], at: usize, count: usize) -> Option<i64> {
    b.get(at..at + count)?.iter().try_fold(0, |v, &c| {
        let d = i64::from(c.wrapping_sub(b'0'));
        (d <= 9).then_some(v * 10 + d)
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono_ms(text: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    #[test]
    fn lambdas_form_is_read_directly_and_agrees_with_chrono() {
        for text in [
            "2026-11-25T10:00:00.125Z",
            "2026-11-25T10:00:00Z",
            "2026-11-25T10:00:00.1Z",
            "2026-11-25T10:00:00.123456789Z",
            "1970-01-01T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "2024-02-29T23:59:59.5Z",
            "2000-02-29T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            assert!(utc(text.as_bytes()).is_some(), "{text} is read directly");
            assert_eq!(epoch_ms(text).ok(), chrono_ms(text), "{text}");
        }
    }

    #[test]
    fn every_other_form_is_chronos_to_judge() {
        for text in [
            "2026-11-25T10:00:00+01:00",
            "2026-11-25t10:00:00z",
            "2026-11-25 10:00:00Z",
            "2026-11-25T10:00:60Z",
            "2026-11-25T10:00:00.1234567891Z",
            "2026-11-25T10:00:00.Z",
            "2026-02-29T10:00:00Z",
            "2100-02-29T10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2026-11-31T10:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T10:00:00.12aZ",
            "+2026-11-25T10:00:00Z",
            "2026-11-25T10:00:00",
            "",
            "not a time",
        ] {
            assert_eq!(utc(text.as_bytes()), None, "{text} goes to chrono");
            assert_eq!(epoch_ms(text).ok(), chrono_ms(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn any_time_in_lambdas_form_reads_as_chrono_reads_it(
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            fraction in 0usize..=9,
        ) {
            let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            let text = if fraction == 0 {
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            } else {
                let digits = format!("{:09}", nanos);
                format!("{}.{}Z", t.format("%Y-%m-%dT%H:%M:%S"), &digits[..fraction])
            };
            prop_assert_eq!(epoch_ms(&text).ok(), chrono_ms(&text), "{}", text);
            prop_assert!(utc(text.as_bytes()).is_some());
        }

        #[test]
        fn any_text_reads_as_chrono_reads_it(text in "[0-9TZ:.+-]{0,32}") {
            prop_assert_eq!(epoch_ms(&text).ok(), chrono_ms(&text));
        }
    }
}
