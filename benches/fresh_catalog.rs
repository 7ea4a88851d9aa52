//! Fresh-catalog benchmark: a new group creates 10 000 products through the API, and the
//! uncached catalog listing is measured at once, then again after `VACUUM ANALYZE` (the steady
//! state autovacuum would reach). With plans cached per connection, a catalog the planner still
//! believed empty used to be ~25× slower until autovacuum analysed it; the server's statistics
//! keeper (`db::statistics`) is meant to keep the two within 2×.
//!
//! Run: `cargo bench --bench fresh_catalog` (DATABASE_URL or the local default server).
//! Knobs: LOAD_CLIENTS (default 32), LOAD_SECONDS per measurement (default 10), FRESH_PRODUCTS
//! (default 10 000), LOAD_KEEP (keep the database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
// A bench drives the service from outside: it reads the real time and makes ids freely.
#![allow(
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

const PASSWORD: &str = "fresh-catalog-password";
const SECRET: &str = "fresh-catalog-secret-fresh-catalog-0000";

struct Measured {
    requests: usize,
    errors: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `clients` loops over `urls` (each client from its own offset) for `seconds`.
async fn measure(
    urls: Arc<Vec<String>>,
    token: Arc<String>,
    clients: usize,
    seconds: u64,
) -> Measured {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for index in 0..clients {
        let (client, urls, token) = (client.clone(), urls.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = index;
            while Instant::now() < deadline {
                let url = &urls[n % urls.len()];
                n += 1;
                let at = Instant::now();
                match client.get(url).bearer_auth(token.as_str()).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(at.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Measured {
        requests: latencies.len(),
        errors,
        rate: latencies.len() as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

#[tokio::main]
async fn main() {
    let clients = common::env_number("LOAD_CLIENTS", 32) as usize;
    let seconds = common::env_number("LOAD_SECONDS", 10);
    let products = common::env_number("FRESH_PRODUCTS", 10_000) as usize;
    let located = internal_store::db::locate(std::env::var("DATABASE_URL").ok().as_deref())
        .await
        .unwrap();
    let mut server = url::Url::parse(&located.url).unwrap();
    server.set_path("/postgres");
    let mut admin_db = internal_store::db::connect(server.as_str()).await.unwrap();
    let name = format!("is_bench_fresh_{}", std::process::id());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin_db)
        .await
        .unwrap();
    let mut app_url = server.clone();
    app_url.set_path(&format!("/{name}"));

    // A new group, exactly as a user makes one.
    let binary = env!("CARGO_BIN_EXE_internal-store");
    let status = Command::new(binary)
        .args([
            "bootstrap",
            "--group-code",
            "FRS",
            "--group-name",
            "Fresh Holdings",
        ])
        .args(["--currency", "USD", "--admin-email", "admin@fresh.example"])
        .env("DATABASE_URL", app_url.as_str())
        .env("BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "bootstrap failed");

    // Every listing uncached: the database's plans are what is measured.
    let common::Server { mut child, base } = common::Server::start(
        app_url.as_str(),
        SECRET,
        &[("LISTING_CACHE_TTL_MS", "0".to_owned())],
        false,
    )
    .await;
    let http = reqwest::Client::new();
    let login = |email: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let reply: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            reply["access_token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login("admin@fresh.example").await;
    let me: Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let company = me["company_id"].as_str().unwrap().to_owned();
    let post = |path: &str, body: Value| {
        let (http, url, admin) = (http.clone(), format!("{base}{path}"), admin.clone());
        async move {
            let response = http
                .post(url)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{}",
                response.text().await.unwrap_or_default()
            );
            response.json::<Value>().await.unwrap()
        }
    };
    let mut categories = Vec::new();
    for n in 0..20 {
        let category = post(
            "/api/v1/categories",
            json!({"code": format!("cat{n}"), "name": format!("Category {n}")}),
        )
        .await;
        categories.push(category["id"].as_str().unwrap().to_owned());
    }
    post(
        "/api/v1/employees",
        json!({"email": "shopper@fresh.example", "full_name": "Shopper",
        "company_id": company, "employment_type": "direct", "client_type": "operational",
        "password": PASSWORD}),
    )
    .await;
    let shopper = Arc::new(login("shopper@fresh.example").await);

    // The catalog, through the API, 32 requests at a time.
    println!("creating {products} products through the API …");
    let started = Instant::now();
    let categories = Arc::new(categories);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..32 {
        let (http, base, admin, company, categories, next) = (
            http.clone(),
            base.clone(),
            admin.clone(),
            company.clone(),
            categories.clone(),
            next.clone(),
        );
        creators.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= products {
                    break;
                }
                let body = json!({"sku": format!("SKU-{n:06}"), "name": format!("Product {n}"),
                    "category_id": categories[n % categories.len()], "seller_company_id": company,
                    "kind": "goods", "list_price": format!("{}.{:02}", 5 + n % 200, n % 100),
                    "unit_cost": "3.00", "stock_on_hand": 1000});
                let response = http
                    .post(format!("{base}/api/v1/products"))
                    .bearer_auth(&admin)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
            }
        }));
    }
    for creator in creators {
        creator.await.unwrap();
    }
    let load_seconds = started.elapsed().as_secs_f64();

    // Listings: the first page of the catalog and of each category, and a search.
    let mut urls = vec![format!("{base}/api/v1/products?limit=20")];
    for category in categories.iter() {
        urls.push(format!(
            "{base}/api/v1/products?limit=20&category_id={category}"
        ));
    }
    urls.push(format!("{base}/api/v1/products?limit=20&q=product%2012"));
    let urls = Arc::new(urls);

    println!("measuring at once …");
    let fresh = measure(urls.clone(), shopper.clone(), clients, seconds).await;
    let mut conn = internal_store::db::connect(app_url.as_str()).await.unwrap();
    diesel::sql_query("VACUUM ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("measuring after VACUUM ANALYZE …");
    let steady = measure(urls, shopper, clients, seconds).await;

    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    drop(conn);
    if std::env::var("LOAD_KEEP").is_err() {
        diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin_db)
            .await
            .unwrap();
    }

    println!();
    println!("fresh catalog: {products} products created through the API in {load_seconds:.1} s; {clients} clients, {seconds} s per measurement, listing cache off");
    println!("| when | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) |");
    println!("|---|---|---|---|---|---|");
    for (when, m) in [
        ("right after the load", &fresh),
        ("after VACUUM ANALYZE", &steady),
    ] {
        println!(
            "| {when} | {} | {} | {:.0} | {:.1} | {:.1} |",
            m.requests, m.errors, m.rate, m.p50_ms, m.p99_ms
        );
    }
    println!(
        "steady / fresh throughput: {:.2}× (target ≤ 2×)",
        steady.rate / fresh.rate.max(1e-9)
    );
}
