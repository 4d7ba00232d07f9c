//! The Lambda Telemetry API's records as serde types that borrow from the request body, and
//! the decoding of a delivered batch record by record.
//!
//! Tolerant on purpose: fields the schema lets Lambda leave out are optional, unknown fields
//! are ignored, unknown record types are counted rather than rejected, and a malformed record
//! costs that record only. A crate of its own so that it can be built for speed while the rest
//! of the extension is built for size.

pub mod decode;
mod fast;
pub mod record;
pub mod wire;

pub use decode::{Cursor, DecodeStats, Records, decode_each, decode_records, records_in};
pub use record::{Item, Record};
