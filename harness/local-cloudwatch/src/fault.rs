//! A fault injector in front of a local CloudWatch: a real HTTP server that forwards each
//! request to the endpoint, or answers in its place with the fault it was given (an error,
//! throttling, a late answer), and counts what it saw.
//!
//! Its own failures are counted apart from the faults it injects, so a test can tell an
//! environment fault (the endpoint behind it failed, a request arrived cut short) from a loss
//! by the client under test: [`FaultProxy::failed_forwards`], [`FaultProxy::incomplete`].

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The longest a forward may take: an endpoint that hangs is a failed forward, not a hung test.
const FORWARD_WITHIN: Duration = Duration::from_secs(20);

/// What the proxy does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Forwards it and passes the answer back.
    Pass,
    /// Answers this status (a 5xx: CloudWatch's `InternalServiceFault`) without forwarding.
    Status(u16),
    /// Answers `400 Throttling` without forwarding.
    Throttle,
    /// Answers `403 AccessDenied` (the role lacks `cloudwatch:PutMetricData`).
    Deny,
    /// Forwards it (the endpoint stores it), then holds the answer back this long.
    AnswerLate(Duration),
    /// This fault for the next `n` requests, then [`Fault::Pass`].
    First(u32, Box<Fault>),
}

#[derive(Debug, Default)]
struct State {
    fault: Mutex<Option<Fault>>,
    requests: AtomicU64,
    forwarded: AtomicU64,
    failed_forwards: AtomicU64,
    incomplete: AtomicU64,
    /// Forwards started and not yet answered by the endpoint.
    in_flight: AtomicU64,
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, fault: Fault) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        state.set(fault);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), upstream, request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on.
    pub fn set(&self, fault: Fault) {
        self.state.set(fault);
    }

    /// Requests received.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests passed on to the endpoint (and answered by it).
    pub fn forwarded(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Requests to forward that the endpoint did not answer (no connection, a broken one): the
    /// client got a 502 for them. Not a fault it was asked for: the environment's own.
    pub fn failed_forwards(&self) -> u64 {
        self.state.failed_forwards.load(Ordering::SeqCst)
    }

    /// Requests whose body broke off (the client closed the connection first): neither
    /// forwarded nor answered.
    pub fn incomplete(&self) -> u64 {
        self.state.incomplete.load(Ordering::SeqCst)
    }

    /// Waits until no forward is under way, at most `within`; whether none is. A request the
    /// proxy received whole is forwarded even if its client has gone: read the endpoint after
    /// this.
    pub async fn settled(&self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        while self.state.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl State {
    fn set(&self, fault: Fault) {
        if let Ok(mut f) = self.fault.lock() {
            *f = Some(fault);
        }
    }

    /// The fault for this request (counting down a `First`).
    fn next(&self) -> Fault {
        let Ok(mut guard) = self.fault.lock() else {
            return Fault::Pass;
        };
        match guard.take().unwrap_or(Fault::Pass) {
            Fault::First(n, fault) if n > 0 => {
                *guard = Some(Fault::First(n - 1, fault.clone()));
                *fault
            }
            Fault::First(..) => {
                *guard = Some(Fault::Pass);
                Fault::Pass
            }
            other => {
                *guard = Some(other.clone());
                other
            }
        }
    }
}

/// A CBOR text string.
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    let len = text.len();
    if len < 24 {
        out.push(0x60 | len as u8);
    } else {
        out.push(0x78);
        out.push(len.min(255) as u8);
    }
    out.extend_from_slice(text.as_bytes());
}

/// An rpc-v2-cbor error answer: `{"__type": code, "message": message}`.
fn error_answer(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let mut body = vec![0xA2];
    cbor_text(&mut body, "__type");
    cbor_text(&mut body, code);
    cbor_text(&mut body, "message");
    cbor_text(&mut body, message);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert("smithy-protocol", http::HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/cbor"),
    );
    response
}

async fn handle(
    state: Arc<State>,
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let fault = state.next();
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        // Cut short: the client is gone, and a partial request is never passed on (the
        // endpoint would get a body its signature does not match, or none at all).
        Err(_) => {
            state.incomplete.fetch_add(1, Ordering::SeqCst);
            return Ok(error_answer(400, "IncompleteSignature", "the request broke off"));
        }
    };
    let late = match fault {
        Fault::Status(code) => return Ok(error_answer(code, "InternalServiceFault", "injected")),
        Fault::Throttle => return Ok(error_answer(400, "Throttling", "Rate exceeded")),
        Fault::Deny => {
            return Ok(error_answer(
                403,
                "AccessDenied",
                "User: arn:aws:sts::000000000000:assumed-role/f-role/f is not authorized to perform: cloudwatch:PutMetricData",
            ));
        }
        Fault::AnswerLate(wait) => Some(wait),
        Fault::Pass | Fault::First(..) => None,
    };
    // A task of its own: hyper drops this handler when the client closes its connection (its
    // deadline passed), and a request received whole must still reach the endpoint, as it would
    // reach CloudWatch (d: assumed, a service does not undo a request whose client left).
    state.in_flight.fetch_add(1, Ordering::SeqCst);
    let forwarding = {
        let state = state.clone();
        tokio::spawn(async move {
            let forwarded = tokio::time::timeout(
                FORWARD_WITHIN,
                forward(upstream, Request::from_parts(parts, Full::new(body))),
            )
            .await
            .unwrap_or_else(|_| Err("the endpoint did not answer in time".into()));
            let counter = if forwarded.is_ok() {
                &state.forwarded
            } else {
                &state.failed_forwards
            };
            counter.fetch_add(1, Ordering::SeqCst);
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            forwarded
        })
    };
    let answer = match forwarding.await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) | Err(_) => error_answer(
            502,
            "InternalServiceFault",
            "the endpoint behind the proxy did not answer",
        ),
    };
    if let Some(wait) = late {
        tokio::time::sleep(wait).await;
    }
    Ok(answer)
}

async fn forward(
    upstream: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// An endpoint that answers each request after `wait`, counting what it received.
    async fn slow_endpoint(wait: Duration) -> (SocketAddr, Arc<AtomicU64>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    if stream.read(&mut buf).await.unwrap_or(0) > 0 {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(wait).await;
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        (addr, received)
    }

    /// A client whose deadline passed closes its connection while the request is at the
    /// endpoint: the forward still ends, counted, as the request would be handled by CloudWatch.
    #[tokio::test]
    async fn a_forward_outlives_a_client_that_left() {
        let (upstream, received) = slow_endpoint(Duration::from_millis(300)).await;
        let proxy = FaultProxy::start(upstream, Fault::Pass).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        client
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nbody")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(client);
        assert!(proxy.settled(Duration::from_secs(5)).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(received.load(Ordering::SeqCst), 1);
        assert_eq!(
            (
                proxy.requests(),
                proxy.forwarded(),
                proxy.failed_forwards(),
                proxy.incomplete()
            ),
            (1, 1, 0, 0)
        );
    }

    /// An endpoint that is not there is a failed forward, not a fault the test asked for; a body
    /// cut short is not forwarded.
    #[tokio::test]
    async fn failed_forwards_and_requests_cut_short_are_counted() {
        let closed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap();
        let proxy = FaultProxy::start(closed, Fault::Pass).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        client
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nbody")
            .await
            .unwrap();
        let mut answer = vec![0; 4096];
        let n = client.read(&mut answer).await.unwrap();
        assert!(answer[..n].starts_with(b"HTTP/1.1 502"));
        let mut cut = TcpStream::connect(proxy.addr).await.unwrap();
        cut.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\nbody")
            .await
            .unwrap();
        drop(cut);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(proxy.settled(Duration::from_secs(5)).await);
        assert_eq!(
            (
                proxy.requests(),
                proxy.forwarded(),
                proxy.failed_forwards(),
                proxy.incomplete()
            ),
            (2, 0, 1, 1)
        );
    }
}
