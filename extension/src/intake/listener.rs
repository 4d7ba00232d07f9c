//! The telemetry listener: one bound socket, one small HTTP/1 service.
//!
//! It takes only what Lambda sends: a POST to the path it subscribed with (a random token
//! generated at start, so no other process of the environment can guess it), read within
//! deadlines, from at most a few connections at once.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

use super::convert::{Batch, Delivery, KEPT_BODY_MAX_BYTES};
use crate::config::vars;
use crate::kept::KeptBuffer;
use crate::text::clip;

/// The host Lambda delivers telemetry to. Inside Lambda it resolves to the environment's own
/// interface; binding there (not 0.0.0.0) keeps the unauthenticated listener off every other
/// interface.
const SANDBOX_HOST: &str = "sandbox.localdomain";
/// Connections served at once; more wait in the kernel's accept queue. Lambda uses one or two.
const MAX_CONNECTIONS: usize = 16;

/// What one request may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLimits {
    /// The largest body read.
    pub(crate) max_body: usize,
    /// Lambda sends a batch's headers at once, over loopback or the environment's own
    /// interface: a connection that takes longer is not Lambda.
    pub(crate) header_deadline: Duration,
    /// The longest a body may take to arrive once the listener reads it (it holds the one
    /// reading slot meanwhile, so a stalled client could otherwise stop all intake).
    pub(crate) body_deadline: Duration,
}

impl RequestLimits {
    pub(crate) fn new(max_body: usize) -> Self {
        Self {
            max_body,
            header_deadline: Duration::from_secs(2),
            body_deadline: Duration::from_secs(3),
        }
    }
}
/// At most one warning a second about failing accepts.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(1);

/// What the listener hands to the pipeline.
#[derive(Debug)]
pub(crate) enum IntakeMessage {
    /// A body as delivered, read as it is worked.
    Delivery(Delivery),
    /// A batch decoded up front (tests, the decode benchmark).
    Batch(Batch),
    /// A request body over the limit was refused (the listener logs its size).
    Oversized,
}

/// A bound listener (a plain socket, so that the thread that serves it can take it into its own
/// runtime), the path it takes telemetry on, and the URI to subscribe with.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) socket: std::net::TcpListener,
    pub(crate) path: String,
    pub(crate) destination: String,
}

/// Binds the telemetry listener.
///
/// With no host configured: `sandbox.localdomain` when it resolves (on Lambda, through
/// /etc/hosts), else 127.0.0.1 — off Lambda the name usually does not resolve, and loopback is
/// where a local emulator can reach us without exposing the listener to the network. A
/// configured port that is taken is left for a free one, with a warning naming it.
pub(crate) fn bind_listener(host: Option<IpAddr>, port: u16) -> io::Result<Listener> {
    let (ip, uri_host) = match host {
        Some(ip) => (ip, ip.to_string()),
        None => match resolve_sandbox() {
            Some(ip) => (ip, SANDBOX_HOST.to_owned()),
            None => {
                tracing::info!(
                    "{SANDBOX_HOST} is not in /etc/hosts (not on Lambda?); listening on 127.0.0.1"
                );
                (IpAddr::V4(Ipv4Addr::LOCALHOST), Ipv4Addr::LOCALHOST.to_string())
            }
        },
    };
    if ip.is_unspecified() {
        tracing::warn!(
            "{}={ip} with {}=true: the telemetry listener is open on every interface",
            vars::LISTENER_HOST,
            vars::LISTEN_ALL_INTERFACES
        );
    }
    let address = SocketAddr::new(ip, port);
    let socket = match std::net::TcpListener::bind(address) {
        Ok(socket) => socket,
        Err(err) if port != 0 && err.kind() == io::ErrorKind::AddrInUse => {
            tracing::warn!(
                "port {port} ({var}) is taken on {ip}; listening on a free port instead",
                var = vars::PORT
            );
            std::net::TcpListener::bind(SocketAddr::new(ip, 0)).map_err(|e| named(e, ip, 0))?
        }
        Err(err) => return Err(named(err, ip, port)),
    };
    socket.set_nonblocking(true)?;
    let port = socket.local_addr()?.port();
    let uri_host = match uri_host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => uri_host,
    };
    let path = format!("/{}", token());
    let destination = format!("http://{uri_host}:{port}{path}");
    Ok(Listener {
        socket,
        path,
        destination,
    })
}

/// An error that names the address it was about.
fn named(err: io::Error, ip: IpAddr, port: u16) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("{} on {ip} port {port} ({}): {err}", "cannot listen", vars::PORT),
    )
}

/// 128 random bits as hex, from the kernel; the process id and the clock where it cannot be
/// read (still unique, only not secret).
fn token() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes = seed.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sandbox.localdomain` as `/etc/hosts` gives it. Inside Lambda the name is there; off Lambda
/// it usually is not, and a resolver lookup would go to a nameserver (milliseconds, sometimes
/// seconds, during the function's init), so no lookup is made: the file is the only source.
fn resolve_sandbox() -> Option<IpAddr> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts_entry(&hosts, SANDBOX_HOST)
}

/// The address `/etc/hosts` text gives `name` (the first IPv4 one, else the first).
fn hosts_entry(hosts: &str, name: &str) -> Option<IpAddr> {
    let mut found = hosts.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let ip = fields.next()?.parse::<IpAddr>().ok()?;
        fields.any(|n| n.eq_ignore_ascii_case(name)).then_some(ip)
    });
    let first = found.next()?;
    if first.is_ipv4() {
        return Some(first);
    }
    Some(found.find(IpAddr::is_ipv4).unwrap_or(first))
}

/// Accepts connections until the process ends. Each request is one batch.
///
/// `slots` gates reading: a batch's body is read only once the previous batch has been worked
/// (the batch carries its slot and gives it back when the pipeline drops it), so one batch at
/// most is in memory at a time.
pub(crate) async fn serve(
    socket: std::net::TcpListener,
    path: String,
    tx: mpsc::Sender<IntakeMessage>,
    slots: Arc<Semaphore>,
    limits: RequestLimits,
) {
    let listener = match TcpListener::from_std(socket) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, "the telemetry listener cannot serve: no metrics in this environment");
            return;
        }
    };
    let path: Arc<str> = path.into();
    let kept = Arc::new(KeptBuffer::new(KEPT_BODY_MAX_BYTES));
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut last_warning: Option<Instant> = None;
    loop {
        // At the limit, wait for a connection to end before accepting another.
        let Ok(connection) = Arc::clone(&connections).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Usually running out of file descriptors: wait a moment instead of spinning,
                // and say so at most once a second.
                if last_warning.is_none_or(|at| at.elapsed() >= ACCEPT_WARNING_EVERY) {
                    tracing::warn!(error = %err, "telemetry listener could not accept a connection");
                    last_warning = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let slots = Arc::clone(&slots);
        let path = Arc::clone(&path);
        let kept = Arc::clone(&kept);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gate = Gate {
                    slots: Arc::clone(&slots),
                    kept: Arc::clone(&kept),
                };
                handle(req, Arc::clone(&path), tx.clone(), gate, limits)
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_deadline)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(error = %err, "telemetry connection ended with an error");
            }
            drop(connection);
        });
    }
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The listener's one reading slot and the body buffer that goes with it.
struct Gate {
    slots: Arc<Semaphore>,
    kept: Arc<KeptBuffer>,
}

async fn handle(
    req: Request<Incoming>,
    path: Arc<str>,
    tx: mpsc::Sender<IntakeMessage>,
    gate: Gate,
    limits: RequestLimits,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let max_body = limits.max_body;
    if req.uri().path() != &*path {
        tracing::debug!(path = %clip(req.uri().path()), "a request to a path that is not the subscription's");
        return Ok(reply(StatusCode::NOT_FOUND));
    }
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
    let Ok(slot) = gate.slots.acquire_owned().await else {
        return Ok(reply(StatusCode::SERVICE_UNAVAILABLE));
    };
    let Ok(permit) = tx.reserve().await else {
        tracing::debug!("telemetry arrived after the pipeline stopped");
        return Ok(reply(StatusCode::OK));
    };
    let read = read_body(req.into_body(), max_body, gate.kept.take());
    let Ok(read) = tokio::time::timeout(limits.body_deadline, read).await else {
        tracing::warn!(
            deadline = ?limits.body_deadline,
            "a telemetry body did not arrive in time; the connection is dropped"
        );
        return Ok(reply(StatusCode::REQUEST_TIMEOUT));
    };
    let body = match read {
        Ok(body) => body,
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
    // Decoded by the pipeline as it works the batch, record by record.
    permit.send(IntakeMessage::Delivery(Delivery::new(
        body,
        chrono::Utc::now().timestamp_millis(),
        slot,
        Some(gate.kept),
    )));
    Ok(reply(StatusCode::OK))
}

/// The body, at most `max_body` bytes, in one buffer that the pipeline turns into text without
/// a copy: `out` (the kept buffer, empty), grown to the request's length where it says one,
/// each frame copied in and let go as it arrives (collecting the frames and joining them after
/// held the body twice at the end, and handed on a buffer that had to be copied again to
/// become text).
async fn read_body(
    body: Incoming,
    max_body: usize,
    mut out: Vec<u8>,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let hint = body.size_hint();
    let expected = hint.exact().unwrap_or(hint.lower());
    let mut body = std::pin::pin!(Limited::new(body, max_body));
    out.clear();
    out.reserve(usize::try_from(expected).unwrap_or(max_body).min(max_body));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
