//! The accept loop both of the sandbox's listeners run: the API server's (`api::server`) and
//! the private network's echo peer (`environment::network`). At the bottom of the crate, so
//! each takes it from below.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Hands every connection `listener` accepts to `handle`, until the task is aborted. An accept
/// error (out of file descriptors, say) is logged with `what` and retried after a pause that
/// doubles up to a second, so a persistent error does not spin a core.
pub(crate) async fn accept_each(
    listener: TcpListener,
    what: &'static str,
    mut handle: impl FnMut(TcpStream),
) {
    const FIRST_PAUSE: Duration = Duration::from_millis(5);
    const LONGEST_PAUSE: Duration = Duration::from_secs(1);
    let mut pause = FIRST_PAUSE;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                pause = FIRST_PAUSE;
                handle(stream);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "{what}: accept failed");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}
