//! The telemetry floor: the least an extension that takes telemetry must do. It is the floor
//! (registers for INVOKE and SHUTDOWN with the `lambda-extension` crate, exits on SHUTDOWN),
//! subscribed to the Telemetry API under the bench's condition (platform records, 25 ms
//! buffering, 1 MiB batches), reading each delivered batch whole and answering 200. It decodes
//! nothing and writes nothing: what lambda-lens spends above it is what it spends on the
//! telemetry itself (decoding, joining, metrics, EMF, output), the delivery left out.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lambda_extension::{Error, Extension, LambdaEvent, NextEvent};
use tokio::net::TcpListener;

const PORT: u16 = 9004;

async fn on_event(event: LambdaEvent) -> Result<(), Error> {
    if let NextEvent::Shutdown(_) = event.next {
        std::process::exit(0);
    }
    Ok(())
}

/// Reads each POSTed batch whole and answers 200.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(|req: Request<Incoming>| async move {
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
    tokio::spawn(serve(listener));
    let extension = Extension::new()
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(lambda_extension::service_fn(on_event))
        .register()
        .await?;
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    let subscription = format!(
        r#"{{"schemaVersion":"2022-12-13","destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{PORT}"}},"types":["platform"],"buffering":{{"timeoutMs":25,"maxBytes":1048576,"maxItems":10000}}}}"#
    );
    let request = Request::put(format!("http://{api}/2022-07-01/telemetry"))
        .header("Lambda-Extension-Identifier", &extension.extension_id)
        .header("Content-Type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(subscription))?;
    let client = lambda_runtime_api_client::Client::builder().build()?;
    let answer = client.call(request).await?;
    if !answer.status().is_success() {
        return Err(format!("the telemetry subscription was refused: {}", answer.status()).into());
    }
    extension.run().await
}
