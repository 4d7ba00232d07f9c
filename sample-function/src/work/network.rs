//! `network_bytes`: an echo over TCP. By default over loopback (its own listener), which no
//! network counter outside loopback sees; with `network_peer`, through an echo server at that
//! address (the local sandbox's echo peer outside a private network, say), so the bytes cross
//! the environment's interface both ways.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::error::SampleError;

const CHUNK: usize = 64 * 1024;

/// Bytes that went each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Echo {
    pub sent: u64,
    pub received: u64,
}

/// Listens on `127.0.0.1:0`, connects to itself, sends `bytes` bytes and reads them back.
/// Server and client run concurrently on the current task: no thread, no external network.
pub(crate) async fn loopback_echo(bytes: u64) -> Result<Echo, SampleError> {
    let failed =
        |what: &str, error: io::Error| SampleError::resource(format!("loopback echo: {what}"), error);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|error| failed("binding 127.0.0.1:0", error))?;
    let address = listener
        .local_addr()
        .map_err(|error| failed("reading the local address", error))?;

    let server = async {
        let (mut socket, _) = listener.accept().await?;
        let (mut reader, mut writer) = socket.split();
        tokio::io::copy(&mut reader, &mut writer).await?;
        writer.shutdown().await
    };
    let client = exchange(address, bytes);
    let ((), echo) = tokio::try_join!(server, client).map_err(|error| failed("transferring", error))?;
    whole(echo, bytes, "loopback echo")
}

/// Connects to `address`, sends `bytes` bytes, closes its sending half and reads until the
/// other side closes: what an echo server sends back.
async fn exchange(address: SocketAddr, bytes: u64) -> io::Result<Echo> {
    let mut stream = TcpStream::connect(address).await?;
    let (mut reader, mut writer) = stream.split();
    let send = async {
        let chunk = vec![0x5a_u8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let size = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
            let part = chunk.get(..size).unwrap_or(&chunk);
            writer.write_all(part).await?;
            left -= part.len() as u64;
        }
        writer.shutdown().await?;
        Ok::<u64, io::Error>(bytes)
    };
    let receive = async {
        let mut buffer = vec![0_u8; CHUNK];
        let mut received: u64 = 0;
        loop {
            let read = reader.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<u64, io::Error>(received);
            }
            received += read as u64;
        }
    };
    let (sent, received) = tokio::try_join!(send, receive)?;
    Ok::<Echo, io::Error>(Echo { sent, received })
}

/// Sends `bytes` bytes to the echo server at `peer` and reads them back.
pub(crate) async fn peer_echo(peer: SocketAddr, bytes: u64) -> Result<Echo, SampleError> {
    let what = format!("echo through {peer}");
    let echo = exchange(peer, bytes)
        .await
        .map_err(|error| SampleError::resource(format!("{what}: transferring"), error))?;
    whole(echo, bytes, &what)
}

/// The echo, when every byte came back.
fn whole(echo: Echo, bytes: u64, what: &str) -> Result<Echo, SampleError> {
    if echo.received == bytes {
        return Ok(echo);
    }
    Err(SampleError::resource(
        format!("{what}: short read"),
        io::Error::other(format!("sent {bytes} bytes, got {} back", echo.received)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn echoes_every_byte_on_a_current_thread_runtime() {
        let echo = block_on(loopback_echo(1_000_003)).unwrap();
        assert_eq!(
            echo,
            Echo {
                sent: 1_000_003,
                received: 1_000_003
            }
        );
    }

    #[test]
    fn zero_bytes_still_connects() {
        assert_eq!(block_on(loopback_echo(0)).unwrap(), Echo::default());
    }

    /// A server on 127.0.0.1 that echoes the first `keep` bytes of one connection, reads the
    /// rest, then closes.
    async fn peer(keep: u64) -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (reader, mut writer) = socket.split();
            let mut reader = reader.take(keep);
            tokio::io::copy(&mut reader, &mut writer).await.unwrap();
            tokio::io::copy(&mut reader.into_inner(), &mut tokio::io::sink())
                .await
                .unwrap();
            writer.shutdown().await.unwrap();
        });
        address
    }

    #[test]
    fn echoes_through_a_peer_and_notices_a_short_answer() {
        let echo = block_on(async { peer_echo(peer(u64::MAX).await, 300_000).await }).unwrap();
        assert_eq!(
            echo,
            Echo {
                sent: 300_000,
                received: 300_000
            }
        );
        let short = block_on(async { peer_echo(peer(1_000).await, 300_000).await });
        let text = short.unwrap_err().to_string();
        assert!(
            text.contains("short read") && text.contains("got 1000 back"),
            "{text}"
        );
    }
}
