//! Benchmark: 50 clients logging in as fast as they can (Argon2id each time) must not starve
//! other requests. Prints login throughput and latency, and `/health/live` latency meanwhile;
//! the target is a `/health/live` p99 under 50 ms.
//!
//! Run: `cargo bench --bench login_load` (uses DATABASE_URL or the local default server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
// A bench drives the service from outside: it reads the real time and makes ids freely.
#![allow(
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use internal_store::config::Settings;
use internal_store::startup::Application;

const CLIENTS: usize = 50;
const DURATION: Duration = Duration::from_secs(8);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let located = internal_store::db::locate(std::env::var("DATABASE_URL").ok().as_deref())
        .await
        .unwrap();
    let mut server = url::Url::parse(&located.url).unwrap();
    server.set_path("/postgres");
    let name = format!("is_bench_login_{}", std::process::id());
    let mut admin = internal_store::db::connect(server.as_str()).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = server.clone();
    url.set_path(&format!("/{name}"));

    let env = HashMap::from([
        ("DATABASE_URL", url.to_string()),
        ("BIND", "127.0.0.1:0".to_string()),
        (
            "JWT_SECRET",
            "bench-secret-bench-secret-bench-secret-000".to_string(),
        ),
        (
            "LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS",
            "10000".to_string(),
        ),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "100000".to_string()),
    ]);
    let settings = Settings::from_map(&env).unwrap();
    let application = Application::build(settings.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());
    internal_store::identity::bootstrap::run(
        &settings,
        internal_store::cli::BootstrapArgs {
            group_code: "JKL".into(),
            group_name: "JKL Holdings".into(),
            currency: "USD".into(),
            country: "US".into(),
            admin_email: "admin@jkl.example".into(),
            admin_password: "bench-admin-password".into(),
            admin_name: "Bench Admin".into(),
        },
    )
    .await
    .unwrap();

    let deadline = Instant::now() + DURATION;
    let mut logins = Vec::new();
    for _ in 0..CLIENTS {
        let client = reqwest::Client::new();
        let url = format!("{base}/api/v1/auth/login");
        logins.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .json(&serde_json::json!({"email": "admin@jkl.example", "password": "bench-admin-password"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let probe = {
        let client = reqwest::Client::new();
        let url = format!("{base}/health/live");
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                latencies.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies
        })
    };
    let mut login_latencies = Vec::new();
    for task in logins {
        login_latencies.extend(task.await.unwrap());
    }
    let mut live = probe.await.unwrap();
    login_latencies.sort();
    live.sort();

    println!(
        "login_load: {CLIENTS} concurrent login clients for {} s",
        DURATION.as_secs()
    );
    println!("| scenario | requests | throughput (req/s) | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|---|");
    println!(
        "| POST /api/v1/auth/login | {} | {:.1} | {:.1} | {:.1} |",
        login_latencies.len(),
        login_latencies.len() as f64 / DURATION.as_secs_f64(),
        percentile(&login_latencies, 0.5),
        percentile(&login_latencies, 0.99)
    );
    let live_p99 = percentile(&live, 0.99);
    println!(
        "| GET /health/live (meanwhile) | {} | {:.1} | {:.2} | {:.2} |",
        live.len(),
        live.len() as f64 / DURATION.as_secs_f64(),
        percentile(&live, 0.5),
        live_p99
    );
    println!(
        "target: /health/live p99 < 50 ms → {}",
        if live_p99 < 50.0 { "met" } else { "NOT met" }
    );

    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
}
