//! The built layer and sample function (the sandbox's suites share the same locator: it is
//! included from there, not copied), and a demo run of them.
#![allow(dead_code, reason = "shared by several test binaries")]

#[path = "../../../tests/binaries/mod.rs"]
mod built;

pub(crate) use built::*;

/// A demo run of the built layer and function with `env` (`SANDBOX_ECHO` set: the processes'
/// output is echoed live).
pub(crate) fn demo_config(env: &[(&str, &str)]) -> lambda_lens_harness::demo::DemoConfig {
    let (bootstrap, layer) = paths();
    let mut c = lambda_lens_harness::demo::DemoConfig::new(bootstrap, layer);
    c.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    c.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    c
}
