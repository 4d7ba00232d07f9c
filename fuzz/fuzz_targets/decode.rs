//! The telemetry decoder and the conversion into the model, on any bytes: no panic, and the
//! counts add up.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let (items, stats) = lambda_lens_telemetry::decode_records(body);
    assert!(items.len() as u64 <= stats.records);
    let batch = lambda_lens::Batch::decode(body, 1_795_600_800_000);
    let s = batch.stats();
    assert!(s.used + s.ignored + s.unknown <= s.records + s.malformed);
});
