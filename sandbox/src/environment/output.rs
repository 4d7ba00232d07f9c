//! Captured output of the sandboxed processes.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Which process wrote a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// The runtime (`bootstrap`) process: the function.
    Function,
    /// An extension, by its file name.
    Extension(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Function => f.write_str("function"),
            Self::Extension(n) => write!(f, "extension:{n}"),
        }
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout
    Stdout,
    /// stderr
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One line of process output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputLine {
    /// When the sandbox read it.
    pub time: DateTime<Utc>,
    /// Who wrote it.
    pub source: Source,
    /// Where.
    pub stream: Stream,
    /// The line, without its newline (invalid UTF-8 replaced).
    pub text: String,
}

/// All captured lines, in the order they were read.
#[derive(Debug, Default)]
pub(crate) struct OutputStore {
    lines: Mutex<Vec<OutputLine>>,
}

impl OutputStore {
    /// Appends a line.
    pub(crate) fn push(&self, line: OutputLine) {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// Every line so far.
    pub(crate) fn all(&self) -> Vec<OutputLine> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Lines of one source.
    pub(crate) fn of(&self, source: &Source) -> Vec<OutputLine> {
        self.all().into_iter().filter(|l| &l.source == source).collect()
    }
}
