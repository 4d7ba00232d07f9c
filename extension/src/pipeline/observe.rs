//! Records handed to the sinks that observe them (the OTLP sink): the [`Observed`] view of a
//! metric record, and its EMF documents for that sink's fallback, made only when asked for.

use super::Pipeline;
use crate::metrics::{MetricRecord, RecordKind};
use crate::sink::{Observed, Sink};

impl Observed for MetricRecord {
    fn is_invocation(&self) -> bool {
        self.kind == RecordKind::Invocation
    }

    fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    fn each_value(&self, each: &mut dyn FnMut(&'static str, f64)) {
        for (def, value) in &self.values {
            each(def.name, *value);
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
            .or_else(|| self.property_text(key))
    }
}

impl<S: Sink> Pipeline<S> {
    /// Hands `record` (every value, before the selection) to the sinks that observe records.
    /// Its fallback is the document(s) one-document-per-invocation output would write for it.
    pub(super) fn observe(&mut self, record: &MetricRecord) {
        let parts = &mut self.parts;
        let (encoder, selection) = (&parts.encoder, &parts.selection);
        parts.sink.observe(record, &mut |out: &mut Vec<String>| {
            let mut selected = record.clone();
            selected.select(selection);
            encoder.encode(&selected, out);
        });
    }
}
