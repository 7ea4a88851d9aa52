//! Replica benchmark: order placement alone, then with a finance report over 1 000 000 ledger
//! entries running in a loop on the primary, then with the same report on a streaming
//! replica — all in one run, against throwaway clusters of its own.
//!
//! The machine stands in for two: the primary, the service and the load clients are pinned to
//! CPU 0 (`taskset`), the replica to CPU 1, so that a report on the replica uses another
//! machine's CPU as it would in production. Without pinning, on two cores, the replica would
//! compete with the primary for the same CPUs and say nothing about a second machine.
//!
//! Run: `cargo bench --bench replicas` (needs PostgreSQL's server binaries and `taskset`).
//! Knobs: REPLICA_CLIENTS (order clients, default 16), REPLICA_SECONDS per phase (default 15),
//! REPLICA_LEDGER_ORDERS (intercompany orders, five entries each; default 200 000).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
// A bench drives the service from outside: it reads the real time and makes ids freely.
#![allow(
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

#[path = "common/mod.rs"]
mod common;
#[path = "common/ledger.rs"]
mod ledger;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use internal_store::config::Settings;
use internal_store::identity::token::TokenKeys;
use serde_json::json;

const SECRET: &str = "replica-bench-secret-replica-bench-0000";
const ROOT: &str = "00000000-0000-0000-0000-000000000001";
const EMPLOYEES: usize = 500;
const PRODUCTS: usize = 2_000;

async fn sql(conn: &mut AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

fn bin_dir() -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .find(|dir| dir.join("pg_basebackup").is_file())
        .expect("pg_basebackup")
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// `tool` pinned to `cpu`, run as the clusters' owner (`postgres` when run as root).
fn pg(cpu: u8, tool: &Path) -> Command {
    let mut command = Command::new("taskset");
    command.args(["-c", &cpu.to_string()]);
    if as_root() {
        command.args(["runuser", "-u", "postgres", "--"]);
    }
    command.arg(tool).current_dir("/");
    command
}

fn run(mut command: Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(bin: &Path, cpu: u8, data: &Path, port: u16, extra: &str) {
    let mut command = pg(cpu, &bin.join("pg_ctl"));
    command
        .arg("-D")
        .arg(data)
        .arg("-o")
        .arg(format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' {extra}"
        ))
        .arg("-l")
        .arg(data.join("log"))
        .args(["-w", "start"]);
    run(command);
}

struct Phase {
    name: &'static str,
    orders: usize,
    errors: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    reports: u64,
}

#[tokio::main]
async fn main() {
    let clients = common::env_number("REPLICA_CLIENTS", 16) as usize;
    let seconds = common::env_number("REPLICA_SECONDS", 15);
    let ledger_orders = common::env_number("REPLICA_LEDGER_ORDERS", 200_000);
    // This process (the load clients) and everything it starts from here on run on CPU 0.
    run({
        let mut c = Command::new("taskset");
        c.args(["-a", "-cp", "0", &std::process::id().to_string()]);
        c
    });
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!("is-bench-replica-{}", std::process::id()));
    let (primary_dir, replica_dir) = (dir.join("primary"), dir.join("replica"));
    for path in [&dir, &primary_dir, &replica_dir] {
        std::fs::create_dir_all(path).unwrap();
    }
    Command::new("chmod").arg("755").arg(&dir).status().unwrap();
    for path in [&primary_dir, &replica_dir] {
        if as_root() {
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .unwrap();
        }
        Command::new("chmod").arg("700").arg(path).status().unwrap();
    }
    let mut initdb = pg(0, &bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&primary_dir)
        .args(["-U", "postgres", "--auth=trust", "--no-sync"]);
    run(initdb);
    let port = free_port();
    start(&bin, 0, &primary_dir, port, "-c shared_buffers=256MB");
    let server = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let primary = format!("postgres://postgres@127.0.0.1:{port}/internal_store");
    let mut admin = internal_store::db::connect(&server).await.unwrap();
    sql(&mut admin, "CREATE DATABASE internal_store").await;
    internal_store::db::migrate(&primary).await.unwrap();

    // ---- data: a store to order from, and a million ledger entries to report on
    println!("preparing {PRODUCTS} products, {EMPLOYEES} employees and {ledger_orders} intercompany orders …");
    let started = Instant::now();
    let mut conn = internal_store::db::connect(&primary).await.unwrap();
    sql(&mut conn, &format!(
        "INSERT INTO companies (id, code, name, group_id, currency, country) VALUES ('{ROOT}', 'JKL', 'JKL', '{ROOT}', 'USD', 'US')")).await;
    for (n, currency) in ["USD", "EUR", "USD", "EUR"].iter().enumerate() {
        sql(&mut conn, &format!(
            "INSERT INTO companies (id, code, name, parent_id, group_id, currency, country) \
             VALUES ('00000000-0000-0000-0000-00000000001{n}', 'C{n}', 'Company {n}', '{ROOT}', '{ROOT}', '{currency}', 'US')")).await;
    }
    sql(&mut conn, &format!(
        "INSERT INTO fx_rates (group_id, base, quote, rate, date) \
         SELECT '{ROOT}', 'USD', 'EUR', 0.90 + (d % 7) / 100.0, date '2026-03-01' + d FROM generate_series(0, 30) d")).await;
    sql(
        &mut conn,
        &format!(
            "INSERT INTO categories (group_id, code, name) VALUES ('{ROOT}', 'things', 'Things')"
        ),
    )
    .await;
    sql(&mut conn, &format!(
        "INSERT INTO discount_tiers (group_id, code, name, discount_percent) VALUES ('{ROOT}', 'staff', 'Staff', 15)")).await;
    sql(&mut conn, &format!(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand) \
         SELECT '{ROOT}', 'SKU-' || lpad(n::text, 6, '0'), 'Product ' || n, (SELECT id FROM categories), '{ROOT}', 'goods', \
                (500 + n % 20000) / 100.0, (300 + n % 10000) / 100.0, 1000000 \
         FROM generate_series(1, {PRODUCTS}) n")).await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, tier_id, roles, password_hash) \
         SELECT '{ROOT}', 'e' || n || '@jkl.example', 'Employee ' || n, '{ROOT}', 'direct', 'operational', \
                (SELECT id FROM discount_tiers), ARRAY['employee'], 'x' \
         FROM generate_series(1, {EMPLOYEES}) n")).await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, roles, password_hash) \
         VALUES ('{ROOT}', 'finance@jkl.example', 'Finance', '{ROOT}', 'direct', 'operational', ARRAY['employee', 'finance'], 'x')")).await;
    ledger::seed(&mut conn, ROOT, ledger_orders).await;
    sql(&mut conn, "VACUUM ANALYZE").await;
    println!("prepared in {:.0?}", started.elapsed());

    // ---- the replica, on CPU 1
    let mut backup = pg(1, &bin.join("pg_basebackup"));
    backup
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-R",
        ])
        .args(["-X", "stream", "-c", "fast", "-D"])
        .arg(&replica_dir);
    run(backup);
    let replica_port = free_port();
    // Feedback keeps the primary's vacuum from removing rows a long report still reads there.
    start(
        &bin,
        1,
        &replica_dir,
        replica_port,
        "-c hot_standby_feedback=on",
    );
    let replica = format!("postgres://postgres@127.0.0.1:{replica_port}/internal_store");

    // ---- two servers on CPU 0: one that reads reports on the primary, one on the replica
    let on_primary = common::Server::start(&primary, SECRET, &[], false).await;
    let on_replica = common::Server::start(
        &primary,
        SECRET,
        &[("DATABASE_READ_URLS", replica.clone())],
        false,
    )
    .await;
    let settings =
        Settings::from_map(&HashMap::from([("JWT_SECRET", SECRET.to_string())])).unwrap();
    let keys = TokenKeys::new(&settings.jwt);
    let ids = |query: &'static str| {
        let primary = primary.clone();
        async move {
            #[derive(diesel::QueryableByName)]
            struct Id {
                #[diesel(sql_type = diesel::sql_types::Uuid)]
                id: uuid::Uuid,
            }
            let mut conn = internal_store::db::connect(&primary).await.unwrap();
            let rows: Vec<Id> = diesel::sql_query(query).load(&mut conn).await.unwrap();
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let products = Arc::new(ids("SELECT id FROM products ORDER BY sku").await);
    let tokens: Arc<Vec<String>> = Arc::new(
        ids("SELECT id FROM employees WHERE email LIKE 'e%' ORDER BY email")
            .await
            .iter()
            .map(|id| keys.issue((*id).into(), 1).unwrap())
            .collect(),
    );
    let finance = keys
        .issue(
            ids("SELECT id FROM employees WHERE email = 'finance@jkl.example'").await[0].into(),
            1,
        )
        .unwrap();
    // The replica serving before anything is timed.
    let probe = reqwest::Client::new();
    let report_url = |base: &str| format!("{base}/api/v1/finance/reconciliation?period=2026-03");
    for _ in 0..2 {
        let response = probe
            .get(report_url(&on_replica.base))
            .bearer_auth(&finance)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    let mut phases = Vec::new();
    // A warm-up (not reported) fills the caches and plans first; "alone" is measured before
    // and after the two report phases, so that drift shows.
    for (phase_no, (name, report_base)) in [
        ("warm-up", None),
        ("orders alone", None),
        (
            "orders + report on the primary",
            Some(on_primary.base.clone()),
        ),
        (
            "orders + report on the replica",
            Some(on_replica.base.clone()),
        ),
        ("orders alone, again", None),
    ]
    .into_iter()
    .enumerate()
    {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let reports = Arc::new(AtomicU64::new(0));
        let reporter = report_base.map(|base| {
            let (finance, reports, url) = (finance.clone(), reports.clone(), report_url(&base));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while Instant::now() < deadline {
                    let response = client.get(&url).bearer_auth(&finance).send().await.unwrap();
                    assert!(response.status().is_success());
                    let _ = response.bytes().await;
                    reports.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        let begun = Instant::now();
        let mut tasks = Vec::new();
        for client_index in 0..clients {
            let (tokens, products, base) =
                (tokens.clone(), products.clone(), on_replica.base.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut latencies, mut errors) = (Vec::new(), 0);
                let mut n: usize = client_index * 7919 + phase_no;
                while Instant::now() < deadline {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 1;
                    let employee = (client_index + clients * (latencies.len() + errors)) % tokens.len();
                    let lines: Vec<_> = (0..1 + n % 3)
                        .map(|i| json!({"product_id": products[(n / 6 + i * 677) % products.len()], "quantity": 1}))
                        .collect();
                    let request = client
                        .post(format!("{base}/api/v1/orders"))
                        .header("Idempotency-Key", format!("p{phase_no}-{client_index}-{}", latencies.len() + errors))
                        .bearer_auth(&tokens[employee])
                        .json(&json!({"lines": lines}));
                    let started = Instant::now();
                    match request.send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(started.elapsed());
                        }
                        Ok(response) => {
                            errors += 1;
                            if errors <= 3 {
                                eprintln!("error {}: {}", response.status(), response.text().await.unwrap_or_default());
                            }
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            }));
        }
        let mut phase = Phase {
            name,
            orders: 0,
            errors: 0,
            seconds: 0.0,
            latencies: Vec::new(),
            reports: 0,
        };
        for task in tasks {
            let (latencies, errors) = task.await.unwrap();
            phase.orders += latencies.len();
            phase.errors += errors;
            phase.latencies.extend(latencies);
        }
        phase.seconds = begun.elapsed().as_secs_f64();
        if let Some(reporter) = reporter {
            reporter.await.unwrap();
        }
        phase.reports = AtomicU64::load(&reports, Ordering::Relaxed);
        phase.latencies.sort();
        if phase_no > 0 {
            phases.push(phase);
        }
    }

    let alone = phases[0].orders as f64 / phases[0].seconds;
    println!();
    println!("replicas: {clients} order clients, {seconds} s per phase, report = reconciliation of March over {} ledger entries", ledger_orders * 5);
    println!("(primary, service and clients on CPU 0; the replica on CPU 1)");
    println!();
    println!(
        "| phase | orders | errors | orders/s | vs alone | p50 (ms) | p99 (ms) | reports run |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for phase in &phases {
        let rate = phase.orders as f64 / phase.seconds;
        let at = |q: f64| {
            phase
                .latencies
                .get(((phase.latencies.len() as f64 - 1.0) * q) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.2}× | {:.1} | {:.1} | {} |",
            phase.name,
            phase.orders,
            phase.errors,
            rate,
            rate / alone,
            at(0.5),
            at(0.99),
            phase.reports
        );
    }

    for mut server in [on_primary, on_replica] {
        let _ = server.child.kill();
        let _ = server.child.wait();
    }
    for data in [&replica_dir, &primary_dir] {
        let mut stop = pg(0, &bin.join("pg_ctl"));
        stop.arg("-D").arg(data).args(["-m", "fast", "stop"]);
        let _ = stop.output();
    }
    let _ = Command::new("rm").arg("-rf").arg(&dir).status();
}
