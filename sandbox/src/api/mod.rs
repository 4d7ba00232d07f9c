//! The three HTTP APIs the sandbox serves to the environment's processes, on one 127.0.0.1
//! port (`AWS_LAMBDA_RUNTIME_API`), as Lambda serves them:
//!
//! - [`runtime`]: the Runtime API (2018-06-01) the function's `bootstrap` polls for events and
//!   answers;
//! - [`extensions`]: the Extensions API (2020-01-01) extensions register with and poll for
//!   `INVOKE` and `SHUTDOWN`;
//! - [`telemetry`]: the Telemetry API (2022-07-01) extensions subscribe with (the delivery
//!   itself is [`crate::telemetry`]);
//! - [`server`]: the HTTP server that routes a request to one of them;
//! - [`response`]: the answers they share (JSON, Lambda's error shape, `202`).

pub(crate) mod extensions;
pub(crate) mod response;
pub(crate) mod runtime;
pub(crate) mod server;
pub(crate) mod telemetry;
