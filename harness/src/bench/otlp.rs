//! A stand-in OTLP/HTTP collector for the OpenTelemetry peer: it answers every export with
//! 200 and keeps the bodies, so the bench can tell which invocations reached it. The peer is
//! told to send uncompressed protobuf (`OTEL_EXPORTER_OTLP_COMPRESSION=none`): string
//! attributes such as `faas.invocation_id` are then plain bytes in the body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The collector: its address and what it received.
pub(crate) struct Sink {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    server: JoinHandle<()>,
}

impl Sink {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub(crate) async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let kept = Arc::clone(&bodies);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let kept = Arc::clone(&kept);
                        async move {
                            if let Ok(body) = req.into_body().collect().await
                                && let Ok(mut all) = kept.lock()
                            {
                                all.push(body.to_bytes());
                            }
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, bodies, server })
    }

    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets what was received (between lives).
    pub(crate) fn clear(&self) {
        if let Ok(mut all) = self.bodies.lock() {
            all.clear();
        }
    }

    /// How many of `ids` occur in some received body.
    pub(crate) fn found(&self, ids: &[&str]) -> Vec<bool> {
        let Ok(all) = self.bodies.lock() else {
            return vec![false; ids.len()];
        };
        ids.iter()
            .map(|id| {
                let id = id.as_bytes();
                all.iter().any(|b| b.windows(id.len()).any(|w| w == id))
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}
