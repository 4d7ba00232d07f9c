//! The networked sinks' HTTP transport (PutMetricData's SDK connector and the OTLP exporter
//! both send through it): a new connection for every request (TCP, then TLS for `https`),
//! closed after the answer. No connection outlives a request, so none is reused across a
//! freeze (a thawed environment's sockets may be dead). It also tells the sender how far a
//! failed request got: nothing sent (safe to retry or to write as EMF), or sent with no answer
//! (the outcome is unknown). "Sent" is a fact, not a guess from the phase the request was in:
//! the bytes of the request written to the socket are counted, no phase starts once the
//! deadline has passed, and the connection is driven inside the request's own future, so when
//! the attempt ends nothing can write afterwards.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

pub(crate) mod retry;
pub(crate) mod task;

/// How far a request got before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    /// No connection (refused, unreachable, TLS refused, or no time left): nothing was sent.
    #[error("could not connect to the endpoint: nothing was sent")]
    NotSent,
    /// The request went out and no whole answer came back before the deadline, or the
    /// connection broke: CloudWatch may or may not have stored it.
    #[error("the request was sent and no answer came back")]
    NoAnswer,
}

/// The time every phase of the request in flight must end by: set by the sender before each
/// attempt (one request at a time), and capped at SHUTDOWN by the sink's close, which moves the
/// deadline of an attempt already in flight too.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    until: Arc<watch::Sender<Instant>>,
    cap: Arc<Mutex<Option<Instant>>>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self {
            until: Arc::new(watch::Sender::new(Instant::now())),
            cap: Arc::default(),
        }
    }

    /// The earlier of `until` and the cap.
    pub(crate) fn capped(&self, until: Instant) -> Instant {
        match self.cap.lock().ok().and_then(|c| *c) {
            Some(cap) => until.min(cap),
            None => until,
        }
    }

    /// When the attempt in flight must end.
    fn until(&self) -> Instant {
        *self.until.borrow()
    }

    /// The next attempt ends by `until` (or the cap).
    pub(crate) fn set(&self, until: Instant) {
        self.until.send_replace(self.capped(until));
    }

    /// Nothing may go on after `cap`, the attempt in flight included.
    pub(crate) fn cap(&self, cap: Instant) {
        if let Ok(mut c) = self.cap.lock() {
            *c = Some(c.map_or(cap, |old| old.min(cap)));
        }
        self.until.send_modify(|until| *until = (*until).min(cap));
    }

    /// Runs `work` until it ends or the deadline (as it moves) passes. Work is never started
    /// after the deadline: a thawed environment resumes with its deadlines long past (Lambda
    /// freezes it between invocations (a), and the monotonic clock runs on meanwhile (d)), and
    /// tokio's timer only sees that at its next turn, by which time a request would have gone out
    /// and been dropped at once.
    async fn within<F: Future>(&self, work: F) -> Option<F::Output> {
        let mut moved = self.until.subscribe();
        if Instant::now() >= *moved.borrow_and_update() {
            return None;
        }
        tokio::pin!(work);
        loop {
            let until = *moved.borrow_and_update();
            tokio::select! {
                out = &mut work => return Some(out),
                () = tokio::time::sleep_until(until) => return last_look(work.as_mut(), LAST_LOOKS).await,
                changed = moved.changed() => if changed.is_err() {
                    return tokio::time::timeout_at(until, work).await.ok();
                },
            }
        }
    }
}

/// Looks at the work once its deadline has passed: an answer read by the connection at one is
/// handed to the request at the next, and the body may take one more.
pub(crate) const LAST_LOOKS: usize = 4;

/// After a freeze the deadline and an answer that arrived meanwhile come due together: looks at
/// `work` a few more times, without waiting, so an answer already there is taken rather than
/// given up (an unknown outcome for a request that was stored and answered). Between looks the
/// runtime takes the events it has not seen: its first turn after a thaw can fire the timers
/// and see no socket event, its wait for them having been interrupted by the freeze (d: seen
/// with the cgroup freezer in the sandbox; tokio drops an interrupted wait's turn).
pub(crate) async fn last_look<F: Future>(mut work: Pin<&mut F>, looks: usize) -> Option<F::Output> {
    for _ in 0..looks {
        if let Poll::Ready(out) = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await {
            return Some(out);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// Sends requests, one connection each, keeping to `deadline` and counting in `written` the
/// bytes of the request in flight that reached the socket.
#[derive(Clone)]
pub(crate) struct Transport {
    tls: Option<tokio_rustls::TlsConnector>,
    pub(crate) deadline: Deadline,
    pub(crate) written: Written,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// `https` endpoints verify against the bundled Mozilla roots (the static binary reads no
    /// system store).
    pub(crate) fn new(deadline: Deadline, written: Written) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .map(|config| tokio_rustls::TlsConnector::from(Arc::new(config)));
        Self {
            tls,
            deadline,
            written,
        }
    }
}

fn not_sent(why: impl std::fmt::Display) -> Failure {
    tracing::debug!(%why, "metrics request: no connection");
    Failure::NotSent
}

fn no_answer(why: impl std::fmt::Display) -> Failure {
    tracing::debug!(%why, "metrics request: no answer");
    Failure::NoAnswer
}

/// The bytes of the request in flight written to its socket: set to 0 by the client before each
/// attempt (one at a time), read after the attempt ended to tell "not sent" from "unknown".
#[derive(Debug, Clone, Default)]
pub(crate) struct Written(Arc<AtomicU64>);

impl Written {
    pub(crate) fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn add(&self, n: usize) {
        self.0
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

/// A stream that counts what was written to it (what the kernel took: it may reach the peer
/// even if the connection is dropped at once).
struct Counted<IO> {
    io: IO,
    written: Written,
    deadline: Deadline,
}

impl<IO> Counted<IO> {
    /// A request none of whose bytes went out by its deadline does not start going out after
    /// it (in the looks past the deadline, which are for taking an answer): it stays "not sent",
    /// to be retried or written as EMF, not an unknown outcome counted as sent.
    fn late_start(&self) -> Option<std::io::Error> {
        (self.written.bytes() == 0 && Instant::now() >= self.deadline.until()).then(|| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the deadline passed before the request went out",
            )
        })
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Counted<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Counted<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(late) = this.late_start() {
            return Poll::Ready(Err(late));
        }
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            this.written.add(n);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if let Some(late) = this.late_start() {
            return Poll::Ready(Err(late));
        }
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            this.written.add(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Why an exchange ended without an answer: "not sent" if no byte of the request was written,
/// else "no answer" (it may have been stored).
fn failed(written: &Written, why: impl std::fmt::Display) -> Failure {
    if written.bytes() == 0 {
        not_sent(why)
    } else {
        no_answer(why)
    }
}

/// Polls `answer` and the connection that serves it in one future: when it is dropped, so is
/// the connection, and no byte is written afterwards (a connection task of its own could still
/// be writing when the attempt is given up).
async fn drive<A, C>(answer: A, connection: C) -> A::Output
where
    A: Future,
    C: Future,
{
    tokio::pin!(answer, connection);
    let mut connection_ended = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = answer.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if !connection_ended && connection.as_mut().poll(cx).is_ready() {
            // What it read is with the answer now (or the answer fails: the connection closed).
            connection_ended = true;
            return answer.as_mut().poll(cx);
        }
        Poll::Pending
    })
    .await
}

/// Sends one request on `io` and reads the whole answer, by the deadline.
async fn exchange<IO>(
    io: IO,
    request: http::Request<Full<Bytes>>,
    deadline: &Deadline,
    written: &Written,
) -> Result<http::Response<Bytes>, Failure>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = Counted {
        io,
        written: written.clone(),
        deadline: deadline.clone(),
    };
    let (mut sender, connection) = deadline
        .within(hyper::client::conn::http1::handshake(TokioIo::new(io)))
        .await
        .ok_or_else(|| not_sent("no time left"))?
        .map_err(not_sent)?;
    let answer = async move {
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok::<_, hyper::Error>(http::Response::from_parts(parts, body))
    };
    // The connection is never kept: it ends with this future, answered or not.
    match deadline.within(drive(answer, connection)).await {
        Some(Ok(response)) => Ok(response),
        Some(Err(e)) => Err(failed(written, e)),
        None => Err(failed(written, "the deadline passed")),
    }
}

impl Transport {
    /// Sends `request` (its URI absolute: scheme, authority, path) on a connection of its own
    /// and reads the whole answer, within the deadline.
    pub(crate) async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Bytes>, Failure> {
        let (mut parts, body) = request.into_parts();
        let uri = parts.uri.clone();
        // HTTP/1.1 on a connection of our own: the path in the request line, the authority
        // (as signed) in `Host`.
        if let Some(authority) = uri.authority()
            && !parts.headers.contains_key(http::header::HOST)
            && let Ok(value) = http::HeaderValue::from_str(authority.as_str())
        {
            parts.headers.insert(http::header::HOST, value);
        }
        if let Some(path) = uri.path_and_query()
            && let Ok(origin) = http::Uri::try_from(path.as_str())
        {
            parts.uri = origin;
        }
        let request = http::Request::from_parts(parts, body);
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = self
            .deadline
            .within(TcpStream::connect((host.as_str(), port)))
            .await
            .ok_or_else(|| not_sent("the deadline passed while connecting"))?
            .map_err(not_sent)?;
        let _ = tcp.set_nodelay(true);
        if !https {
            return exchange(tcp, request, &self.deadline, &self.written).await;
        }
        let tls = self
            .tls
            .as_ref()
            .ok_or_else(|| not_sent("no TLS configuration"))?;
        let name = rustls::pki_types::ServerName::try_from(host).map_err(not_sent)?;
        let stream = self
            .deadline
            .within(tls.connect(name, tcp))
            .await
            .ok_or_else(|| not_sent("the deadline passed during the TLS handshake"))?
            .map_err(not_sent)?;
        exchange(stream, request, &self.deadline, &self.written).await
    }
}

#[cfg(test)]
mod tests;
