//! A proxy in front of the local CloudWatch for the report's suites: it forwards each request,
//! times how long the endpoint took to answer (so a suite can tell the report's own time from
//! the time spent waiting on ministack), counts the requests by operation, and plays what the
//! local CloudWatch does not: `ListMetrics` answered in pages of a few metrics with `NextToken`
//! (ministack answers in one page), `GetMetricData` answers split over pages with `PartialData`,
//! a result's `InternalError`, a `Messages` entry, and throttling of chosen requests of one
//! operation. The SDK speaks rpc-v2-cbor to CloudWatch; the proxy decodes and re-encodes the
//! CBOR bodies it changes (ministack runs without signature checks: `AUTH=false`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A CBOR value: what the SDK and ministack exchange.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cbor {
    Map(Vec<(Cbor, Cbor)>),
    Array(Vec<Cbor>),
    Text(String),
    Bytes(Vec<u8>),
    U(u64),
    I(i64),
    F(f64),
    Bool(bool),
    Null,
    Undefined,
    Tag(u64, Box<Cbor>),
}

impl Cbor {
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut d = minicbor::Decoder::new(bytes);
        let v = decode(&mut d)?;
        Some(v)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut e = minicbor::Encoder::new(Vec::new());
        encode(self, &mut e);
        e.into_writer()
    }

    /// A map's member.
    pub(crate) fn get(&self, key: &str) -> Option<&Cbor> {
        match self {
            Self::Map(m) => m
                .iter()
                .find(|(k, _)| matches!(k, Cbor::Text(t) if t == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets (or adds) a map's member.
    pub(crate) fn set(&mut self, key: &str, value: Cbor) {
        if let Self::Map(m) = self {
            match m.iter_mut().find(|(k, _)| matches!(k, Cbor::Text(t) if t == key)) {
                Some((_, v)) => *v = value,
                None => m.push((Cbor::Text(key.to_owned()), value)),
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) {
        if let Self::Map(m) = self {
            m.retain(|(k, _)| !matches!(k, Cbor::Text(t) if t == key));
        }
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> &[Cbor] {
        match self {
            Self::Array(a) => a,
            _ => &[],
        }
    }
}

fn decode(d: &mut minicbor::Decoder<'_>) -> Option<Cbor> {
    use minicbor::data::Type;
    Some(match d.datatype().ok()? {
        Type::Bool => Cbor::Bool(d.bool().ok()?),
        Type::Null => {
            d.null().ok()?;
            Cbor::Null
        }
        Type::Undefined => {
            d.undefined().ok()?;
            Cbor::Undefined
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Cbor::U(d.u64().ok()?),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
            Cbor::I(i64::try_from(i128::from(d.int().ok()?)).ok()?)
        }
        Type::F16 | Type::F32 | Type::F64 => Cbor::F(d.f64().ok()?),
        Type::String => Cbor::Text(d.str().ok()?.to_owned()),
        Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter().ok()? {
                s.push_str(part.ok()?);
            }
            Cbor::Text(s)
        }
        Type::Bytes => Cbor::Bytes(d.bytes().ok()?.to_vec()),
        Type::BytesIndef => {
            let mut b = Vec::new();
            for part in d.bytes_iter().ok()? {
                b.extend_from_slice(part.ok()?);
            }
            Cbor::Bytes(b)
        }
        Type::Array | Type::ArrayIndef => {
            let len = d.array().ok()?;
            let mut items = Vec::new();
            match len {
                Some(n) => {
                    for _ in 0..n {
                        items.push(decode(d)?);
                    }
                }
                None => {
                    while d.datatype().ok()? != Type::Break {
                        items.push(decode(d)?);
                    }
                    d.set_position(d.position() + 1);
                }
            }
            Cbor::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let len = d.map().ok()?;
            let mut members = Vec::new();
            match len {
                Some(n) => {
                    for _ in 0..n {
                        members.push((decode(d)?, decode(d)?));
                    }
                }
                None => {
                    while d.datatype().ok()? != Type::Break {
                        members.push((decode(d)?, decode(d)?));
                    }
                    d.set_position(d.position() + 1);
                }
            }
            Cbor::Map(members)
        }
        Type::Tag => {
            let tag = d.tag().ok()?.as_u64();
            Cbor::Tag(tag, Box::new(decode(d)?))
        }
        _ => return None,
    })
}

fn encode(v: &Cbor, e: &mut minicbor::Encoder<Vec<u8>>) {
    let _ = match v {
        Cbor::Map(m) => {
            let _ = e.map(m.len() as u64);
            for (k, v) in m {
                encode(k, e);
                encode(v, e);
            }
            return;
        }
        Cbor::Array(a) => {
            let _ = e.array(a.len() as u64);
            for v in a {
                encode(v, e);
            }
            return;
        }
        Cbor::Text(t) => e.str(t).map(|_| ()),
        Cbor::Bytes(b) => e.bytes(b).map(|_| ()),
        Cbor::U(n) => e.u64(*n).map(|_| ()),
        Cbor::I(n) => e.i64(*n).map(|_| ()),
        Cbor::F(x) => e.f64(*x).map(|_| ()),
        Cbor::Bool(b) => e.bool(*b).map(|_| ()),
        Cbor::Null => e.null().map(|_| ()),
        Cbor::Undefined => e.undefined().map(|_| ()),
        Cbor::Tag(t, inner) => {
            let _ = e.tag(minicbor::data::Tag::new(*t));
            encode(inner, e);
            return;
        }
    };
}

/// What the proxy plays besides forwarding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Play {
    /// `ListMetrics` in pages of this many metrics.
    pub(crate) list_metrics_page: Option<usize>,
    /// Each `GetMetricData` answer in this many pages (its results' values spread over them),
    /// every page but the last with `PartialData` and a `NextToken`.
    pub(crate) get_metric_data_pages: Option<usize>,
    /// The last page's `NextToken` left out: CloudWatch says `PartialData` and no next page.
    pub(crate) partial_without_token: bool,
    /// The results whose id this is: `InternalError`, with no value.
    pub(crate) internal_error_id: Option<String>,
    /// A `Messages` entry (code, value) in each `GetMetricData` answer.
    pub(crate) message: Option<(String, String)>,
    /// Throttles requests of this operation: `throttle_run` of them, then `pass_run` passed,
    /// over and over (from the first).
    pub(crate) throttle: Option<(String, u32, u32)>,
}

#[derive(Debug, Default)]
struct State {
    play: Play,
    /// Requests by operation (the rpc-v2-cbor path's last part, or `X-Amz-Target`'s).
    requests: BTreeMap<String, u64>,
    /// Requests of each operation that were throttled.
    throttled: BTreeMap<String, u64>,
    /// The time the endpoint took to answer, summed over the forwards.
    upstream: Duration,
    /// Pages still to serve, by the token that asks for them.
    pages: BTreeMap<String, Cbor>,
    next_page: u64,
    /// The decoded bodies of the requests, by operation.
    bodies: BTreeMap<String, Vec<Cbor>>,
}

/// The running proxy; stops when dropped.
pub(crate) struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub(crate) async fn start(upstream: SocketAddr, play: Play) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            play,
            ..State::default()
        }));
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
        Self { addr, state, task }
    }

    pub(crate) fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn set(&self, play: Play) {
        self.state.lock().unwrap().play = play;
    }

    /// Requests of `operation` received.
    pub(crate) fn requests(&self, operation: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .requests
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn all_requests(&self) -> u64 {
        self.state.lock().unwrap().requests.values().sum()
    }

    pub(crate) fn throttled(&self, operation: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .throttled
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// The time spent waiting on the endpoint behind the proxy.
    pub(crate) fn upstream(&self) -> Duration {
        self.state.lock().unwrap().upstream
    }

    /// The decoded request bodies of `operation`.
    pub(crate) fn bodies(&self, operation: &str) -> Vec<Cbor> {
        self.state
            .lock()
            .unwrap()
            .bodies
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }
}

fn operation(parts: &http::request::Parts) -> String {
    if let Some(target) = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    parts.uri.path().rsplit('/').next().unwrap_or("").to_owned()
}

fn cbor_answer(status: u16, body: &Cbor) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.encode())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    let headers = response.headers_mut();
    headers.insert("smithy-protocol", http::HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/cbor"),
    );
    response
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

fn throttling() -> Response<Full<Bytes>> {
    cbor_answer(
        400,
        &Cbor::Map(vec![
            (text("__type"), text("Throttling")),
            (text("message"), text("Rate exceeded")),
        ]),
    )
}

async fn handle(
    state: Arc<Mutex<State>>,
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let op = operation(&parts);
    let decoded = Cbor::decode(&body);
    let token = decoded
        .as_ref()
        .and_then(|b| b.get("NextToken"))
        .and_then(Cbor::text)
        .map(str::to_owned);
    {
        let mut s = state.lock().unwrap();
        let n = {
            let n = s.requests.entry(op.clone()).or_default();
            *n += 1;
            *n - 1
        };
        if let Some(b) = &decoded {
            s.bodies.entry(op.clone()).or_default().push(b.clone());
        }
        if let Some((throttled_op, throttle_run, pass_run)) = s.play.throttle.clone()
            && throttled_op == op
            && n % u64::from(throttle_run + pass_run) < u64::from(throttle_run)
        {
            *s.throttled.entry(op).or_default() += 1;
            return Ok(throttling());
        }
        // A page the proxy made of an earlier answer.
        if let Some(token) = &token
            && let Some(page) = s.pages.remove(token)
        {
            return Ok(cbor_answer(200, &page));
        }
    }
    let began = Instant::now();
    let answer = forward(upstream, Request::from_parts(parts, Full::new(body))).await;
    let took = began.elapsed();
    let mut s = state.lock().unwrap();
    s.upstream += took;
    let Ok(answer) = answer else {
        return Ok(cbor_answer(
            502,
            &Cbor::Map(vec![(text("__type"), text("InternalServiceFault"))]),
        ));
    };
    let (parts, bytes) = answer;
    if parts.status != StatusCode::OK {
        return Ok(Response::from_parts(parts, Full::new(bytes)));
    }
    let Some(mut out) = Cbor::decode(&bytes) else {
        return Ok(Response::from_parts(parts, Full::new(bytes)));
    };
    match op.as_str() {
        "ListMetrics" => {
            if let Some(size) = s.play.list_metrics_page {
                let metrics = out.get("Metrics").map(|m| m.items().to_vec()).unwrap_or_default();
                let pages: Vec<Vec<Cbor>> = metrics.chunks(size.max(1)).map(<[Cbor]>::to_vec).collect();
                out = paged(
                    &mut s,
                    pages
                        .into_iter()
                        .map(|p| Cbor::Map(vec![(text("Metrics"), Cbor::Array(p))]))
                        .collect(),
                );
            }
        }
        "GetMetricData" => {
            let pages = s.play.get_metric_data_pages.unwrap_or(1).max(1);
            let internal = s.play.internal_error_id.clone();
            let results = out
                .get("MetricDataResults")
                .map(|r| r.items().to_vec())
                .unwrap_or_default();
            let mut built: Vec<Vec<Cbor>> = vec![Vec::new(); pages];
            for result in results {
                let id = result.get("Id").and_then(Cbor::text).unwrap_or("").to_owned();
                let values = result
                    .get("Values")
                    .map(|v| v.items().to_vec())
                    .unwrap_or_default();
                let times = result
                    .get("Timestamps")
                    .map(|v| v.items().to_vec())
                    .unwrap_or_default();
                for (p, page) in built.iter_mut().enumerate() {
                    let mut part = result.clone();
                    let take = |all: &[Cbor]| -> Vec<Cbor> {
                        all.iter()
                            .enumerate()
                            .filter(|(i, _)| i % pages == p)
                            .map(|(_, v)| v.clone())
                            .collect()
                    };
                    part.set("Values", Cbor::Array(take(&values)));
                    part.set("Timestamps", Cbor::Array(take(&times)));
                    let last = p + 1 == pages;
                    part.set("StatusCode", text(if last { "Complete" } else { "PartialData" }));
                    if internal.as_deref() == Some(id.as_str()) {
                        part.set("Values", Cbor::Array(Vec::new()));
                        part.set("Timestamps", Cbor::Array(Vec::new()));
                        part.set("StatusCode", text("InternalError"));
                    }
                    page.push(part);
                }
            }
            let message = s.play.message.clone();
            let mut maps: Vec<Cbor> = built
                .into_iter()
                .map(|results| {
                    let mut page = Cbor::Map(vec![(text("MetricDataResults"), Cbor::Array(results))]);
                    if let Some((code, value)) = &message {
                        page.set(
                            "Messages",
                            Cbor::Array(vec![Cbor::Map(vec![
                                (text("Code"), text(code)),
                                (text("Value"), text(value)),
                            ])]),
                        );
                    }
                    page
                })
                .collect();
            if s.play.partial_without_token
                && let Some(Cbor::Map(m)) = maps.last_mut()
                && let Some((_, Cbor::Array(results))) = m.first_mut()
            {
                for r in results {
                    r.set("StatusCode", text("PartialData"));
                }
            }
            out = paged(&mut s, maps);
        }
        _ => {}
    }
    let mut parts = parts;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let body = out.encode();
    Ok(Response::from_parts(parts, Full::new(Bytes::from(body))))
}

/// The first of `pages`, each but the last with a `NextToken` that asks for the next (kept to
/// serve without forwarding).
fn paged(s: &mut State, pages: Vec<Cbor>) -> Cbor {
    let tokens: Vec<String> = (1..pages.len())
        .map(|_| {
            s.next_page += 1;
            format!("proxy-page-{}", s.next_page)
        })
        .collect();
    let mut first = None;
    for (i, mut page) in pages.into_iter().enumerate() {
        match tokens.get(i) {
            Some(token) => page.set("NextToken", text(token)),
            None => page.remove("NextToken"),
        }
        match i.checked_sub(1).and_then(|k| tokens.get(k)) {
            Some(asked_by) => {
                s.pages.insert(asked_by.clone(), page);
            }
            None => first = Some(page),
        }
    }
    first.unwrap_or(Cbor::Map(Vec::new()))
}

async fn forward(
    upstream: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<(http::response::Parts, Bytes), Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = tokio::time::timeout(Duration::from_secs(120), sender.send_request(request)).await??;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((parts, body))
}
