//! The whole path from a telemetry body to EMF lines, under a configuration the input chooses:
//! its first four lines are `LAMBDA_LENS_STATIC_DIMENSIONS`, `LAMBDA_LENS_DIMENSIONS`,
//! `LAMBDA_LENS_METRICS` and `LAMBDA_LENS_OUTPUT`, the rest is the body. Every line written must
//! pass the EMF specification check; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

use lambda_lens::{Config, MemorySink, Pipeline};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(5, '\n');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let (statics, sets, metrics, output) = (next(), next(), next(), next());
    let body = next();
    let vars = [
        ("AWS_LAMBDA_FUNCTION_NAME", "fuzz".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("LAMBDA_LENS_STATIC_DIMENSIONS", statics),
        ("LAMBDA_LENS_DIMENSIONS", sets),
        ("LAMBDA_LENS_METRICS", metrics),
        ("LAMBDA_LENS_OUTPUT", output),
    ];
    let (config, _) =
        Config::from_lookup(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()));
    let mut pipeline = Pipeline::from_config(&config, MemorySink::default());
    // As the extension works a delivered body: record by record.
    pipeline.on_body(body.into_bytes(), 1_795_600_800_000, 0);
    pipeline.finish("spindown", 1_795_600_900_000, 60_000);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(pipeline.flush()).unwrap();
    for line in pipeline.sink().documents() {
        if let Err(problems) = emf_spec::check_line(&line) {
            panic!("invalid EMF {problems:?}: {line}");
        }
    }
});
