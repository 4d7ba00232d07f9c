//! One module per behaviour the payload can ask for. Each is a plain function or a guard type
//! that releases what it holds when dropped, so the handler only sequences them.

pub mod cpu;
pub mod files;
pub mod logs;
pub mod memory;
pub mod network;
pub mod threads;
