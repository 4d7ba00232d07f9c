//! The floor: the least an external extension can do. It registers for INVOKE and SHUTDOWN
//! with the `lambda-extension` crate, does nothing on INVOKE, and exits on SHUTDOWN (the one
//! thing a correct extension must do there). No telemetry subscription.

use lambda_extension::{Error, Extension, LambdaEvent, NextEvent, service_fn};

async fn on_event(event: LambdaEvent) -> Result<(), Error> {
    if let NextEvent::Shutdown(_) = event.next {
        std::process::exit(0);
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    Extension::new()
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(service_fn(on_event))
        .run()
        .await
}
