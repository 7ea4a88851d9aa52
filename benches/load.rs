//! Load benchmark: prepares a realistic data set (10 000 products, 1 000 employees), starts the
//! release server as its own process, drives it over loopback with concurrent clients and prints
//! throughput and latency per scenario — each as a ratio to what `pgbench` measures on the same
//! PostgreSQL in the same run, so results compare across machines. Browsing compares with
//! select-only, order placement with tpcb-like at scale 10, and the flash sale (every client
//! buys one unit of one product) with tpcb-like at scale 1, where every transaction updates the
//! one branch row as every flash-sale order takes the one stock row. The flash sale ends with
//! the last units: 32 clients race for the final 100 units, which must go to exactly 100 buyers.
//!
//! Run: `cargo bench --bench load` (DATABASE_URL or the local default server; needs `pgbench`).
//! Knobs: LOAD_CLIENTS (default 32), LOAD_SECONDS per scenario (default 10), LOAD_SCENARIOS
//! (comma-separated name prefixes, e.g. `catalog,order`; default all), LOAD_POOL (the server's
//! DB_POOL_MAX_SIZE; default 16, the service's default), LOAD_KEEP (keep the databases for
//! inspection).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
// A bench drives the service from outside: it reads the real time and makes ids freely.
#![allow(
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use internal_store::config::Settings;
use internal_store::identity::token::TokenKeys;
use serde_json::json;

const PRODUCTS: usize = 10_000;
const EMPLOYEES: usize = 1_000;
/// The units of the last-units race, each to be sold to one buyer.
const LAST_UNITS: i64 = 100;
const SECRET: &str = "load-bench-secret-load-bench-secret-0000";

struct Outcome {
    name: String,
    latencies: Vec<Duration>,
    errors: usize,
    seconds: f64,
    /// CPU seconds PostgreSQL and the service used during the whole scenario.
    cpu: (f64, f64),
}

impl Outcome {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

/// CPU seconds (user + system) used so far by every process named `postgres` and by the
/// process `server` (Linux `/proc`; zero elsewhere): where a scenario's time went.
fn cpu_seconds(server: u32) -> (f64, f64) {
    let ticks: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let (mut postgres, mut service) = (0.0, 0.0);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0.0, 0.0);
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised command name: state is field 3, utime 14, stime 15.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = fields
            .get(11)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0);
        if pid == server {
            service += used / ticks;
        } else if head.ends_with("(postgres") {
            postgres += used / ticks;
        }
    }
    (postgres, service)
}

/// The ids a query returns, in its order.
async fn ids(conn: &mut diesel_async::AsyncPgConnection, query: &str) -> Vec<uuid::Uuid> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: uuid::Uuid,
    }
    diesel::sql_query(query)
        .load::<Id>(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {query}"))
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn sql(conn: &mut diesel_async::AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

/// pgbench's connection options for the server of `url`.
fn pgbench_connection(url: &url::Url) -> Vec<String> {
    let user = if url.username().is_empty() {
        "postgres"
    } else {
        url.username()
    };
    vec![
        "-h".into(),
        url.host_str().unwrap_or("127.0.0.1").into(),
        "-p".into(),
        url.port().unwrap_or(5432).to_string(),
        "-U".into(),
        user.into(),
    ]
}

/// Creates pgbench's tables at `scale` in the database of `url` (dropping any there).
fn pgbench_init(url: &url::Url, scale: &str) {
    let status = Command::new("pgbench")
        .args(pgbench_connection(url))
        .args(["-i", "-q", "-s", scale])
        .arg(url.path().trim_start_matches('/'))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pgbench must be installed (PostgreSQL's client tools)");
    assert!(status.success(), "pgbench -i -s {scale} failed");
}

/// Runs `pgbench` and returns its tps (excluding connection time).
fn pgbench(url: &url::Url, args: &[&str]) -> f64 {
    let output = Command::new("pgbench")
        .args(pgbench_connection(url))
        .args(args)
        .arg(url.path().trim_start_matches('/'))
        .output()
        .expect("pgbench must be installed (PostgreSQL's client tools)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.split_whitespace().nth(2))
        .and_then(|tps| tps.parse().ok())
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let clients = common::env_number("LOAD_CLIENTS", 32) as usize;
    let seconds = common::env_number("LOAD_SECONDS", 10);
    let located = internal_store::db::locate(std::env::var("DATABASE_URL").ok().as_deref())
        .await
        .unwrap();
    let mut server = url::Url::parse(&located.url).unwrap();
    server.set_path("/postgres");
    let mut admin = internal_store::db::connect(server.as_str()).await.unwrap();
    let pid = std::process::id();
    let app_db = format!("is_bench_load_{pid}");
    let pg_db = format!("is_bench_pgbench_{pid}");
    for name in [&app_db, &pg_db] {
        sql(&mut admin, &format!("CREATE DATABASE {name}")).await;
    }
    let mut app_url = server.clone();
    app_url.set_path(&format!("/{app_db}"));
    let mut pg_url = server.clone();
    pg_url.set_path(&format!("/{pg_db}"));

    // ---- data set
    println!("preparing {PRODUCTS} products and {EMPLOYEES} employees …");
    internal_store::db::migrate(app_url.as_str()).await.unwrap();
    let hash = internal_store::identity::password::PasswordHasher::new(1)
        .hash(&internal_store::identity::password::Secret::new(
            "load-password-1234",
        ))
        .await
        .unwrap();
    let mut conn = internal_store::db::connect(app_url.as_str()).await.unwrap();
    sql(&mut conn, "INSERT INTO companies (id, code, name, group_id, currency, country) VALUES ('00000000-0000-0000-0000-000000000001', 'JKL', 'JKL Holdings', '00000000-0000-0000-0000-000000000001', 'USD', 'US')").await;
    sql(&mut conn, "INSERT INTO companies (id, code, name, parent_id, group_id, currency, country) VALUES ('00000000-0000-0000-0000-000000000002', 'ABC', 'ABC Manufacturing', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 'USD', 'US')").await;
    sql(&mut conn, "INSERT INTO categories (group_id, code, name) SELECT '00000000-0000-0000-0000-000000000001', 'cat' || n, 'Category ' || n FROM generate_series(1, 20) n").await;
    sql(&mut conn, "INSERT INTO discount_tiers (group_id, code, name, discount_percent, annual_allowance) SELECT '00000000-0000-0000-0000-000000000001', * FROM (VALUES ('operational', 'Operational', 15, 1000000), ('commercial', 'Commercial', 20, 1000000), ('executive', 'Executive', 25, NULL)) t").await;
    sql(&mut conn, "INSERT INTO tier_category_discounts (group_id, tier_id, category_id, discount_percent) SELECT t.group_id, t.id, c.id, 10 FROM discount_tiers t, categories c WHERE t.code = 'commercial' AND c.code IN ('cat1', 'cat2')").await;
    sql(&mut conn, &format!(
        "INSERT INTO products (group_id, sku, name, description, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand) \
         SELECT '00000000-0000-0000-0000-000000000001', 'SKU-' || lpad(n::text, 6, '0'), 'Product ' || md5(n::text), 'A realistic description of product ' || n, \
                (SELECT id FROM categories ORDER BY code OFFSET (n % 20) LIMIT 1), \
                CASE WHEN n % 2 = 0 THEN '00000000-0000-0000-0000-000000000001'::uuid ELSE '00000000-0000-0000-0000-000000000002'::uuid END, \
                'goods', (500 + n % 20000) / 100.0, (300 + n % 10000) / 100.0, 1000000 \
         FROM generate_series(1, {PRODUCTS}) n"
    ))
    .await;
    // The flash sale's product, and the one whose last units are raced for at the end.
    sql(&mut conn, &format!("INSERT INTO products (group_id, sku, name, description, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand) \
         SELECT '00000000-0000-0000-0000-000000000001', s.sku, s.name, 'Sold to everyone at once', (SELECT id FROM categories WHERE code = 'cat5'), \
                '00000000-0000-0000-0000-000000000002', 'goods', 49.90, 20.00, s.stock \
         FROM (VALUES ('FLASH-1', 'Flash sale item', 1000000), ('LAST-1', 'Last units item', {LAST_UNITS})) s(sku, name, stock)")).await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, tier_id, roles, password_hash) \
         SELECT '00000000-0000-0000-0000-000000000001', 'load' || n || '@jkl.example', 'Load ' || n, '00000000-0000-0000-0000-000000000002', \
                CASE WHEN n % 5 = 0 THEN 'outsourced' ELSE 'direct' END, (ARRAY['operational','commercial','executive'])[1 + n % 3], \
                (SELECT id FROM discount_tiers ORDER BY code OFFSET (n % 3) LIMIT 1), ARRAY['employee'], '{hash}' \
         FROM generate_series(1, {EMPLOYEES}) n"
    ))
    .await;
    // History: 20 fulfilled orders of two lines per employee — 18 from last year and two from
    // the last two days, whose idempotency keys are still kept — with the ledgers that go with
    // them (the invariant checks below hold over history and the run alike). A store in use
    // has history; empty tables would also leave the plans PostgreSQL caches per connection
    // on sequential scans of tables that then grow during the run.
    println!("preparing {} orders of history …", EMPLOYEES * 20);
    sql(&mut conn, "INSERT INTO orders (group_id, status, employee_id, seller_company_id, currency, list_total, discount_total, total, allowance_applied, allowance_year, group_currency, fx_rate, created_at, updated_at, fulfilled_at) \
         SELECT e.group_id, 'fulfilled', e.id, '00000000-0000-0000-0000-000000000002', 'USD', 0, 0, 0, 0, extract(year FROM t.at)::int, 'USD', 1, t.at, t.at, t.at \
         FROM employees e, generate_series(1, 20) n, \
              LATERAL (SELECT CASE WHEN n <= 18 THEN now() - interval '1 year' + n * interval '1 day' ELSE now() - n * interval '1 hour' END AS at) t").await;
    sql(&mut conn, "INSERT INTO order_lines (group_id, order_id, line_no, product_id, quantity, unit_list_price, discount_percent, line_list_total, line_discount, line_total) \
         WITH o AS (SELECT id, group_id, row_number() OVER (ORDER BY id) AS rn FROM orders), \
              p AS (SELECT id, list_price, row_number() OVER (ORDER BY sku) AS rn FROM products) \
         SELECT o.group_id, o.id, l, p.id, 1, p.list_price, 10, p.list_price, round(p.list_price * 0.1, 2), p.list_price - round(p.list_price * 0.1, 2) \
         FROM o CROSS JOIN generate_series(1, 2) l JOIN p ON p.rn = 2 * ((o.rn * 7 + l * 1667) % 5000) + 1").await;
    sql(&mut conn, "UPDATE orders o SET list_total = s.lt, discount_total = s.d, total = s.t, allowance_applied = s.d \
         FROM (SELECT order_id, sum(line_list_total) lt, sum(line_discount) d, sum(line_total) t FROM order_lines GROUP BY 1) s WHERE s.order_id = o.id").await;
    sql(&mut conn, "INSERT INTO allowance_usage (employee_id, year, used) SELECT employee_id, allowance_year, sum(allowance_applied) FROM orders GROUP BY 1, 2").await;
    sql(&mut conn, "INSERT INTO idempotency_keys (employee_id, key, scope, request_hash, response_status, response_body, created_at) \
         SELECT employee_id, 'history-' || id, 'POST /orders', md5(id::text), 201, to_jsonb(orders), created_at \
         FROM orders WHERE created_at > now() - interval '2 days'").await;
    sql(&mut conn, "UPDATE products p SET stock_on_hand = 1000000 - s.q FROM (SELECT product_id, sum(quantity) q FROM order_lines GROUP BY 1) s WHERE s.product_id = p.id").await;
    sql(&mut conn, "VACUUM ANALYZE").await;
    let products = ids(
        &mut conn,
        "SELECT id FROM products WHERE sku LIKE 'SKU-%' ORDER BY sku",
    )
    .await;
    let flash = ids(&mut conn, "SELECT id FROM products WHERE sku = 'FLASH-1'").await[0];
    let last = ids(&mut conn, "SELECT id FROM products WHERE sku = 'LAST-1'").await[0];
    let employees = ids(&mut conn, "SELECT id FROM employees ORDER BY email").await;
    let settings =
        Settings::from_map(&HashMap::from([("JWT_SECRET", SECRET.to_string())])).unwrap();
    let keys = TokenKeys::new(&settings.jwt);
    let tokens: Arc<Vec<String>> = Arc::new(
        employees
            .iter()
            // Freshly inserted employees are at credential version 1 (the column default).
            .map(|id| keys.issue((*id).into(), 1).unwrap())
            .collect(),
    );
    let products = Arc::new(products);

    // ---- the release server, in its own process
    // The service's default pool size unless LOAD_POOL says otherwise: on a small machine more
    // connections than cores mostly add contention. Ready means the listing cache's listener is
    // subscribed, as on a server that has run a while (unless LISTING_CACHE_TTL_MS=0).
    let pool = std::env::var("LOAD_POOL").unwrap_or_else(|_| "16".to_owned());
    let common::Server { mut child, base } = common::Server::start(
        app_url.as_str(),
        SECRET,
        &[("DB_POOL_MAX_SIZE", pool)],
        true,
    )
    .await;
    let probe = reqwest::Client::new();

    // Browsing: the first five pages of the whole catalog and of each category, by cursor.
    let categories = ids(&mut conn, "SELECT id FROM categories ORDER BY code").await;
    let mut browse = Vec::new();
    for filter in
        std::iter::once(String::new()).chain(categories.iter().map(|c| format!("&category_id={c}")))
    {
        let mut cursor = String::new();
        for _ in 0..5 {
            let url = format!("{base}/api/v1/products?limit=20{filter}{cursor}");
            let page: serde_json::Value = probe
                .get(&url)
                .bearer_auth(&tokens[0])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            browse.push(url);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
    }
    let browse = Arc::new(browse);

    // ---- scenarios
    #[derive(Clone, Copy)]
    enum Scenario {
        CatalogPage,
        CatalogBrowse,
        SingleProduct,
        PlaceOrder,
        /// Every client buys one unit of the same product.
        FlashSale,
        /// Every fourth client places orders, the others browse: the listing cache under writes.
        Mixed,
    }
    let mut outcomes = Vec::new();
    for (name, scenario) in [
        (
            "catalog page (20 items, personalised)",
            Scenario::CatalogPage,
        ),
        (
            "catalog browse (21 listings × 5 pages)",
            Scenario::CatalogBrowse,
        ),
        ("single product", Scenario::SingleProduct),
        ("order placement (1–3 lines)", Scenario::PlaceOrder),
        ("flash sale (one product, 1 unit)", Scenario::FlashSale),
        ("mixed", Scenario::Mixed),
    ] {
        let only = std::env::var("LOAD_SCENARIOS").unwrap_or_default();
        if !only.is_empty() && !only.split(',').any(|s| name.starts_with(s.trim())) {
            continue;
        }
        let cpu_before = cpu_seconds(child.id());
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client_index in 0..clients {
            let tokens = tokens.clone();
            let products = products.clone();
            let base = base.clone();
            let browse = browse.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut n: usize = client_index * 7919;
                let ordering = match scenario {
                    Scenario::PlaceOrder | Scenario::FlashSale => true,
                    Scenario::Mixed => client_index % 4 == 0,
                    _ => false,
                };
                while Instant::now() < deadline {
                    n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 1;
                    // Distinct employees per client: client k uses employees k, k + clients, …
                    let employee = (client_index + clients * (latencies.len() + errors)) % tokens.len();
                    let token = &tokens[employee];
                    let request = if ordering {
                        let lines: Vec<_> = if matches!(scenario, Scenario::FlashSale) {
                            vec![json!({"product_id": flash, "quantity": 1})]
                        } else {
                            let count = 1 + n % 3;
                            (0..count)
                                .map(|i| json!({"product_id": products[(2 * (n / 6) + i * 3332) % products.len()], "quantity": 1 + (n + i) % 3}))
                                .collect()
                        };
                        client
                            .post(format!("{base}/api/v1/orders"))
                            .header("Idempotency-Key", format!("load-{}-{client_index}-{}", name.split(' ').next().unwrap_or(name), latencies.len() + errors))
                            .json(&json!({"lines": lines}))
                    } else {
                        match scenario {
                            Scenario::CatalogPage => client.get(format!("{base}/api/v1/products?limit=20")),
                            Scenario::SingleProduct => client.get(format!("{base}/api/v1/products/{}", products[n % products.len()])),
                            Scenario::CatalogBrowse | Scenario::Mixed | Scenario::PlaceOrder | Scenario::FlashSale => client.get(&browse[n % browse.len()]),
                        }
                    };
                    let begun = Instant::now();
                    match request.bearer_auth(token).send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(begun.elapsed());
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
                (latencies, errors, ordering)
            }));
        }
        // Browsing and ordering requests are reported apart (only the mixed run has both).
        let mut parts = [(Vec::new(), 0, 0), (Vec::new(), 0, 0)];
        for task in tasks {
            let (l, e, ordering) = task.await.unwrap();
            let part = &mut parts[usize::from(ordering)];
            part.0.extend(l);
            part.1 += e;
            part.2 += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu_after = cpu_seconds(child.id());
        let cpu = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        for (index, (mut latencies, errors, part_clients)) in parts.into_iter().enumerate() {
            if part_clients == 0 {
                continue;
            }
            latencies.sort();
            let name = match (scenario, index) {
                (Scenario::Mixed, 0) => format!("mixed: catalog browse ({part_clients} clients)"),
                (Scenario::Mixed, _) => format!("mixed: order placement ({part_clients} clients)"),
                _ => name.to_owned(),
            };
            outcomes.push(Outcome {
                name,
                latencies,
                errors,
                seconds,
                cpu,
            });
        }
    }
    // The last units: every client buys one unit at a time until the product is sold out.
    let only = std::env::var("LOAD_SCENARIOS").unwrap_or_default();
    let race_last = only.is_empty()
        || only
            .split(',')
            .any(|s| "flash".starts_with(s.trim()) || s.trim().starts_with("flash"));
    let last_sold = if race_last {
        let mut tasks = Vec::new();
        for client_index in 0..clients {
            let (tokens, base) = (tokens.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let (mut sold, mut errors) = (0_i64, 0_usize);
                for attempt in 0.. {
                    let response = client
                        .post(format!("{base}/api/v1/orders"))
                        .header("Idempotency-Key", format!("last-{client_index}-{attempt}"))
                        .bearer_auth(&tokens[(client_index + clients * attempt) % tokens.len()])
                        .json(&json!({"lines": [{"product_id": last, "quantity": 1}]}))
                        .send()
                        .await;
                    let (status, body) = match response {
                        Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
                        Err(_) => (reqwest::StatusCode::SERVICE_UNAVAILABLE, String::new()),
                    };
                    match status {
                        reqwest::StatusCode::CREATED => sold += 1,
                        reqwest::StatusCode::CONFLICT if body.contains("insufficient_stock") => {
                            break
                        }
                        _ => {
                            eprintln!("last units: {status} {body}");
                            errors += 1;
                            if errors > 5 {
                                break;
                            }
                        }
                    }
                }
                (sold, errors)
            }));
        }
        let mut total = (0_i64, 0_usize);
        for task in tasks {
            let (sold, errors) = task.await.unwrap();
            total = (total.0 + sold, total.1 + errors);
        }
        Some(total)
    } else {
        None
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    // ---- invariants after the order run
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        bad: i64,
    }
    let stock: Check = diesel::sql_query(format!(
        "SELECT count(*) AS bad FROM products p LEFT JOIN (SELECT product_id, sum(quantity) q FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status <> 'cancelled' GROUP BY product_id) s ON s.product_id = p.id \
         WHERE p.stock_on_hand + coalesce(s.q, 0) <> CASE p.sku WHEN 'LAST-1' THEN {LAST_UNITS} ELSE 1000000 END OR p.stock_on_hand < 0",
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    let allowance: Check = diesel::sql_query(
        "SELECT count(*) AS bad FROM allowance_usage a LEFT JOIN (SELECT employee_id, allowance_year, sum(allowance_applied) s FROM orders WHERE status <> 'cancelled' GROUP BY 1, 2) o \
         ON o.employee_id = a.employee_id AND o.allowance_year = a.year WHERE a.used <> coalesce(o.s, 0)",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    let totals: Check = diesel::sql_query(
        "SELECT count(*) AS bad FROM orders o JOIN (SELECT order_id, sum(line_total) t, sum(line_discount) d FROM order_lines GROUP BY 1) l ON l.order_id = o.id WHERE l.t <> o.total OR l.d <> o.discount_total",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    let last_left: Check =
        diesel::sql_query("SELECT stock_on_hand::int8 AS bad FROM products WHERE sku = 'LAST-1'")
            .get_result(&mut conn)
            .await
            .unwrap();
    drop(conn);

    // ---- the database ceiling on this machine, right now
    println!("measuring pgbench ceilings …");
    pgbench_init(&pg_url, "10");
    let (clients_arg, duration) = (clients.to_string(), seconds.to_string());
    // Prepared statements, the run's client count, two pgbench threads, the run's length.
    let common = [
        "-M",
        "prepared",
        "-c",
        &clients_arg,
        "-j",
        "2",
        "-T",
        &duration,
    ];
    let select_only = pgbench(&pg_url, &[&["-S"][..], &common[..]].concat());
    let tpcb = pgbench(&pg_url, &common);
    // One branch row that every transaction updates: the flash sale's ceiling.
    let hot_row = if outcomes.iter().any(|o| o.name.starts_with("flash")) {
        pgbench_init(&pg_url, "1");
        pgbench(&pg_url, &common)
    } else {
        f64::NAN
    };

    println!();
    println!("load: {clients} concurrent clients, {seconds} s per scenario, {PRODUCTS} products, {EMPLOYEES} employees");
    println!(
        "pgbench select-only (prepared): {select_only:.0} tps; tpcb-like (prepared): {tpcb:.0} tps; tpcb-like at scale 1 (one hot branch row): {hot_row:.0} tps"
    );
    println!();
    println!("| scenario | requests | errors | throughput (req/s) | p50 (ms) | p99 (ms) | ratio to pgbench |");
    println!("|---|---|---|---|---|---|---|");
    for outcome in &outcomes {
        let (ceiling, label) = if outcome.name.starts_with("flash") {
            (hot_row, "tpcb-like scale 1")
        } else if outcome.name.contains("order") {
            (tpcb, "tpcb-like")
        } else {
            (select_only, "select-only")
        };
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.2}× {label} |",
            outcome.name,
            outcome.latencies.len(),
            outcome.errors,
            outcome.throughput(),
            outcome.percentile(0.5),
            outcome.percentile(0.99),
            outcome.throughput() / ceiling,
        );
    }
    println!();
    // Mixed runs report two parts of one scenario: its CPU is shown once, per request of both.
    let mut shown = Vec::new();
    for outcome in &outcomes {
        let scenario = outcome.name.split(':').next().unwrap_or(&outcome.name);
        if shown.contains(&scenario) {
            continue;
        }
        shown.push(scenario);
        let requests: usize = outcomes
            .iter()
            .filter(|o| o.name.split(':').next() == Some(scenario))
            .map(|o| o.latencies.len() + o.errors)
            .sum();
        let per = |seconds: f64| seconds * 1000.0 / requests.max(1) as f64;
        println!(
            "CPU per request, {scenario}: PostgreSQL {:.3} ms, service {:.3} ms",
            per(outcome.cpu.0),
            per(outcome.cpu.1)
        );
    }
    println!();
    println!(
        "invariants after the run: stock {} · allowance ledger {} · order totals {}",
        if stock.bad == 0 { "ok" } else { "VIOLATED" },
        if allowance.bad == 0 { "ok" } else { "VIOLATED" },
        if totals.bad == 0 { "ok" } else { "VIOLATED" },
    );
    if let Some((sold, errors)) = last_sold {
        println!(
            "last units: {LAST_UNITS} units, {sold} sold to {sold} buyers, {} left, {errors} errors: {}",
            last_left.bad,
            if sold == LAST_UNITS && last_left.bad == 0 && errors == 0 { "ok" } else { "VIOLATED" },
        );
    }

    if std::env::var("LOAD_KEEP").is_ok() {
        println!("kept databases {app_db} and {pg_db} (LOAD_KEEP)");
        return;
    }
    for name in [&app_db, &pg_db] {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}
