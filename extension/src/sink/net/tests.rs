//! The connector frozen at the two moments that decide what became of a request: before it
//! went out, and while its answer comes.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use super::*;

fn request() -> http::Request<Full<Bytes>> {
    http::Request::post("/")
        .header(http::header::HOST, "monitoring.us-east-1.amazonaws.com")
        .body(Full::new(Bytes::from_static(b"a signed PutMetricData body")))
        .unwrap()
}

/// The environment is frozen (here: the only thread of the runtime blocked) after the attempt
/// was made and before it was first run; at the thaw its deadline has passed. Nothing was
/// written, so it is "not sent" (retried, or written as EMF), never an unknown outcome that
/// would be counted as sent and so lost.
#[tokio::test(flavor = "current_thread")]
async fn a_request_frozen_before_it_went_out_is_not_sent() {
    for round in 0..20 {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let deadline = Deadline::new();
        deadline.set(Instant::now() + Duration::from_millis(5));
        let written = Written::default();
        let exchange = exchange(client, request(), &deadline, &written);
        std::thread::sleep(Duration::from_millis(20));
        let err = exchange.await.expect_err("no answer");
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            (Some(err), got.len(), written.bytes()),
            (Some(Failure::NotSent), 0, 0),
            "round {round}: {err:?}"
        );
    }
}

/// A request that went out gets its answer, or, with none by the deadline, an unknown
/// outcome; either way the connection is gone when the exchange ends.
#[tokio::test(flavor = "current_thread")]
async fn a_request_that_went_out_is_answered_or_unknown() {
    for answered in [true, false] {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let peer = tokio::spawn(async move {
            let mut got = vec![0; 4096];
            let n = server.read(&mut got).await.unwrap();
            if answered {
                use tokio::io::AsyncWriteExt as _;
                server
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
            }
            // Until the client's side is dropped.
            let mut rest = Vec::new();
            server.read_to_end(&mut rest).await.unwrap();
            n
        });
        let deadline = Deadline::new();
        deadline.set(Instant::now() + Duration::from_millis(300));
        let written = Written::default();
        let result = exchange(client, request(), &deadline, &written).await;
        let sent = peer.await.unwrap();
        assert!(sent > 0 && written.bytes() == u64::try_from(sent).unwrap());
        match result {
            Ok(answer) => assert!(answered && answer.status().as_u16() == 200),
            Err(err) => assert!(!answered && err == Failure::NoAnswer, "{err:?}"),
        }
    }
}

/// Work that is done once `answered` is set, seen only when it is polled (as an answer in a
/// socket is seen only when the connection reads): it needs one more poll after that.
struct Answer {
    answered: Arc<std::sync::atomic::AtomicBool>,
    seen: bool,
}

impl Future for Answer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.seen {
            return Poll::Ready(());
        }
        if self.answered.load(Ordering::SeqCst) {
            // Read now; handed over at the next poll.
            self.seen = true;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// The answer came while the environment was frozen, and at the thaw the deadline has
/// passed too: the answer already there is taken, not given up for an unknown outcome.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_that_came_while_frozen_is_taken_at_the_thaw() {
    for round in 0..20 {
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let deadline = Deadline::new();
        deadline.set(Instant::now() + Duration::from_millis(10));
        let work = Answer {
            answered: answered.clone(),
            seen: false,
        };
        let waiting = tokio::spawn({
            let deadline = deadline.clone();
            async move { deadline.within(work).await }
        });
        tokio::task::yield_now().await;
        // Frozen: nothing of the runtime runs while the answer arrives and the deadline
        // passes.
        answered.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(waiting.await.unwrap(), Some(()), "round {round}");
    }
}

/// The same, when what brings the answer has to run first: at a thaw the runtime's first
/// turn can fire the timers without the socket's events (the freezer interrupts its wait),
/// which come at the next turn. Here another task hands the answer over, woken by a timer
/// just after the deadline's.
#[tokio::test(flavor = "current_thread")]
async fn an_answer_the_runtime_has_not_seen_yet_at_the_thaw_is_taken() {
    for round in 0..20 {
        let now = Instant::now();
        let deadline = Deadline::new();
        deadline.set(now + Duration::from_millis(10));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let waiting = tokio::spawn({
            let deadline = deadline.clone();
            async move { deadline.within(rx).await }
        });
        let bringer = tokio::spawn(async move {
            tokio::time::sleep_until(now + Duration::from_millis(12)).await;
            let _ = tx.send(());
        });
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(30));
        let got = waiting.await.unwrap();
        bringer.await.unwrap();
        assert!(matches!(got, Some(Ok(()))), "round {round}: {got:?}");
    }
}

/// Past the deadline (the looks that take an answer at a thaw) the connection may still be
/// polled: a request none of whose bytes went out does not start going out then, and one that
/// had begun is finished (its outcome is unknown either way).
#[tokio::test(flavor = "current_thread")]
async fn nothing_starts_going_out_after_the_deadline() {
    use tokio::io::AsyncWriteExt as _;
    let (client, _server) = tokio::io::duplex(1024);
    let deadline = Deadline::new();
    deadline.set(Instant::now() + Duration::from_secs(60));
    let written = Written::default();
    let mut io = Counted {
        io: client,
        written: written.clone(),
        deadline: deadline.clone(),
    };
    io.write_all(b"POST / HTTP/1.1").await.unwrap();
    deadline.cap(Instant::now());
    io.write_all(b"\r\n").await.unwrap();
    assert_eq!(written.bytes(), 17);

    let (client, mut server) = tokio::io::duplex(1024);
    let written = Written::default();
    let mut io = Counted {
        io: client,
        written: written.clone(),
        deadline,
    };
    let late = io.write_all(b"POST / HTTP/1.1").await.unwrap_err();
    assert_eq!(late.kind(), std::io::ErrorKind::TimedOut);
    drop(io);
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert_eq!((written.bytes(), got.len()), (0, 0));
}
