//! Intake: the Telemetry API subscription, the HTTP listener Lambda delivers batches to, and
//! the conversion of each batch from the wire format into the [model](crate::model).
//!
//! The listener is bound once, before subscribing. A delivered body goes to the pipeline over a
//! bounded channel, holding the listener's one reading slot until the pipeline has worked it;
//! the pipeline reads it record by record ([`Reading`](convert::Reading)): each record is
//! decoded by the `lambda-lens-telemetry` crate and converted into one owned event as it is
//! joined.

mod convert;
mod listener;
mod subscribe;
mod time;

pub use convert::Batch;
pub(crate) use convert::{Delivery, Reading, Versions};
pub(crate) use listener::{IntakeMessage, Listener, RequestLimits, bind_listener, serve};
pub(crate) use subscribe::subscribe;
