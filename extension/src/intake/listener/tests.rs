use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PATH: &str = "/0123abcd";

async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

async fn post(addr: SocketAddr, body: &str) -> String {
    request(addr, "POST", PATH, body).await
}

const BATCH: &str = r#"[{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{"requestId":"r1"}},{"time":"2026-11-25T10:00:00.000Z","type":"platform.mystery","record":{}}]"#;

/// A listener on 127.0.0.1 taking `PATH`, with short deadlines.
async fn start(max_body: usize) -> (SocketAddr, mpsc::Receiver<IntakeMessage>, Arc<Semaphore>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(1);
    let slots = Arc::new(Semaphore::new(1));
    let limits = RequestLimits {
        max_body,
        header_deadline: Duration::from_millis(300),
        body_deadline: Duration::from_millis(300),
    };
    tokio::spawn(serve(listener, PATH.to_owned(), tx, Arc::clone(&slots), limits));
    (addr, rx, slots)
}

#[tokio::test]
async fn a_batch_is_answered_200_and_the_next_waits_until_the_pipeline_has_read_it() {
    let (addr, mut rx, slots) = start(4096).await;
    assert!(post(addr, BATCH).await.starts_with("HTTP/1.1 200"));
    match rx.recv().await.unwrap() {
        IntakeMessage::Delivery(d) => {
            let mut reading = super::super::Reading::from(d);
            assert!(
                reading
                    .next_event(&mut super::super::Versions::default())
                    .is_some()
            );
            // The pipeline is still working this batch: the next one is not read.
            let second = tokio::spawn(post(addr, BATCH));
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!second.is_finished());
            assert!(rx.try_recv().is_err());
            assert_eq!(slots.available_permits(), 0);
            assert!(
                reading
                    .next_event(&mut super::super::Versions::default())
                    .is_none()
            );
            // The batch read to its end gives its slot back, and the next one is read.
            let (stats, _) = reading.finish();
            assert_eq!((stats.records, stats.used, stats.unknown), (2, 1, 1));
            assert!(second.await.unwrap().starts_with("HTTP/1.1 200"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(rx.recv().await, Some(IntakeMessage::Delivery(_))));
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_counted_and_a_get_is_not_allowed() {
    let (addr, mut rx, slots) = start(64).await;
    assert!(post(addr, BATCH).await.starts_with("HTTP/1.1 413"));
    assert!(matches!(rx.recv().await, Some(IntakeMessage::Oversized)));
    let answer = request(addr, "GET", PATH, "").await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // A refused body gives its slot back: the next batch is read.
    assert_eq!(slots.available_permits(), 1);
}

#[tokio::test]
async fn only_the_subscribed_path_is_telemetry() {
    let (addr, mut rx, _) = start(4096).await;
    for path in ["/", "/other", "/0123abcd/x", "/0123abc"] {
        let answer = request(addr, "POST", path, BATCH).await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    assert!(rx.try_recv().is_err(), "nothing reached the pipeline");
    assert!(post(addr, BATCH).await.starts_with("HTTP/1.1 200"));
    assert!(matches!(rx.recv().await, Some(IntakeMessage::Delivery(_))));
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_does_not_stop_the_next_batch() {
    let (addr, mut rx, slots) = start(4096).await;
    // Headers and half a body, then nothing: it takes the reading slot, for a while.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: sandbox\r\nContent-Length: {}\r\n\r\n{}",
        BATCH.len(),
        &BATCH[..BATCH.len() / 2]
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), post(addr, BATCH))
        .await
        .expect("the next batch is not stopped by the stalled one");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(matches!(rx.recv().await, Some(IntakeMessage::Delivery(_))));
    let mut reply = String::new();
    stalled.read_to_string(&mut reply).await.unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408"),
        "the stalled client is answered 408: {reply}"
    );
    assert_eq!(slots.available_permits(), 1);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let (addr, _rx, _) = start(4096).await;
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /0123abcd HTTP/1.1\r\nHost: sand")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The listener closes the connection after its header deadline (the read ends).
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was closed");
}

#[tokio::test]
async fn more_connections_than_the_limit_wait_and_are_then_served() {
    let (addr, mut rx, _) = start(4096).await;
    // Idle connections up to the limit, each holding a place.
    let mut idle = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // One more request is served once the idle ones time out (header deadline).
    let answer = tokio::time::timeout(Duration::from_secs(10), post(addr, BATCH)).await;
    assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
    assert!(matches!(rx.recv().await, Some(IntakeMessage::Delivery(_))));
}

#[test]
fn the_sandbox_address_comes_from_hosts_text() {
    let hosts = "127.0.0.1 localhost\n# 10.0.0.9 sandbox.localdomain\n::1 sandbox.localdomain\n169.254.100.1  sandbox.localdomain sandbox # Lambda\n";
    assert_eq!(
        hosts_entry(hosts, SANDBOX_HOST),
        Some("169.254.100.1".parse().unwrap())
    );
    assert_eq!(
        hosts_entry("::1 sandbox.localdomain\n", SANDBOX_HOST),
        Some("::1".parse().unwrap())
    );
    assert_eq!(hosts_entry("127.0.0.1 localhost\n", SANDBOX_HOST), None);
    assert_eq!(hosts_entry("garbage line\n\n", SANDBOX_HOST), None);
}

#[test]
fn a_taken_port_is_left_for_a_free_one_and_the_destination_has_a_secret_path() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listener = bind_listener(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), port).unwrap();
    let bound = listener.socket.local_addr().unwrap().port();
    assert_ne!(bound, port);
    assert_eq!(listener.path.len(), 33, "/ and 32 hex digits: {}", listener.path);
    assert_eq!(
        listener.destination,
        format!("http://127.0.0.1:{bound}{}", listener.path)
    );
    let other = bind_listener(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0).unwrap();
    assert_ne!(other.path, listener.path, "a new token each time");
}
