//! ministack with its CloudWatch, Lambda and Resource Groups Tagging services, for the fleet's
//! suites, and its seeding (report/tests/common/fleet_seed.py, through botocore).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// ministack with the services the fleet uses (the harness's `LocalCloudWatch` runs only
/// CloudWatch: `--tag` needs Lambda functions with tags and `GetResources`).
pub(crate) struct Ministack {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for Ministack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ministack {
    pub(crate) fn start() -> Self {
        let bin = local_cloudwatch::venv().join("bin");
        let port = super::closed_port();
        let log = std::env::temp_dir().join(format!("lambda-lens-fleet-ministack-{port}.log"));
        let child = Command::new(bin.join("ministack"))
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("SERVICES", "cloudwatch,lambda,tagging")
            .env("AUTH", "false")
            .env("LOG_LEVEL", "WARNING")
            .env("MINISTACK_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("ministack in {}: {e}", bin.display()));
        let ms = Self { child, port };
        let started = Instant::now();
        while TcpStream::connect_timeout(&ms.addr(), Duration::from_millis(200)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ministack did not start: {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        ms
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub(crate) fn seed(&self, functions: &[Value], data: &Value) {
        let python = local_cloudwatch::venv().join("bin/python");
        let script = super::workspace().join("report/tests/common/fleet_seed.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let request =
            json!({"endpoint": self.url(), "region": "us-east-1", "functions": functions, "data": data});
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), request.to_string().as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "seeding: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
