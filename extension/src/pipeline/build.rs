//! Assembles a [`Pipeline`] from the configuration.

use super::{Pipeline, PipelineParts};
use crate::config::{Config, OutputMode};
use crate::emf::{Batcher, EmfConfig, EmfEncoder, Slowest};
use crate::join::{JoinLimits, Joiner};
use crate::metrics::cost::Pricing;
use crate::metrics::{ARCHITECTURE, Group, InvocationContext, catalogue};
use crate::sink::Sink;

impl<S: Sink> Pipeline<S> {
    /// The pipeline this configuration asks for, writing to `sink`.
    pub fn from_config(config: &Config, sink: S) -> Self {
        let out = &config.output;
        let managed = config.function.is_managed_instances();
        let flush_ms = u64::try_from(out.flush_interval.as_millis()).unwrap_or(u64::MAX);
        let tenant_dimension = out.dimension_sets.iter().flatten().any(|k| k == "TenantId");
        if tenant_dimension {
            crate::config::warn::log_config_warning(
                config,
                "TenantId is a dimension (LAMBDA_LENS_DIMENSIONS): every tenant makes a custom metric of its own for each metric selected, each billed; the tenant is always in each invocation's document as the TenantId property, which costs nothing",
            );
        }
        let resources_on = catalogue::ALL
            .iter()
            .any(|d| d.group == Group::Resources && out.metrics.contains(d));
        Pipeline::new(PipelineParts {
            joiner: Joiner::new(JoinLimits {
                runtime_done_expected: !managed,
                ..JoinLimits::default()
            }),
            context: InvocationContext {
                function_version: Some(config.function.version.as_str().into()),
                pricing: Pricing::for_region(
                    config.function.region.as_deref(),
                    ARCHITECTURE,
                    out.price_per_gb_second,
                    out.price_per_request,
                ),
                region: config.function.region.as_deref().map(Into::into),
                memory_size_mb: config.function.memory_size_mb,
                init_type: config.function.init_type().into(),
                tenant_dimension,
            },
            encoder: EmfEncoder::new(emf_config(config)),
            sink,
            selection: out.metrics,
            batcher: (out.mode != OutputMode::PerInvocation).then(|| {
                Batcher::new(
                    out.compact_values,
                    out.mode == OutputMode::Batched,
                    out.high_resolution,
                    flush_ms,
                )
            }),
            slowest: (out.mode == OutputMode::Adaptive).then(|| Slowest::new(out.keep_slowest, flush_ms)),
            // Without INVOKE events (Managed Instances) there are no invocation boundaries to
            // sample at. Only when resource metrics are selected, for every sink: a sample at
            // each boundary is CPU spent at the thaw, beside the function and the platform, and
            // measured in the post-runtime tail (the OTLP sink's `faas.cpu_usage` and
            // `faas.net_io` come with `resources`, as EMF's do).
            wants_resources: resources_on && !managed,
        })
    }
}

/// The values of the built-in dimensions, for the keys some dimension set uses (a key no set
/// uses is not written: `MemorySize` as a string member would take the metric's place), then
/// the user's static dimensions.
fn emf_config(config: &Config) -> EmfConfig {
    let out = &config.output;
    let f = &config.function;
    let used = |key: &str| key == "FunctionName" || out.dimension_sets.iter().flatten().any(|k| k == key);
    let built_in = [
        ("FunctionName", Some(f.name.clone())),
        ("FunctionVersion", Some(f.version.clone())),
        ("InitType", Some(f.init_type().to_owned())),
        ("Architecture", Some(ARCHITECTURE.to_owned())),
        ("MemorySize", f.memory_size_mb.map(|m| m.to_string())),
    ];
    let mut static_dimensions: Vec<(String, String)> = built_in
        .into_iter()
        .filter(|(k, _)| used(k))
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
    static_dimensions.extend(out.static_dimensions.iter().cloned());
    if used("MemorySize") && out.metrics.contains(&catalogue::MEMORY_SIZE) {
        crate::config::warn::log_config_warning(
            config,
            "MemorySize is a dimension: the MemorySize metric is left out (a member cannot be both)",
        );
    }
    EmfConfig {
        namespace: config.namespace.clone(),
        dimension_sets: out.dimension_sets.clone(),
        static_dimensions,
        high_resolution: out.high_resolution,
        level: config.log.emf_level(),
    }
}
