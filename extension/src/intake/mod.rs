//! Intake: the Telemetry API subscription and the HTTP listener Lambda delivers batches to.
//!
//! The listener is bound once, before subscribing, and decodes each batch record by record
//! (see [`decode`]); decoded events go to the rest of the pipeline over a bounded channel.

pub mod decode;
pub use lambda_lens_telemetry::{record, wire};
pub mod event;
mod server;
mod subscribe;

pub use server::{IntakeMessage, bind_listener, serve};
pub use subscribe::{SCHEMA_VERSION, SubscribeError, subscribe};
