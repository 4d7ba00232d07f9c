//! One module per behaviour the payload can ask for. Each is a plain function or a guard type
//! that releases what it holds when dropped, so the handler only sequences them.

pub(crate) mod cpu;
pub(crate) mod files;
pub(crate) mod logs;
pub(crate) mod memory;
pub(crate) mod network;
pub(crate) mod threads;
