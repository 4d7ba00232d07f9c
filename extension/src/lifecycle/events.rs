//! `/event/next` on a connection of its own: the call the function's every invocation waits on.
//!
//! Register and the Telemetry API's subscription go through `lambda_runtime_api_client`'s pooled
//! client (once each). `/event/next` is made at every invocation, on the thread that must answer
//! Lambda at once, and that client rebuilds the request's URI from its base (a `format!`, a parse,
//! an authority copy), boxes the future, checks a connection out of its pool and tags each
//! response with the connection's addresses: a score of heap allocations per call (counted in
//! BENCHMARKS.md). Each takes musl's allocator lock, which the telemetry
//! thread, woken at the same moment by the platform's delivery, also wants. This is hyper's own
//! HTTP/1 client connection, kept open: a request made of a static path and two header values made
//! once, the answer read whole.

use http::header::HOST;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use lambda_runtime_api_client::body::Body;
use tokio::net::TcpStream;

use super::extensions_api::{self, ExtensionsApiError, NextEvent, Received};

const CALL: &str = "GET /2020-01-01/extension/event/next";
const PATH: &str = "/2020-01-01/extension/event/next";
/// `Lambda-Extension-Identifier`, as a static header name (which must be lower case).
const EXTENSION_ID: &str = "lambda-extension-identifier";

/// The Extensions API's event stream for one registered extension.
pub(crate) struct Events {
    /// `host:port` of the Extensions API (`AWS_LAMBDA_RUNTIME_API`, checked beforehand).
    address: String,
    host: HeaderValue,
    extension_id: HeaderValue,
    connection: Option<SendRequest<Body>>,
}

impl Events {
    /// The events of the extension registered as `extension_id` at `runtime_api`.
    pub(crate) fn new(runtime_api: &str, extension_id: &str) -> Result<Self, ExtensionsApiError> {
        let value = |text: &str| HeaderValue::from_str(text);
        Ok(Self {
            address: runtime_api.to_owned(),
            host: value(runtime_api).map_err(|e| request_error(e.into()))?,
            // The registration's answer gave it as a header value, so it is one.
            extension_id: value(extension_id).map_err(|_| ExtensionsApiError::NoIdentifier)?,
            connection: None,
        })
    }

    /// Waits for the next INVOKE or SHUTDOWN (or an event of another type). A connection
    /// Lambda closed between two calls is opened again before the request is sent; a failure
    /// after it was sent is an error (the event may have been handed out), as with the pooled
    /// client. An answer that is not the documented event is not an error: see
    /// [`NextEvent::decode`].
    pub(crate) async fn next(&mut self) -> Result<Received, ExtensionsApiError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(Uri::from_static(PATH))
            .header(HOST, self.host.clone())
            .header(HeaderName::from_static(EXTENSION_ID), self.extension_id.clone())
            .body(Body::empty())
            .map_err(|e| request_error(e.into()))?;
        let connection = self.connection().await?;
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| request_error(e.into()));
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                self.connection = None;
                return Err(err);
            }
        };
        let (_, body) = extensions_api::read(CALL, response, StatusCode::OK).await?;
        Ok(NextEvent::decode(&body, || chrono::Utc::now().timestamp_millis()))
    }

    /// The open connection, ready for a request; a new one when there is none or it closed.
    async fn connection(&mut self) -> Result<&mut SendRequest<Body>, ExtensionsApiError> {
        if let Some(mut open) = self.connection.take()
            && open.ready().await.is_ok()
        {
            return Ok(self.connection.insert(open));
        }
        let stream = TcpStream::connect(&self.address)
            .await
            .map_err(|e| request_error(e.into()))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| request_error(e.into()))?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "the Extensions API connection ended");
            }
        });
        Ok(self.connection.insert(sender))
    }
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
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1 as server;
    use hyper::service::service_fn;
    use tokio::net::TcpListener;

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
}
