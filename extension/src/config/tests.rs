use super::*;

fn config(vars: &[(&str, &str)]) -> (Config, Vec<ConfigWarning>) {
    Config::from_pairs(vars)
}

#[test]
fn defaults_with_nothing_set() {
    let (c, w) = config(&[]);
    assert!(w.is_empty());
    assert_eq!(c.namespace, DEFAULT_NAMESPACE);
    assert_eq!(c.port, 0);
    assert_eq!(c.buffering, Buffering::default());
    assert_eq!(c.log.filter, "warn,lambda_lens=info");
    assert!(!c.log.json);
    assert_eq!(c.function.name, "unknown");
}

#[test]
fn reads_lambda_variables() {
    let (c, w) = config(&[
        ("AWS_LAMBDA_FUNCTION_NAME", "checkout"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "lambda-managed-instances"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "debug"),
    ]);
    assert!(w.is_empty());
    assert_eq!(c.function.name, "checkout");
    assert_eq!(c.function.memory_size_mb, Some(512));
    assert!(c.function.is_managed_instances());
    assert!(c.log.json);
    assert_eq!(c.log.filter, "warn,lambda_lens=debug");
}

#[test]
fn bad_values_warn_with_variable_and_accepted_values_and_fall_back() {
    let (c, w) = config(&[
        ("LAMBDA_LENS_BUFFER_TIMEOUT_MS", "5"),
        ("LAMBDA_LENS_BUFFER_MAX_BYTES", "lots"),
        ("LAMBDA_LENS_PORT", "9001"),
        ("LAMBDA_LENS_NAMESPACE", "AWS/Lambda"),
        ("AWS_LAMBDA_LOG_LEVEL", "loud"),
    ]);
    assert_eq!(c.buffering, Buffering::default());
    assert_eq!(c.port, 0);
    assert_eq!(c.namespace, DEFAULT_NAMESPACE);
    assert_eq!(c.log.filter, "warn,lambda_lens=info");
    let vars: Vec<&str> = w.iter().map(|w| w.variable).collect();
    assert_eq!(
        vars,
        [
            "LAMBDA_LENS_NAMESPACE",
            "LAMBDA_LENS_PORT",
            "LAMBDA_LENS_BUFFER_TIMEOUT_MS",
            "LAMBDA_LENS_BUFFER_MAX_BYTES",
            "AWS_LAMBDA_LOG_LEVEL"
        ]
    );
    let text = w[2].to_string();
    assert!(text.contains("LAMBDA_LENS_BUFFER_TIMEOUT_MS"), "{text}");
    assert!(text.contains("from 25 to 30000"), "{text}");
    assert!(text.contains("using 25"), "{text}");
}

#[test]
fn namespace_falls_back_to_powertools() {
    let (c, _) = config(&[("POWERTOOLS_METRICS_NAMESPACE", "Shop")]);
    assert_eq!(c.namespace, "Shop");
    let (c, _) = config(&[
        ("POWERTOOLS_METRICS_NAMESPACE", "Shop"),
        ("LAMBDA_LENS_NAMESPACE", "Lens"),
    ]);
    assert_eq!(c.namespace, "Lens");
}

#[test]
fn buffering_bounds_are_inclusive() {
    let (c, w) = config(&[
        ("LAMBDA_LENS_BUFFER_TIMEOUT_MS", "30000"),
        ("LAMBDA_LENS_BUFFER_MAX_BYTES", "1048576"),
        ("LAMBDA_LENS_BUFFER_MAX_ITEMS", "10000"),
    ]);
    assert!(w.is_empty());
    assert_eq!(c.buffering.timeout_ms, 30_000);
    assert_eq!(c.buffering.max_bytes, 1_048_576);
    assert_eq!(c.buffering.max_items, 10_000);
}

#[test]
fn log_level_override_wins_and_rust_log_is_last() {
    let (c, _) = config(&[
        ("LAMBDA_LENS_LOG_LEVEL", "warn"),
        ("AWS_LAMBDA_LOG_LEVEL", "debug"),
    ]);
    assert_eq!(c.log.filter, "warn");
    let (c, _) = config(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
    assert_eq!(c.log.filter, "error");
    let (c, _) = config(&[("RUST_LOG", "lambda_lens=trace")]);
    assert_eq!(c.log.filter, "lambda_lens=trace");
}

#[test]
fn a_rust_log_that_is_not_levels_is_refused_and_errors_stay_on() {
    for bad in ["garbage", "loud", "lambda_lens=loud", "a b=info", "=info", ","] {
        let (c, w) = config(&[("RUST_LOG", bad)]);
        assert_eq!(c.log.filter, "warn,lambda_lens=info", "{bad}");
        assert_eq!(w.len(), 1, "{bad}");
        assert_eq!(w[0].variable, "RUST_LOG");
    }
    let (c, w) = config(&[("RUST_LOG", "hyper=debug")]);
    assert!(w.is_empty());
    assert_eq!(
        c.log.filter, "hyper=debug,lambda_lens=error",
        "lambda-lens errors stay on"
    );
    let (c, _) = config(&[("RUST_LOG", "WARN")]);
    assert_eq!(c.log.filter, "WARN");
}

#[test]
fn empty_values_of_our_variables_warn_and_fall_back() {
    let (c, w) = config(&[("LAMBDA_LENS_NAMESPACE", "  "), ("LAMBDA_LENS_OUTPUT", "")]);
    assert_eq!(c.namespace, DEFAULT_NAMESPACE);
    let vars: Vec<&str> = w.iter().map(|w| w.variable).collect();
    assert_eq!(vars, ["LAMBDA_LENS_NAMESPACE", "LAMBDA_LENS_OUTPUT"]);
    assert!(w[0].to_string().contains("empty"), "{}", w[0]);
}

#[test]
fn the_sink_is_emf_unless_asked_and_a_bad_value_names_the_choices() {
    let emf = Sinks::only(SinkKind::Emf);
    let (c, w) = config(&[]);
    assert_eq!((c.sink, w.len()), (emf, 0));
    for bad in ["cloudwatch", "emf,emf", "emf,", "both,emf", "put-metric-data,api"] {
        let (c, w) = config(&[("LAMBDA_LENS_SINK", bad)]);
        assert_eq!((c.sink, w.len()), (emf, 1), "{bad}");
        let text = w[0].to_string();
        assert!(text.starts_with(&format!("LAMBDA_LENS_SINK={bad:?}")), "{text}");
        assert!(
            text.contains("emf, put-metric-data, otlp (e.g. emf,otlp)") && text.ends_with("using emf"),
            "{text}"
        );
    }
    let built_in = SinkKind::PutMetricData.built_in();
    let put = Sinks::only(SinkKind::PutMetricData);
    let both = Sinks {
        bits: SinkKind::Emf.bit() | SinkKind::PutMetricData.bit(),
    };
    assert_eq!(
        (put.to_string(), both.to_string()),
        ("put-metric-data".into(), "emf,put-metric-data".into())
    );
    for (raw, sinks, old) in [
        ("emf", emf, false),
        (" EMF ", emf, false),
        ("put-metric-data", put, false),
        ("emf,put-metric-data", both, false),
        (" put-metric-data , emf", both, false),
        ("API", put, true),
        ("both", both, true),
        ("emf,api", both, true),
    ] {
        let (c, w) = config(&[("LAMBDA_LENS_SINK", raw)]);
        let mut w = w.iter().map(ToString::to_string);
        if old {
            let text = w.next().unwrap_or_default();
            assert!(
                text.contains("is an old name")
                    && text.ends_with(&format!("set LAMBDA_LENS_SINK={sinks} instead")),
                "{raw}: {text}"
            );
        }
        if built_in || sinks == emf {
            assert_eq!(c.sink, sinks, "{raw}");
            assert_eq!(w.next(), None, "{raw}");
        } else {
            assert_eq!(c.sink, emf, "{raw}");
            let text = w.next().unwrap_or_default();
            assert!(text.contains("make layer SINK=put-metric-data"), "{raw}: {text}");
        }
    }
    // otlp, alone or with any of the others; outside the variant that has it, EMF and a
    // warning naming the variable and the variant.
    let otlp = Sinks::only(SinkKind::Otlp);
    let all = Sinks {
        bits: SinkKind::Emf.bit() | SinkKind::PutMetricData.bit() | SinkKind::Otlp.bit(),
    };
    assert_eq!(all.to_string(), "emf,put-metric-data,otlp");
    for (raw, sinks) in [
        ("otlp", otlp),
        ("OTLP,emf", Sinks { bits: 0b101 }),
        ("otlp,put-metric-data,emf", all),
    ] {
        let (c, w) = config(&[("LAMBDA_LENS_SINK", raw)]);
        if sinks.kinds().all(SinkKind::built_in) {
            assert_eq!((c.sink, w.len()), (sinks, 0), "{raw}");
        } else {
            assert_eq!(c.sink, emf, "{raw}");
            let text = w[0].to_string();
            assert!(
                text.starts_with(&format!("LAMBDA_LENS_SINK={raw:?}"))
                    && text.contains("-otlp.zip (`make layer SINK=otlp`)")
                        | text.contains("(`make layer SINK=put-metric-data`)"),
                "{raw}: {text}"
            );
        }
    }
    let (_, w) = config(&[("LAMBDA_LENS_SINK", "otlp,otlp")]);
    assert_eq!(w.len(), 1);
    let (c, _) = config(&[
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:2"),
    ]);
    assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:2"));
}

#[test]
fn every_interface_needs_an_explicit_opt_in() {
    let (c, w) = config(&[("LAMBDA_LENS_LISTENER_HOST", "0.0.0.0")]);
    assert_eq!(c.listener_host, None);
    assert!(
        w[0].to_string()
            .contains("LAMBDA_LENS_LISTEN_ALL_INTERFACES=true"),
        "{}",
        w[0]
    );
    let (c, w) = config(&[
        ("LAMBDA_LENS_LISTENER_HOST", "::"),
        ("LAMBDA_LENS_LISTEN_ALL_INTERFACES", "true"),
    ]);
    assert!(w.is_empty());
    assert_eq!(c.listener_host, Some("::".parse().unwrap()));
    let (c, _) = config(&[("LAMBDA_LENS_LISTENER_HOST", "127.0.0.1")]);
    assert_eq!(c.listener_host, Some("127.0.0.1".parse().unwrap()));
}

#[test]
fn a_namespace_outside_the_emf_libraries_characters_is_refused() {
    for bad in [
        "My Service",
        "tab\there",
        "émetteur",
        "a*b",
        "AWS/Lambda",
        &"n".repeat(256),
    ] {
        let (c, w) = config(&[("LAMBDA_LENS_NAMESPACE", bad)]);
        assert_eq!(c.namespace, DEFAULT_NAMESPACE, "{bad:?}");
        assert_eq!(w.len(), 1, "{bad:?}");
        let text = w[0].to_string();
        assert!(text.contains("LAMBDA_LENS_NAMESPACE"), "{text}");
        assert!(text.contains("a-z A-Z 0-9 . _ # : / -"), "{text}");
        assert!(text.contains("using LambdaLens"), "{text}");
    }
    for good in ["Shop/checkout-v2", "a.b_c#d:e", &"n".repeat(255)] {
        let (c, w) = config(&[("LAMBDA_LENS_NAMESPACE", good)]);
        assert!(w.is_empty(), "{good:?}: {w:?}");
        assert_eq!(c.namespace, good);
    }
    // The Powertools variable is held to the same rule.
    let (c, w) = config(&[("POWERTOOLS_METRICS_NAMESPACE", "My Service")]);
    assert_eq!(c.namespace, DEFAULT_NAMESPACE);
    assert_eq!(w[0].variable, "POWERTOOLS_METRICS_NAMESPACE");
}

#[test]
fn a_metric_selection_that_selects_nothing_warns_and_uses_the_default_set() {
    let default = crate::metrics::selection::Selection::default_set();
    for nothing in ["-all", "core,-core", "-default", "default,-all"] {
        let (c, w) = config(&[("LAMBDA_LENS_METRICS", nothing)]);
        assert_eq!(c.output.metrics, default, "{nothing}");
        assert_eq!(w.len(), 1, "{nothing}: {w:?}");
        let text = w[0].to_string();
        assert!(text.contains("LAMBDA_LENS_METRICS"), "{text}");
        assert!(text.contains("selects no metric"), "{text}");
        assert!(
            text.contains("core, detail, resources, cost, extension"),
            "{text}"
        );
        assert!(text.contains("the default set"), "{text}");
    }
}

#[test]
fn under_json_emf_lines_carry_the_application_level_and_under_text_nothing() {
    for (format, level, expected) in [
        ("JSON", Some("WARN"), Some("WARN")),
        ("json", Some("fatal"), Some("FATAL")),
        ("Json", Some("Error"), Some("ERROR")),
        ("JSON", Some("trace"), Some("TRACE")),
        ("JSON", Some("warning"), Some("WARN")),
        // Lambda's default application level.
        ("JSON", None, Some("INFO")),
        ("Text", Some("ERROR"), None),
        ("", Some("ERROR"), None),
    ] {
        let mut vars = vec![("AWS_LAMBDA_LOG_FORMAT", format)];
        vars.extend(level.map(|l| ("AWS_LAMBDA_LOG_LEVEL", l)));
        let (c, w) = config(&vars);
        assert!(w.is_empty(), "{vars:?}: {w:?}");
        assert_eq!(c.log.emf_level(), expected, "{vars:?}");
        assert_eq!(c.log.level_from_lambda, level.is_some(), "{vars:?}");
    }
}

#[test]
fn a_lambda_log_level_that_is_not_a_level_is_named_and_emf_lines_carry_info() {
    let (c, w) = config(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "loud"),
        ("LAMBDA_LENS_LOG_LEVEL", "debug"),
    ]);
    assert_eq!(c.log.emf_level(), Some("INFO"));
    assert_eq!(
        c.log.filter, "warn,lambda_lens=debug",
        "the override still sets the extension's own log"
    );
    assert_eq!(w.len(), 1, "{w:?}");
    let text = w[0].to_string();
    assert!(
        text.contains("AWS_LAMBDA_LOG_LEVEL") && text.contains("INFO for the level of EMF lines"),
        "{text}"
    );
}

#[test]
fn a_static_dimension_named_level_is_refused() {
    let (c, w) = config(&[(
        "LAMBDA_LENS_STATIC_DIMENSIONS",
        "level=debug,Level=x,Service=shop",
    )]);
    assert_eq!(
        c.output.static_dimensions,
        [("Service".to_owned(), "shop".to_owned())]
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].to_string().contains("level"), "{}", w[0]);
}
