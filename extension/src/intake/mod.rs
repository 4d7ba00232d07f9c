//! Intake: the Telemetry API subscription, the HTTP listener Lambda delivers batches to, and
//! the conversion of each batch from the wire format into the [model](crate::model).
//!
//! The listener is bound once, before subscribing. A batch is decoded record by record by the
//! `lambda-lens-telemetry` crate, then converted once into owned events ([`Batch::decode`]);
//! batches go to the pipeline over a bounded channel, each holding the listener's one reading
//! slot until the pipeline has worked it.

mod decode;
mod listener;
mod subscribe;

pub use decode::Batch;
pub(crate) use decode::ReadSlot;
pub(crate) use listener::{IntakeMessage, Listener, RequestLimits, bind_listener, serve};
pub(crate) use subscribe::subscribe;
