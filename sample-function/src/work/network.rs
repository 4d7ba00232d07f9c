//! `network_bytes`: an echo over a loopback TCP connection, so the sandbox's network counters
//! move without any external traffic.

use std::io;
use std::net::Ipv4Addr;

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
    let client = async {
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
    };
    let ((), echo) = tokio::try_join!(server, client).map_err(|error| failed("transferring", error))?;
    if echo.received != bytes {
        return Err(failed(
            "short read",
            io::Error::other(format!("sent {bytes} bytes, got {} back", echo.received)),
        ));
    }
    Ok(echo)
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
}
