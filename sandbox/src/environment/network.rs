//! A private network for the environment: its own network namespace with a loopback and one
//! veth interface (`eth0`), as a Lambda environment has its own interfaces. The APIs listen on
//! the namespace's `127.0.0.1` (so `AWS_LAMBDA_RUNTIME_API` is a loopback address there, as on
//! Lambda) and telemetry is delivered from inside it to `sandbox.localdomain`, which names
//! `eth0`'s address: traffic to an address of the environment's own stays on its loopback, so
//! `eth0`'s counters (`/proc/net/dev`) move only for traffic that leaves the environment. On the
//! sandbox's side of the pair, the "outside" address, an echo peer answers whatever a function
//! sends it: the stand-in for the network beyond the environment.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN), util-linux's `nsenter` and iproute2's `ip`;
//! elsewhere the sandbox keeps the host's network and says why.

use std::fs::File;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Interfaces on the host are named `lsbx<index>`; each index has its own /30 in
/// 169.254.64.0/18 (link-local, below the 169.254.169.254 metadata address's /24).
const IFACE_PREFIX: &str = "lsbx";
const MAX_INDEXES: u32 = 4096;
/// Serialises the choice of an index between sandboxes of any process on this machine.
const LOCK_FILE: &str = "lambda-sandbox-network.lock";

/// An index reserved for a new environment's network, with its addresses; held under the
/// machine-wide lock until [`Lease::attach`] has made the interface (or the lease is dropped).
#[derive(Debug)]
pub(crate) struct Lease {
    index: u32,
    _lock: File,
}

impl Lease {
    /// Takes the lowest index no interface uses.
    pub(crate) fn take() -> Result<Self, String> {
        let path = std::env::temp_dir().join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        lock.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        let index = (0..MAX_INDEXES)
            .find(|i| !Path::new(&format!("/sys/class/net/{IFACE_PREFIX}{i}")).exists())
            .ok_or_else(|| format!("all {MAX_INDEXES} sandbox network interfaces are in use"))?;
        Ok(Self { index, _lock: lock })
    }

    /// The environment's own address (`eth0`, `sandbox.localdomain`).
    pub(crate) fn env_ip(&self) -> Ipv4Addr {
        address(self.index, 2)
    }

    /// Makes the veth pair between the host and the network namespace of `holder` (a process
    /// already in it), addresses both ends, brings them and the namespace's loopback up, and
    /// routes the namespace's traffic to the host's end. IPv6 is off on both ends, so nothing
    /// but the environment's own traffic moves their counters (no router solicitations).
    pub(crate) fn attach(self, holder: u32) -> Result<PrivateNetwork, String> {
        let iface = format!("{IFACE_PREFIX}{}", self.index);
        let host = address(self.index, 1);
        let env = address(self.index, 2);
        let ns_path = format!("/proc/{holder}/ns/net");
        let ns = File::open(&ns_path).map_err(|e| format!("cannot open {ns_path}: {e}"))?;
        run(
            "ip",
            &[
                "link",
                "add",
                &iface,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &holder.to_string(),
            ],
        )?;
        // From here the interface exists: it goes with the namespace, or on drop.
        let network = PrivateNetwork {
            ns: Arc::new(ns),
            iface,
            host,
            env,
        };
        let ipv6_off = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", network.iface);
        if Path::new(&ipv6_off).exists() {
            std::fs::write(&ipv6_off, "1").map_err(|e| format!("cannot write {ipv6_off}: {e}"))?;
        }
        run(
            "ip",
            &["addr", "add", &format!("{host}/30"), "dev", &network.iface],
        )?;
        run("ip", &["link", "set", &network.iface, "up"])?;
        let inside = format!(
            "if [ -e /proc/sys/net/ipv6/conf/eth0/disable_ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/eth0/disable_ipv6; fi \
             && ip link set lo up && ip addr add {env}/30 dev eth0 && ip link set eth0 up \
             && ip route add default via {host}"
        );
        run(
            "nsenter",
            &[
                &format!("--target={holder}"),
                "--net",
                "--",
                "/bin/sh",
                "-c",
                &inside,
            ],
        )?;
        Ok(network)
    }
}

/// The n-th address (1: the host's end, 2: the environment's) of index `i`'s /30.
fn address(i: u32, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(169, 254, 64, 0)) + i * 4 + n)
}

/// Runs a command to its end; its error output is the message when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The environment's network namespace and its veth pair.
#[derive(Debug)]
pub struct PrivateNetwork {
    /// The namespace, held open so sockets can be made in it.
    ns: Arc<File>,
    iface: String,
    host: Ipv4Addr,
    env: Ipv4Addr,
}

impl PrivateNetwork {
    /// The environment's address (`eth0`, and what `sandbox.localdomain` names inside it).
    pub fn env_ip(&self) -> Ipv4Addr {
        self.env
    }

    /// The address of the sandbox's end of the pair: outside the environment.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host
    }

    /// The host's name of the sandbox's end (`lsbx<n>`).
    pub fn host_interface(&self) -> &str {
        &self.iface
    }

    /// A handle that makes sockets inside the namespace.
    pub(crate) fn sockets(&self) -> NetNs {
        NetNs {
            ns: Arc::clone(&self.ns),
        }
    }

    /// One line for the CLI.
    pub(crate) fn describe(&self) -> String {
        format!(
            "eth0 {}/30 (the sandbox's end {} on {})",
            self.env, self.host, self.iface
        )
    }
}

impl Drop for PrivateNetwork {
    fn drop(&mut self) {
        // Deleting one end deletes the pair; the namespace's end also goes with the namespace.
        let _ = run("ip", &["link", "del", &self.iface]);
    }
}

/// Makes sockets inside a network namespace. A socket belongs to the namespace of the thread
/// that made it, wherever it is used afterwards; so each is made on a short-lived thread that
/// enters the namespace first (never on a pooled thread, which would stay there).
#[derive(Debug, Clone)]
pub(crate) struct NetNs {
    ns: Arc<File>,
}

impl NetNs {
    /// Runs `make` on a thread inside the namespace.
    async fn inside<T: Send + 'static>(
        &self,
        make: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let ns = Arc::clone(&self.ns);
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("sandbox-netns".to_owned())
            .spawn(move || {
                let made = nix::sched::setns(ns.as_ref(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)
                    .and_then(|()| make());
                let _ = tx.send(made);
            })?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("the namespace thread ended")))
    }

    /// A listener bound to `addr` inside the namespace.
    pub(crate) async fn listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let std_listener = self
            .inside(move || {
                let l = std::net::TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .await?;
        TcpListener::from_std(std_listener)
    }

    /// A stream connected to `addr` from inside the namespace, Nagle off.
    pub(crate) async fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = self
            .inside(move || match addr {
                SocketAddr::V4(_) => TcpSocket::new_v4(),
                SocketAddr::V6(_) => TcpSocket::new_v6(),
            })
            .await?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// The telemetry client's connector: Nagle off (a batch's last bytes go out at once, never held
/// for the subscriber's delayed ACK), and, in a private network, connections made from inside
/// the namespace. Destinations are IP literals (the sandbox resolves `sandbox.localdomain`
/// itself).
#[derive(Debug, Clone, Default)]
pub(crate) struct Connector(pub(crate) Option<NetNs>);

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let ns = self.0.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let ip: std::net::IpAddr = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| io::Error::other(format!("not an IP address: {host:?}")))?;
            let addr = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
            let stream = match ns {
                Some(ns) => ns.connect(addr).await?,
                None => {
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    stream
                }
            };
            Ok(TokioIo::new(stream))
        })
    }
}

/// A TCP echo service on the sandbox's end of the pair: what a function sends there comes back.
/// Stops when dropped.
#[derive(Debug)]
pub(crate) struct EchoPeer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EchoPeer {
    pub(crate) async fn start(ip: Ipv4Addr) -> io::Result<Self> {
        let listener = TcpListener::bind((ip, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(crate::net::accept_each(listener, "the echo peer", |stream| {
            tokio::spawn(echo(stream));
        }));
        Ok(Self { addr, task })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Copies a connection back to itself until the other side closes its sending half.
async fn echo(mut stream: TcpStream) {
    let (mut reader, mut writer) = stream.split();
    if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
        let _ = writer.shutdown().await;
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_index_has_its_own_slash_30_in_the_link_local_range() {
        assert_eq!(address(0, 1), Ipv4Addr::new(169, 254, 64, 1));
        assert_eq!(address(0, 2), Ipv4Addr::new(169, 254, 64, 2));
        assert_eq!(address(1, 1), Ipv4Addr::new(169, 254, 64, 5));
        assert_eq!(address(64, 2), Ipv4Addr::new(169, 254, 65, 2));
        let last = address(MAX_INDEXES - 1, 2);
        assert_eq!(last, Ipv4Addr::new(169, 254, 127, 254));
        assert!(last < Ipv4Addr::new(169, 254, 169, 0), "below the metadata /24");
    }
}
