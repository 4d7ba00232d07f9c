//! `/event/next` on a connection of its own: the call the function's every invocation waits on.
//!
//! Register and the Telemetry API's subscription go through `lambda_runtime_api_client`'s pooled
//! client (once each). `/event/next` is made at every invocation, on the thread that must answer
//! Lambda at once, between the function's response and the end of its billed time. Here it is
//! HTTP/1.1 written by hand on a kept-open TCP connection: the request's bytes are made once, the
//! answer is read into a buffer kept from call to call, and the event is decoded in place, so
//! from the INVOKE read to the next request written there is no heap allocation, no other task
//! and no other thread (hyper's client took about eight allocations per call and handed the
//! answer from its connection task to ours: BENCHMARKS.md). Each allocation takes musl's
//! allocator lock, which the telemetry thread, woken at the same thaw, also wants.
//!
//! The answer is read as RFC 9112 frames it: a status line, headers, then a body of
//! `Content-Length` bytes, or chunked, or up to the connection's end. A connection the peer
//! closes (`Connection: close`, HTTP/1.0, or an end before any byte of an answer) is opened again
//! for the next call; the request is sent again only in that last case, where the server closed
//! an idle connection without reading it (RFC 9110 §9.2.2: GET is idempotent, and nothing was
//! answered).

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::extensions_api::{ExtensionsApiError, NextEvent, Received};

const CALL: &str = "GET /2020-01-01/extension/event/next";
/// The largest answer read (head and body): an event is a few hundred bytes (a: the Extensions
/// API reference's INVOKE and SHUTDOWN events); more is not an event, and memory stays bounded.
const MAX_ANSWER: usize = 64 * 1024;
/// The read buffer's first size; it grows (to [`MAX_ANSWER`] at most) and is kept.
const FIRST_BUFFER: usize = 4 * 1024;

/// The Extensions API's event stream for one registered extension.
pub(crate) struct Events {
    /// `host:port` of the Extensions API (`AWS_LAMBDA_RUNTIME_API`, checked beforehand).
    address: String,
    /// The whole request, made once.
    request: Box<[u8]>,
    stream: Option<TcpStream>,
    /// Bytes read; `buffer[..filled]` are valid.
    buffer: Vec<u8>,
    filled: usize,
    /// A chunked body, put together (kept from call to call).
    body: Vec<u8>,
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
enum Framing {
    #[error("the connection ended before the answer was whole")]
    Ended { answered: bool },
    #[error("the answer is not HTTP/1.x: {0}")]
    Malformed(&'static str),
    #[error("the answer is over {MAX_ANSWER} bytes")]
    TooLarge,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The head of an answer.
struct Head {
    status: StatusCode,
    /// Where the body starts in the buffer.
    body_at: usize,
    length: Option<usize>,
    chunked: bool,
    close: bool,
}

impl Events {
    /// The events of the extension registered as `extension_id` at `runtime_api`.
    pub(crate) fn new(runtime_api: &str, extension_id: &str) -> Result<Self, ExtensionsApiError> {
        let field = |text: &str| {
            text.bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
                .then_some(())
        };
        field(runtime_api)
            .ok_or_else(|| request_error("the runtime API address is not a header value".into()))?;
        // The registration's answer gave it as a header value, so it is one.
        field(extension_id).ok_or(ExtensionsApiError::NoIdentifier)?;
        let request = format!(
            "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: {runtime_api}\r\nLambda-Extension-Identifier: {extension_id}\r\n\r\n"
        );
        Ok(Self {
            address: runtime_api.to_owned(),
            request: request.into_bytes().into_boxed_slice(),
            stream: None,
            buffer: vec![0; FIRST_BUFFER],
            filled: 0,
            body: Vec::new(),
        })
    }

    /// Waits for the next INVOKE or SHUTDOWN (or an event of another type). A failure after
    /// the request was sent is an error (the event may have been handed out), except an end of
    /// a kept connection before any byte of the answer (see the module's comment). An answer
    /// that is not the documented event is not an error: see [`NextEvent::decode`].
    #[cfg(test)]
    pub(crate) async fn next(&mut self) -> Result<Received, ExtensionsApiError> {
        self.next_after(|| {}).await
    }

    /// [`Events::next`], calling `sent` once the request is written, before the answer is
    /// awaited: work that must not come between the last event and this request (a wake of
    /// another thread) goes there.
    pub(crate) async fn next_after(&mut self, sent: impl FnOnce()) -> Result<Received, ExtensionsApiError> {
        let mut sent = Some(sent);
        let reused = self.stream.is_some();
        let head = match self.exchange(&mut sent).await {
            Err(Framing::Ended { answered: false }) if reused => {
                self.stream = None;
                self.exchange(&mut sent).await
            }
            other => other,
        };
        let head = head.map_err(|err| {
            self.stream = None;
            request_error(err.into())
        })?;
        let body = match self.body_of(&head).await {
            Ok(body) => body,
            Err(err) => {
                self.stream = None;
                return Err(request_error(err.into()));
            }
        };
        let (start, end) = body;
        if head.close {
            self.stream = None;
        }
        let bytes = if head.chunked {
            self.body.get(start..end).unwrap_or_default()
        } else {
            self.buffer.get(start..end).unwrap_or_default()
        };
        if head.status != StatusCode::OK {
            return Err(ExtensionsApiError::Refused {
                call: CALL,
                status: head.status,
                body: crate::text::clip(&String::from_utf8_lossy(bytes)).into_owned(),
            });
        }
        Ok(NextEvent::decode(bytes, || chrono::Utc::now().timestamp_millis()))
    }

    /// Sends the request (connecting first if there is no connection) and reads the answer's
    /// head.
    async fn exchange(&mut self, sent: &mut Option<impl FnOnce()>) -> Result<Head, Framing> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address).await?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.filled = 0;
        }
        let stream = self.stream.as_mut().ok_or(Framing::Ended { answered: false })?;
        stream.write_all(&self.request).await?;
        if let Some(sent) = sent.take() {
            sent();
        }
        self.filled = 0;
        loop {
            if let Some(head) = parse_head(self.buffer.get(..self.filled).unwrap_or_default())? {
                return Ok(head);
            }
            self.fill(false).await?;
        }
    }

    /// Reads more of the answer; `Ended` when the connection ended (`body_to_end`: that is the
    /// answer's end, not an error).
    async fn fill(&mut self, body_to_end: bool) -> Result<usize, Framing> {
        if self.filled == self.buffer.len() {
            if self.buffer.len() >= MAX_ANSWER {
                return Err(Framing::TooLarge);
            }
            let grown = (self.buffer.len() * 2).min(MAX_ANSWER);
            self.buffer.resize(grown, 0);
        }
        let stream = self.stream.as_mut().ok_or(Framing::Ended { answered: true })?;
        let room = self.buffer.get_mut(self.filled..).unwrap_or_default();
        let n = stream.read(room).await?;
        if n == 0 && !body_to_end {
            return Err(Framing::Ended {
                answered: self.filled > 0,
            });
        }
        self.filled += n;
        Ok(n)
    }

    /// Reads the body `head` announces; where it lies (in `buffer`, or in `body` when chunked).
    async fn body_of(&mut self, head: &Head) -> Result<(usize, usize), Framing> {
        if head.chunked {
            return self.chunked(head.body_at).await;
        }
        match head.length {
            Some(length) => {
                let end = head.body_at.checked_add(length).filter(|e| *e <= MAX_ANSWER);
                let end = end.ok_or(Framing::TooLarge)?;
                while self.filled < end {
                    self.fill(false).await?;
                }
                Ok((head.body_at, end))
            }
            // Delimited by the connection's end (RFC 9112 §6.3), which `head.close` marks.
            None => {
                while self.fill(true).await? > 0 {}
                Ok((head.body_at, self.filled))
            }
        }
    }

    /// A chunked body (RFC 9112 §7.1), put together in `body`; its trailers are skipped.
    async fn chunked(&mut self, mut at: usize) -> Result<(usize, usize), Framing> {
        self.body.clear();
        loop {
            let line_end = loop {
                if let Some(i) = find(self.buffer.get(at..self.filled).unwrap_or_default(), b"\r\n") {
                    break at + i;
                }
                self.fill(false).await?;
            };
            let line = self.buffer.get(at..line_end).unwrap_or_default();
            let digits = line.split(|b| *b == b';').next().unwrap_or_default();
            let text = std::str::from_utf8(digits).map_err(|_| Framing::Malformed("chunk size"))?;
            let size =
                usize::from_str_radix(text.trim(), 16).map_err(|_| Framing::Malformed("chunk size"))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    match find(self.buffer.get(at..self.filled).unwrap_or_default(), b"\r\n") {
                        Some(0) => return Ok((0, self.body.len())),
                        Some(i) => at += i + 2,
                        None => {
                            self.fill(false).await?;
                        }
                    }
                }
            }
            if self.body.len() + size > MAX_ANSWER {
                return Err(Framing::TooLarge);
            }
            while self.filled < at + size + 2 {
                self.fill(false).await?;
            }
            self.body
                .extend_from_slice(self.buffer.get(at..at + size).unwrap_or_default());
            at += size + 2;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The head of an answer in `bytes`, once it is whole (`None` until then).
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, Framing> {
    let Some(end) = find(bytes, b"\r\n\r\n") else {
        return if bytes.len() >= MAX_ANSWER {
            Err(Framing::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = bytes.get(..end).unwrap_or_default();
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, |b| *b == b' ');
    let version = parts.next().unwrap_or_default();
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return Err(Framing::Malformed("status line")),
    };
    let status = parts
        .next()
        .and_then(|code| StatusCode::from_bytes(code).ok())
        .ok_or(Framing::Malformed("status code"))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = http10;
    for line in lines {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return Err(Framing::Malformed("header line"));
        };
        let (name, value) = (
            line.get(..colon).unwrap_or_default(),
            line.get(colon + 1..).unwrap_or_default(),
        );
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(Framing::Malformed("Content-Length"))?;
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            let has = |token: &[u8]| {
                value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            if has(b"close") {
                close = true;
            } else if has(b"keep-alive") {
                close = false;
            }
        }
    }
    // 1xx, 204 and 304 answers have no body (RFC 9112 §6.3).
    if status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        length = Some(0);
        chunked = false;
    }
    if !chunked && length.is_none() {
        close = true;
    }
    Ok(Some(Head {
        status,
        body_at: end + 4,
        length,
        chunked,
        close,
    }))
}

fn request_error(source: lambda_runtime_api_client::BoxError) -> ExtensionsApiError {
    ExtensionsApiError::Request { call: CALL, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http::Request;
    use http::header::HOST;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1 as server;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    const PATH: &str = "/2020-01-01/extension/event/next";

    /// An Extensions API that answers `/event/next` with `events` in turn, closing the
    /// connection after each answer when `close` is set; counts the connections.
    async fn fake_extensions_api(events: Vec<&'static str>, close: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let (seen, next) = (Arc::clone(&connections), Arc::new(AtomicUsize::new(0)));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                let (events, next) = (events.clone(), Arc::clone(&next));
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let ok = req.uri().path() == PATH
                            && req
                                .headers()
                                .get("lambda-extension-identifier")
                                .is_some_and(|v| v == "id-1")
                            && req.headers().contains_key(HOST);
                        let (status, body) = match events.get(i) {
                            Some(event) if ok => (StatusCode::OK, *event),
                            _ => (StatusCode::FORBIDDEN, r#"{"errorType":"Extension.Unknown"}"#),
                        };
                        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = status;
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = server::Builder::new()
                        .keep_alive(!close)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (address, connections)
    }

    const INVOKE: &str = r#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"6d68ca91-49c9-448d-89b8-7ca3e6dc66aa","invokedFunctionArn":"arn","tracing":{"type":"X-Amzn-Trace-Id","value":"v"}}"#;
    const SHUTDOWN: &str = r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;

    #[tokio::test]
    async fn events_come_in_turn_on_one_connection() {
        let (address, connections) = fake_extensions_api(vec![INVOKE, INVOKE, SHUTDOWN], false).await;
        let mut events = Events::new(&address, "id-1").unwrap();
        for _ in 0..2 {
            assert_eq!(
                events.next().await.unwrap().event,
                NextEvent::Invoke {
                    request_id: Some("6d68ca91-49c9-448d-89b8-7ca3e6dc66aa".into())
                }
            );
        }
        assert!(matches!(
            events.next().await.unwrap().event,
            NextEvent::Shutdown { deadline_ms: 42, .. }
        ));
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_closed_between_calls_is_opened_again() {
        let (address, connections) = fake_extensions_api(vec![INVOKE, INVOKE, SHUTDOWN], true).await;
        let mut events = Events::new(&address, "id-1").unwrap();
        assert!(matches!(
            events.next().await.unwrap().event,
            NextEvent::Invoke { .. }
        ));
        assert!(matches!(
            events.next().await.unwrap().event,
            NextEvent::Invoke { .. }
        ));
        assert!(matches!(
            events.next().await.unwrap().event,
            NextEvent::Shutdown { .. }
        ));
        assert_eq!(connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refusal_and_an_api_that_is_gone_are_errors_not_panics() {
        let (address, _) = fake_extensions_api(vec![], false).await;
        let mut events = Events::new(&address, "id-1").unwrap();
        let err = events.next().await.unwrap_err();
        assert!(
            matches!(
                err,
                ExtensionsApiError::Refused {
                    status: StatusCode::FORBIDDEN,
                    ..
                }
            ),
            "{err}"
        );

        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = closed.local_addr().unwrap().to_string();
        drop(closed);
        let mut events = Events::new(&address, "id-1").unwrap();
        assert!(matches!(
            events.next().await.unwrap_err(),
            ExtensionsApiError::Request { .. }
        ));
    }

    /// A server that reads each request whole and answers with the next of `answers`, raw
    /// bytes written as they are (in pieces where an answer holds `|`, a few ms apart), and
    /// closes the connection after an answer that ends in `#`; counts connections.
    async fn raw_server(answers: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&connections);
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                loop {
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1];
                    while !request.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            break;
                        }
                        request.push(byte[0]);
                    }
                    if !request.ends_with(b"\r\n\r\n") {
                        break;
                    }
                    let text = String::from_utf8(request).unwrap();
                    assert!(
                        text.starts_with("GET /2020-01-01/extension/event/next HTTP/1.1\r\n"),
                        "{text}"
                    );
                    assert!(
                        text.to_ascii_lowercase()
                            .contains("\r\nlambda-extension-identifier: id-1\r\n"),
                        "{text}"
                    );
                    let Some(answer) = answers.next() else { return };
                    let (answer, close) = match answer.strip_suffix('#') {
                        Some(a) => (a, true),
                        None => (answer, false),
                    };
                    for piece in answer.split('|') {
                        stream.write_all(piece.as_bytes()).await.unwrap();
                        stream.flush().await.unwrap();
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    if close {
                        break;
                    }
                }
            }
        });
        (address, connections)
    }

    fn id(received: Received) -> Option<String> {
        match received.event {
            NextEvent::Invoke { request_id } => request_id.map(|r| r.to_string()),
            other => panic!("an INVOKE, not {other:?}"),
        }
    }

    /// Every framing RFC 9112 allows: a length read in pieces, a chunked body (with an
    /// extension and a trailer), a body up to the connection's end, HTTP/1.0, a 204.
    #[tokio::test]
    async fn every_framing_of_the_answer_is_read() {
        let answers = vec![
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 38\r\n\r\n|{\"eventType\":\"INVOKE\",|\"requestId\":\"a\"}",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10;x=y\r\n{\"eventType\":\"IN\r\n|16\r\nVOKE\",\"requestId\":\"b\"}\r\n0\r\nX-Trailer: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"eventType\":\"INVOKE\",|\"requestId\":\"c\"}#",
            "HTTP/1.0 200 OK\r\nContent-Length: 38\r\n\r\n{\"eventType\":\"INVOKE\",\"requestId\":\"d\"}",
        ];
        let (address, connections) = raw_server(answers).await;
        let mut events = Events::new(&address, "id-1").unwrap();
        for want in ["a", "b", "c", "d"] {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(id(got).as_deref(), Some(want));
        }
        // The answer that ran to the connection's end, then HTTP/1.0's: a new connection each.
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        assert!(events.stream.is_none(), "HTTP/1.0 closes the connection");
    }

    /// A kept connection the server closed without answering is opened again and the request
    /// sent again; an answer cut short, or one over the bound, is an error, never a panic or an
    /// unbounded read.
    #[tokio::test]
    async fn a_closed_idle_connection_is_reopened_and_bad_answers_are_errors() {
        let ok =
            "HTTP/1.1 200 OK\r\nContent-Length: 38\r\n\r\n{\"eventType\":\"INVOKE\",\"requestId\":\"e\"}";
        let (address, connections) = raw_server(vec![
            ok,
            "#",
            ok,
            "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{\"e#",
        ])
        .await;
        let mut events = Events::new(&address, "id-1").unwrap();
        assert_eq!(id(events.next().await.unwrap()).as_deref(), Some("e"));
        assert_eq!(
            id(events.next().await.unwrap()).as_deref(),
            Some("e"),
            "sent again"
        );
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        let err = events.next().await.unwrap_err();
        assert!(matches!(err, ExtensionsApiError::Request { .. }), "{err}");

        let huge: &'static str =
            Box::leak(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_ANSWER).into_boxed_str());
        let (address, _) = raw_server(vec![huge]).await;
        let mut events = Events::new(&address, "id-1").unwrap();
        let err = events.next().await.unwrap_err();
        assert!(err.to_string().contains("bytes"), "{err}");
        for bad in [
            "HTTP/2 200\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    /// `sent` runs once the request is out and before the answer: the server answers only
    /// after it ran (a `sent` called after the answer would never let it).
    #[tokio::test]
    async fn work_after_the_request_runs_before_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (ran_tx, ran_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
                request.push(byte[0]);
            }
            ran_rx.await.unwrap();
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{INVOKE}",
                INVOKE.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            std::future::pending::<()>().await;
        });
        let mut events = Events::new(&address, "id-1").unwrap();
        let next = events.next_after(move || {
            let _ = ran_tx.send(());
        });
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), next)
            .await
            .expect("the answer came once `sent` had run")
            .unwrap();
        assert!(id(received).is_some());
    }

    /// From the INVOKE read to the next request written, nothing is allocated on this thread:
    /// the answer is read into the kept buffer and decoded in place (hyper's client made about
    /// eight allocations per call).
    #[test]
    fn a_call_in_the_steady_state_allocates_nothing() {
        // The server on a thread of its own, so that only the client's allocations count here.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{INVOKE}",
                    INVOKE.len()
                );
                let answer: &'static str = Box::leak(answer.into_boxed_str());
                tx.send(raw_server(vec![answer; 8]).await.0).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let address = rx.recv().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut events = Events::new(&address, "id-1").unwrap();
            // The first calls connect and size the buffer.
            for _ in 0..2 {
                id(events.next().await.unwrap());
            }
            let before = allocations::on_this_thread();
            for _ in 0..4 {
                let received = events.next().await.unwrap();
                assert!(matches!(
                    received.event,
                    NextEvent::Invoke { request_id: Some(_) }
                ));
            }
            assert_eq!(allocations::on_this_thread() - before, 0);
        });
    }
}

/// The test binary's allocator: the system's, counting each thread's allocations.
#[cfg(test)]
#[allow(
    unsafe_code,
    reason = "a global allocator is an unsafe trait; this one only counts"
)]
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: the caller's contract is the system allocator's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// Allocations made on this thread so far.
    pub(super) fn on_this_thread() -> u64 {
        COUNT.with(Cell::get)
    }
}
