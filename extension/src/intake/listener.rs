//! The telemetry listener: one bound socket, one small HTTP/1 service.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

use tokio::sync::{Semaphore, mpsc};

use super::decode::Batch;

/// The host Lambda delivers telemetry to. Inside Lambda it resolves to the environment's own
/// interface; binding there (not 0.0.0.0) keeps the unauthenticated listener off every other
/// interface.
const SANDBOX_HOST: &str = "sandbox.localdomain";

/// What the listener hands to the pipeline.
#[derive(Debug)]
pub(crate) enum IntakeMessage {
    Batch(Batch),
    /// A request body over the limit was refused (the listener logs its size).
    Oversized,
}

/// Binds the telemetry listener. Returns it with the URI to subscribe with.
///
/// With no host configured: `sandbox.localdomain` when it resolves (on Lambda, through
/// /etc/hosts), else 127.0.0.1 — off Lambda the name usually does not resolve, and loopback is
/// where a local emulator can reach us without exposing the listener to the network.
pub(crate) async fn bind_listener(host: Option<IpAddr>, port: u16) -> io::Result<(TcpListener, String)> {
    let (ip, uri_host) = match host {
        Some(ip) => (ip, ip.to_string()),
        None => match resolve_sandbox().await {
            Some(ip) => (ip, SANDBOX_HOST.to_owned()),
            None => {
                tracing::info!(
                    "{SANDBOX_HOST} does not resolve here (not on Lambda?); listening on 127.0.0.1"
                );
                (IpAddr::V4(Ipv4Addr::LOCALHOST), Ipv4Addr::LOCALHOST.to_string())
            }
        },
    };
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
    let port = listener.local_addr()?.port();
    let uri_host = match uri_host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => uri_host,
    };
    Ok((listener, format!("http://{uri_host}:{port}")))
}

async fn resolve_sandbox() -> Option<IpAddr> {
    let lookup = tokio::net::lookup_host((SANDBOX_HOST, 0));
    let addrs = tokio::time::timeout(Duration::from_millis(250), lookup)
        .await
        .ok()?
        .ok()?;
    let addrs: Vec<SocketAddr> = addrs.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(SocketAddr::ip)
}

/// Accepts connections until the process ends. Each request is one batch.
///
/// `slots` gates reading: a batch's body is read only once the previous batch has been worked
/// (the batch carries its slot and gives it back when the pipeline drops it), so one batch at
/// most is in memory at a time.
pub(crate) async fn serve(
    listener: TcpListener,
    tx: mpsc::Sender<IntakeMessage>,
    slots: Arc<Semaphore>,
    max_body: usize,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Usually running out of file descriptors: wait a moment instead of spinning.
                tracing::warn!(error = %err, "telemetry listener could not accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let slots = Arc::clone(&slots);
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, tx.clone(), Arc::clone(&slots), max_body));
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "telemetry connection ended with an error");
            }
        });
    }
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

async fn handle(
    req: Request<Incoming>,
    tx: mpsc::Sender<IntakeMessage>,
    slots: Arc<Semaphore>,
    max_body: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED));
    }
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        tracing::warn!(
            bytes = declared,
            limit = max_body,
            "refused a telemetry batch over the size limit"
        );
        let _ = tx.send(IntakeMessage::Oversized).await;
        return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE));
    }
    // Wait until the pipeline has finished the previous batch before reading this body: while
    // it is busy, the next batch stays in the socket (the kernel's buffers, and Lambda's), not
    // in our memory. This wait is the backpressure Lambda expects: it buffers on its side, and
    // says so with platform.logsDropped if it has to drop. The slot travels with the batch and
    // is given back when the pipeline drops it; on every other path here it is dropped at once.
    let Ok(slot) = slots.acquire_owned().await else {
        return Ok(reply(StatusCode::SERVICE_UNAVAILABLE));
    };
    let Ok(permit) = tx.reserve().await else {
        tracing::debug!("telemetry arrived after the pipeline stopped");
        return Ok(reply(StatusCode::OK));
    };
    let body = match Limited::new(req.into_body(), max_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            if err.is::<http_body_util::LengthLimitError>() {
                tracing::warn!(limit = max_body, "refused a telemetry batch over the size limit");
                permit.send(IntakeMessage::Oversized);
                return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE));
            }
            tracing::debug!(error = %err, "a telemetry request body could not be read");
            return Ok(reply(StatusCode::BAD_REQUEST));
        }
    };
    let batch = Batch::decode(&body);
    drop(body);
    let s = &batch.stats;
    if s.malformed > 0 {
        tracing::warn!(
            records = s.records,
            used = s.used,
            malformed = s.malformed,
            problem = s.first_problem.as_deref().unwrap_or_default(),
            "skipped malformed telemetry records; the rest of the batch was used"
        );
    }
    permit.send(IntakeMessage::Batch(batch.holding(slot)));
    Ok(reply(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn post(addr: SocketAddr, body: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    const BATCH: &str = r#"[{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}},{"time":"2026-11-25T10:00:00.000Z","type":"platform.mystery","record":{}}]"#;

    #[tokio::test]
    async fn a_batch_is_decoded_answered_200_and_the_next_waits_for_the_pipeline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let slots = Arc::new(Semaphore::new(1));
        tokio::spawn(serve(listener, tx, Arc::clone(&slots), 4096));

        assert!(post(addr, BATCH).await.starts_with("HTTP/1.1 200"));
        match rx.recv().await.unwrap() {
            IntakeMessage::Batch(b) => {
                assert_eq!((b.stats.records, b.stats.used, b.stats.unknown), (2, 1, 1));
                // The pipeline is still working this batch: the next one is not read.
                let second = tokio::spawn(post(addr, BATCH));
                tokio::time::sleep(Duration::from_millis(200)).await;
                assert!(!second.is_finished());
                assert!(rx.try_recv().is_err());
                assert_eq!(slots.available_permits(), 0);
                // Dropping the worked batch gives its slot back, and the next one is read.
                drop(b);
                assert!(second.await.unwrap().starts_with("HTTP/1.1 200"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(rx.recv().await, Some(IntakeMessage::Batch(_))));
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_and_counted_and_a_get_is_not_allowed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let slots = Arc::new(Semaphore::new(1));
        tokio::spawn(serve(listener, tx, Arc::clone(&slots), 64));
        assert!(post(addr, BATCH).await.starts_with("HTTP/1.1 413"));
        assert!(matches!(rx.recv().await, Some(IntakeMessage::Oversized)));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        // A refused body gives its slot back: the next batch is read.
        assert_eq!(slots.available_permits(), 1);
    }
}
