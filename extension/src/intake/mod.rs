//! Intake: the Telemetry API subscription and the HTTP listener Lambda delivers batches to.
//!
//! The listener is bound once, before subscribing, and decodes each batch record by record
//! (see [`decode`]); decoded events go to the rest of the pipeline over a bounded channel.

pub mod decode;
pub mod event;
mod server;
mod subscribe;
pub mod wire;

pub use server::{IntakeMessage, bind_listener, serve};
pub use subscribe::{SCHEMA_VERSION, SubscribeError, subscribe};
