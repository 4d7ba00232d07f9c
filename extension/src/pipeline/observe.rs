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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

    use std::sync::{Arc, Mutex};

    use crate::config::Config;
    use crate::intake::Batch;
    use crate::pipeline::Pipeline;
    use crate::sink::{Observed, Sink};

    /// Whether a record was an invocation's, its values' names, its `ColdStart`.
    type Seen = (bool, Vec<&'static str>, Option<String>);

    /// A sink that observes: what each record had, and its fallback documents.
    #[derive(Default, Clone)]
    struct Observer {
        seen: Arc<Mutex<Vec<Seen>>>,
        fallback: Arc<Mutex<Vec<String>>>,
        documents: Arc<Mutex<Vec<String>>>,
        observing: bool,
    }

    impl Sink for Observer {
        fn accept(&mut self, document: String) {
            self.documents.lock().unwrap().push(document);
        }
        async fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        fn observes(&self) -> bool {
            self.observing
        }
        fn observe(&mut self, record: &dyn Observed, fallback: &mut dyn FnMut(&mut Vec<String>)) {
            let mut names = Vec::new();
            record.each_value(&mut |name, _| names.push(name));
            let cold = record.text("ColdStart").map(str::to_owned);
            self.seen
                .lock()
                .unwrap()
                .push((record.is_invocation(), names, cold));
            fallback(&mut self.fallback.lock().unwrap());
        }
    }

    fn run(observing: bool) -> Observer {
        let (config, _) = Config::from_pairs(&[("LAMBDA_LENS_OUTPUT", "adaptive")]);
        let sink = Observer {
            observing,
            ..Observer::default()
        };
        let mut p = Pipeline::from_config(&config, sink.clone());
        p.on_batch(
            Batch::of_records(&[
                ("platform.start", r#"{"requestId":"r1"}"#),
                (
                    "platform.runtimeDone",
                    r#"{"requestId":"r1","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":3.0}}"#,
                ),
                (
                    "platform.report",
                    r#"{"requestId":"r1","status":"error","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
                ),
            ]),
            0,
        );
        p.finish("spindown", 0, 1);
        sink
    }

    /// Every value of every record, the unselected ones too (the default EMF selection has
    /// neither `Invocations` nor `Errors` nor `Duration`), whatever the EMF output groups; and
    /// the fallback is the record's own one-per-invocation document.
    #[test]
    fn an_observing_sink_gets_every_value_before_the_selection_and_a_document_per_record() {
        let sink = run(true);
        let seen = sink.seen.lock().unwrap();
        let (invocation, names, cold) = seen.iter().find(|(i, _, _)| *i).unwrap();
        assert!(*invocation);
        for name in [
            "Invocations",
            "Errors",
            "Duration",
            "MaxMemoryUsed",
            "EstimatedCost",
        ] {
            assert!(names.contains(&name), "{name}: {names:?}");
        }
        assert_eq!(cold.as_deref(), Some("false"));
        assert!(
            seen.iter()
                .any(|(i, names, _)| !i && names.contains(&"Shutdowns"))
        );
        let fallback = sink.fallback.lock().unwrap();
        // The invocation's document; the shutdown record has no metric of the default selection,
        // so EMF writes none for it, and neither does the fallback.
        assert_eq!(fallback.len(), 1, "{fallback:?}");
        let doc: serde_json::Value = serde_json::from_str(&fallback[0]).unwrap();
        assert_eq!(doc["ErrorType"], "Runtime.ExitError", "{doc}");
        // The EMF documents themselves are unchanged.
        assert!(!sink.documents.lock().unwrap().is_empty());
    }

    /// In adaptive output the window's slowest ordinary invocations are held and placed again at
    /// the window's end: each record is still observed once.
    #[test]
    fn a_record_held_among_the_slowest_is_observed_once() {
        let (config, _) = Config::from_pairs(&[("LAMBDA_LENS_OUTPUT", "adaptive")]);
        let sink = Observer {
            observing: true,
            ..Observer::default()
        };
        let mut p = Pipeline::from_config(&config, sink.clone());
        p.on_batch(
            Batch::of_records(&[
                ("platform.start", r#"{"requestId":"r1"}"#),
                ("platform.runtimeDone", r#"{"requestId":"r1","status":"success","metrics":{"durationMs":3.0}}"#),
                (
                    "platform.report",
                    r#"{"requestId":"r1","status":"success","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
                ),
            ]),
            0,
        );
        // A warm invocation: not notable, so kept among the window's slowest.
        p.sweep(1);
        p.finish("spindown", 0, 100_000);
        let seen = sink.seen.lock().unwrap();
        let invocations = seen.iter().filter(|(i, _, _)| *i).count();
        assert_eq!(invocations, 1, "{seen:?}");
        assert!(seen.iter().all(|(i, names, _)| !i || names.contains(&"Duration")));
    }

    /// A sink that does not observe (EMF alone) is never asked, and never pays for a fallback.
    #[test]
    fn a_sink_that_does_not_observe_is_not_handed_records() {
        let sink = run(false);
        assert!(sink.seen.lock().unwrap().is_empty());
        assert!(sink.fallback.lock().unwrap().is_empty());
    }
}
