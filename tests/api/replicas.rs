//! Reads on a real streaming replica (`DATABASE_READ_URLS`): a private primary (as the
//! binary starts one when nothing answers) and a replica made from it with `pg_basebackup -R`,
//! both throwaway clusters on free ports, so the shared server is never touched. Listings and
//! reports are served by the replica, the orderer reads their own order at once, a replica
//! whose replay is paused is skipped, and a replica stopped under load costs no request.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

fn pg_bin(name: &str) -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .find(|p| p.is_file())
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// A PostgreSQL tool run as the cluster's owner (`postgres` when the tests run as root).
fn pg(tool: &Path) -> Command {
    if as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(tool);
        command.current_dir("/");
        command
    } else {
        Command::new(tool)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Transactions committed in `internal_store` on the server at `url` (its statistics).
async fn commits(url: &str) -> i64 {
    let mut conn = internal_store::db::connect(url).await.unwrap();
    let row: Count = diesel::sql_query(
        "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = 'internal_store'",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    row.n
}

async fn execute(url: &str, sql: &str) {
    let mut conn = internal_store::db::connect(url).await.unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
}

/// A figure of `/metrics` (0 when absent), once the service has sampled what happened before
/// this call (it samples once a second).
async fn metric(client: &reqwest::Client, base: &str, line: &str) -> f64 {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
        .unwrap_or(0.0)
}

struct Clusters {
    pg_ctl: PathBuf,
    dir: PathBuf,
    primary: PathBuf,
    replica: PathBuf,
}

impl Clusters {
    fn stop(&self, data: &Path) {
        let _ = pg(&self.pg_ctl)
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        self.stop(&self.replica);
        self.stop(&self.primary);
        let _ = Command::new("rm").arg("-rf").arg(&self.dir).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_and_reports_read_from_a_replica_skipped_when_behind_or_gone() {
    let (Some(pg_ctl), Some(basebackup)) = (pg_bin("pg_ctl"), pg_bin("pg_basebackup")) else {
        eprintln!("PostgreSQL server binaries are not installed; nothing to test here");
        return;
    };
    let binary = env!("CARGO_BIN_EXE_internal-store");
    let dir = std::env::temp_dir().join(format!("is-replica-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new("chmod").arg("755").arg(&dir).status().unwrap();
    let clusters = Clusters {
        pg_ctl: pg_ctl.clone(),
        dir: dir.clone(),
        primary: dir.join(".data/postgres"),
        replica: dir.join("replica"),
    };

    // The primary: the private cluster the binary starts when nothing answers.
    let migrated = Command::new(binary)
        .arg("migrate")
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env(
            "INTERNAL_STORE_DEFAULT_DATABASE_URL",
            "postgres://postgres@127.0.0.1:9/internal_store",
        )
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let port: u16 = std::fs::read_to_string(clusters.primary.join("internal-store.port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let primary = format!("postgres://postgres@127.0.0.1:{port}/internal_store");

    // The replica: a base backup with its standby settings (-R), started on a port of its own.
    std::fs::create_dir_all(&clusters.replica).unwrap();
    if as_root() {
        Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&clusters.replica)
            .status()
            .unwrap();
    }
    Command::new("chmod")
        .arg("700")
        .arg(&clusters.replica)
        .status()
        .unwrap();
    let backup = pg(&basebackup)
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
        .arg(&clusters.replica)
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let replica_port = free_port();
    let started = pg(&pg_ctl)
        .arg("-D")
        .arg(&clusters.replica)
        .arg("-o")
        .arg(format!(
            "-p {replica_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        ))
        .arg("-l")
        .arg(clusters.replica.join("log"))
        .args(["-w", "start"])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let replica = format!("postgres://postgres@127.0.0.1:{replica_port}/internal_store");

    let boot = Command::new(binary)
        .args([
            "bootstrap",
            "--group-code",
            "REP",
            "--group-name",
            "Replicas",
        ])
        .args([
            "--currency",
            "USD",
            "--admin-email",
            "admin@replica.example",
        ])
        .env("DATABASE_URL", &primary)
        .env("BOOTSTRAP_ADMIN_PASSWORD", "replica-password-1")
        .output()
        .unwrap();
    assert!(
        boot.status.success(),
        "{}",
        String::from_utf8_lossy(&boot.stderr)
    );

    let api_port = free_port();
    let log = dir.join("server.log");
    let mut server = Command::new(binary)
        .arg("serve")
        .env("DATABASE_URL", &primary)
        .env("DATABASE_READ_URLS", &replica)
        .env("READ_MAX_LAG", "1")
        .env("READ_LAG_CHECK_MS", "200")
        // Every listing read from the database, so that each one shows where it was read.
        .env("LISTING_CACHE_TTL_MS", "0")
        .env("BIND", format!("127.0.0.1:{api_port}"))
        .env("JWT_SECRET", "replica-secret-replica-secret-replica-0000")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{api_port}");
    let outcome = tokio::spawn(exercise(base, replica, clusters)).await;
    let _ = server.kill();
    let _ = server.wait();
    if let Err(panic) = outcome {
        eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn exercise(base: String, replica: String, clusters: Clusters) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}/api/v1{path}"))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let login = |email: &'static str, password: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let reply: Value = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply["access_token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login("admin@replica.example", "replica-password-1").await;
    let (_, me) = call(reqwest::Method::GET, "/me", &admin, None).await;
    let root = me["company_id"].as_str().unwrap().to_owned();
    let (status, category) = call(
        reqwest::Method::POST,
        "/categories",
        &admin,
        Some(json!({"code": "things", "name": "Things"})),
    )
    .await;
    assert_eq!(status, 201, "{category}");
    let (status, tier) = call(
        reqwest::Method::POST,
        "/discount-tiers",
        &admin,
        Some(
            json!({"code": "staff", "name": "Staff", "discount_percent": "10",
                    "eligible_employment_types": ["direct"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{tier}");
    for (email, roles) in [
        ("ann@replica.example", json!(["employee"])),
        ("fin@replica.example", json!(["employee", "finance"])),
    ] {
        let (status, body) = call(
            reqwest::Method::POST,
            "/employees",
            &admin,
            Some(
                json!({"email": email, "full_name": "Rep Person", "company_id": root,
                        "employment_type": "direct", "client_type": "operational",
                        "tier_id": tier["id"], "roles": roles,
                        "password": "replica-employee-1"}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, product) = call(
        reqwest::Method::POST,
        "/products",
        &admin,
        Some(
            json!({"sku": "MUG", "name": "Mug", "category_id": category["id"],
                    "seller_company_id": root, "kind": "goods", "list_price": "10.00",
                    "unit_cost": "4.00",
                    "stock_on_hand": 100000}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{product}");
    let ann = login("ann@replica.example", "replica-employee-1").await;
    let fin = login("fin@replica.example", "replica-employee-1").await;
    let usable = "internal_store_db_replica_usable{pool=\"replica-1\"}";
    let on_replica = "internal_store_db_reads_total{pool=\"replica-1\"}";
    let on_primary = "internal_store_db_reads_total{pool=\"primary\"}";
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&client, &base, usable).await < 1.0 {
        assert!(Instant::now() < deadline, "the replica never became usable");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Listings and a month report are read on the replica: its own statistics count them.
    let before = commits(&replica).await;
    let served = metric(&client, &base, on_replica).await;
    for _ in 0..20 {
        let (status, page) = call(reqwest::Method::GET, "/products", &ann, None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"][0]["sku"], "MUG");
    }
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    for _ in 0..5 {
        let path = format!("/finance/internal-sales?period={month}");
        let (status, report) = call(reqwest::Method::GET, &path, &fin, None).await;
        assert_eq!(status, 200, "{report}");
    }
    assert!(metric(&client, &base, on_replica).await >= served + 25.0);
    // Statistics are flushed within a second of a backend going idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        commits(&replica).await >= before + 25,
        "the replica served the reads"
    );

    // The orderer sees their order at once: orders are read on the primary.
    let (status, order) = call(
        reqwest::Method::POST,
        "/orders",
        &ann,
        Some(json!({"lines": [{"product_id": product["id"], "quantity": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let path = format!("/orders/{}", order["id"].as_str().unwrap());
    let (status, read) = call(reqwest::Method::GET, &path, &ann, None).await;
    assert_eq!((status, &read["number"]), (200, &order["number"]));

    // Replay paused and the primary writing on: past READ_MAX_LAG the replica is skipped, and
    // a product created since is listed at once (read on the primary).
    execute(
        &replica.replace("/internal_store", "/postgres"),
        "SELECT pg_wal_replay_pause()",
    )
    .await;
    let (status, fresh) = call(
        reqwest::Method::POST,
        "/products",
        &admin,
        Some(
            json!({"sku": "AAA-NEW", "name": "New", "category_id": category["id"],
                    "seller_company_id": root, "kind": "goods", "list_price": "5.00",
                    "unit_cost": "1.00",
                    "stock_on_hand": 10}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{fresh}");
    // At once, before any check can have set the replica aside: the listing knows of the
    // change and the replica has not replayed it, so the page is not built there.
    let (status, page) = call(reqwest::Method::GET, "/products", &ann, None).await;
    assert_eq!((status, &page["items"][0]["sku"]), (200, &json!("AAA-NEW")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&client, &base, usable).await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "a paused replica was never skipped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let served = metric(&client, &base, on_replica).await;
    let (status, page) = call(reqwest::Method::GET, "/products", &ann, None).await;
    assert_eq!((status, &page["items"][0]["sku"]), (200, &json!("AAA-NEW")));
    assert_eq!(
        metric(&client, &base, on_replica).await,
        served,
        "no read on a lagging replica"
    );
    execute(
        &replica.replace("/internal_store", "/postgres"),
        "SELECT pg_wal_replay_resume()",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&client, &base, usable).await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the resumed replica never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The replica stopped under a read load: no request fails, and reads go to the primary.
    let load: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let url = format!("{base}/api/v1/products");
            let token = ann.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let until = Instant::now() + Duration::from_secs(3);
                while Instant::now() < until {
                    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    clusters.stop(&clusters.replica);
    let mut statuses = Vec::new();
    for task in load {
        statuses.extend(task.await.unwrap());
    }
    assert!(statuses.len() > 20, "the load ran");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(metric(&client, &base, usable).await, 0.0);
    let served = metric(&client, &base, on_primary).await;
    let (status, _) = call(reqwest::Method::GET, "/products", &ann, None).await;
    assert_eq!(status, 200);
    assert!(metric(&client, &base, on_primary).await > served);
}
