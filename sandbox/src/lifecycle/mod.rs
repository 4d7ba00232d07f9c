//! The lifecycle that drives the environment, as Lambda runs it:
//!
//! - [`sandbox`]: [`Sandbox`](crate::Sandbox), the public face (start, invoke, shut down);
//! - [`phases`]: the init phase, the freeze between invocations, and the teardown that ends an
//!   environment (a reset after a failure, or the shutdown with its deadline);
//! - [`invoke`]: one invocation (the event to the runtime, `INVOKE` to the extensions, the
//!   response, the report with its measurements);
//! - [`managed`]: concurrent invocations on Lambda Managed Instances;
//! - [`restore`]: the SnapStart restore phase;
//! - [`state`]: the shared state the APIs and the phases read and change;
//! - [`outcome`]: what each phase returns to the caller, and the options of an invocation.

pub(crate) mod invoke;
pub(crate) mod managed;
pub(crate) mod outcome;
pub(crate) mod phases;
pub(crate) mod restore;
pub(crate) mod sandbox;
pub(crate) mod state;
