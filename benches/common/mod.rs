//! What the benchmarks share: the release server started in its own process on a free
//! loopback port, the wait until it is ready, and their numeric knobs.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release binary serving on `base`.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// Starts `internal-store serve` against `database_url` with `secret` and `env` (on top of
    /// `RUST_LOG=warn`), then waits up to 10 s until `/health/ready` answers 200; with
    /// `listener`, also until the listing cache's listener is subscribed (or the cache is off),
    /// as on a server that has run a while.
    pub async fn start(
        database_url: &str,
        secret: &str,
        env: &[(&str, String)],
        listener: bool,
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_internal-store"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", secret)
            .env("RUST_LOG", "warn");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(response) = probe.get(format!("{base}/health/ready")).send().await {
                if response.status().is_success()
                    && (!listener
                        || response.text().await.is_ok_and(|body| {
                            body.contains("\"connected\"") || body.contains("\"off\"")
                        }))
                {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server { child, base }
    }
}

/// The numeric knob `name` from the environment, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
