//! `log_lines`: function log lines on stdout.

use std::io::{self, Write};

/// Writes `count` numbered lines to `out` and flushes it. Returns the number written.
pub(crate) fn write_lines(out: &mut impl Write, count: u64, request_id: &str) -> io::Result<u64> {
    for index in 1..=count {
        writeln!(
            out,
            "sample-function log line {index}/{count} request_id={request_id} \
             the quick brown fox jumps over the lazy dog"
        )?;
    }
    out.flush()?;
    Ok(count)
}

/// Writes the lines to the process's stdout, which Lambda captures as function logs.
pub(crate) fn write_to_stdout(count: u64, request_id: &str) -> io::Result<u64> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    write_lines(&mut out, count, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exactly_the_requested_lines() {
        let mut out = Vec::new();
        assert_eq!(write_lines(&mut out, 3, "req-1").unwrap(), 3);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("sample-function log line 1/3 request_id=req-1 "));
        assert!(lines[2].starts_with("sample-function log line 3/3 "));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn zero_lines_writes_nothing() {
        let mut out = Vec::new();
        assert_eq!(write_lines(&mut out, 0, "r").unwrap(), 0);
        assert!(out.is_empty());
    }
}
