//! Finance report benchmark: a group with 1 000 000 intercompany ledger entries (200 000
//! shipped and settled orders between four companies in two currencies) and 100 000 employees
//! with a fulfilled order each. Each report is timed through the release server and against the
//! hand-written SQL aggregate it amounts to, in the same run; the payroll CSV export is timed to
//! its first byte and to its end, with the server's resident memory before and after. Then
//! March is closed (timed: it computes and stores every report of the month) and each stored
//! report is timed as served afterwards.
//!
//! Run: `cargo bench --bench finance` (DATABASE_URL or the local default server). Knobs:
//! FINANCE_ORDERS (intercompany orders, default 200 000; five entries each: receivable,
//! payable, two settlements, the FX difference), FINANCE_EMPLOYEES (default 100 000), FINANCE_RUNS (timed runs per report, default
//! 5; the median is reported), FINANCE_KEEP (keep the database).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};

const SECRET: &str = "finance-bench-secret-finance-bench-0000";
const PASSWORD: &str = "finance-password-1234";
const ROOT: &str = "00000000-0000-0000-0000-000000000001";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn sql(conn: &mut AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let orders = env_number("FINANCE_ORDERS", 200_000);
    let employees = env_number("FINANCE_EMPLOYEES", 100_000);
    let runs = env_number("FINANCE_RUNS", 5).max(1);
    let located = internal_store::db::locate(std::env::var("DATABASE_URL").ok().as_deref())
        .await
        .unwrap();
    let mut server = url::Url::parse(&located.url).unwrap();
    server.set_path("/postgres");
    let mut admin = internal_store::db::connect(server.as_str()).await.unwrap();
    let db = format!("is_bench_finance_{}", std::process::id());
    sql(&mut admin, &format!("CREATE DATABASE {db}")).await;
    let mut url = server.clone();
    url.set_path(&format!("/{db}"));
    internal_store::db::migrate(url.as_str()).await.unwrap();
    let mut conn = internal_store::db::connect(url.as_str()).await.unwrap();

    // ---- data set (the period is March 2026; everything is booked in it)
    println!("preparing {orders} intercompany orders and {employees} employees …");
    let started = Instant::now();
    let hash = internal_store::identity::password::PasswordHasher::new(1)
        .hash(&internal_store::identity::password::Secret::new(PASSWORD))
        .await
        .unwrap();
    sql(&mut conn, &format!(
        "INSERT INTO companies (id, code, name, group_id, currency, country, benefit_tax_rule, qualified_discount_gp_percent) \
         VALUES ('{ROOT}', 'JKL', 'JKL', '{ROOT}', 'USD', 'US', 'us_irc_132', 30)")).await;
    for (n, (code, currency)) in [
        ("ABC", "USD"),
        ("XYZ", "EUR"),
        ("DEF", "USD"),
        ("GHI", "EUR"),
    ]
    .iter()
    .enumerate()
    {
        sql(&mut conn, &format!(
            "INSERT INTO companies (id, code, name, parent_id, group_id, currency, country, benefit_tax_rule, qualified_discount_gp_percent) \
             VALUES ('00000000-0000-0000-0000-00000000001{n}', '{code}', '{code}', '{ROOT}', '{ROOT}', '{currency}', 'US', 'us_irc_132', 25)")).await;
    }
    sql(&mut conn, &format!("INSERT INTO categories (id, group_id, code, name) VALUES ('00000000-0000-0000-0000-000000000100', '{ROOT}', 'things', 'Things')")).await;
    sql(&mut conn, &format!(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand) \
         SELECT '{ROOT}', 'P-' || n, 'Product ' || n, '00000000-0000-0000-0000-000000000100', \
                ('00000000-0000-0000-0000-00000000001' || (n % 4))::uuid, CASE WHEN n % 5 = 0 THEN 'service' ELSE 'goods' END, \
                100 + n, 60 + n, 1000000 \
         FROM generate_series(1, 100) n")).await;
    sql(&mut conn, &format!(
        "INSERT INTO transfer_pricing_policies (group_id, seller_company_id, method, percent, valid_from) \
         SELECT '{ROOT}', id, 'cost_plus', 10, '2026-01-01' FROM companies WHERE parent_id IS NOT NULL")).await;
    sql(&mut conn, &format!(
        "INSERT INTO fx_rates (group_id, base, quote, rate, date) \
         SELECT '{ROOT}', 'USD', 'EUR', 0.90 + (d % 7) / 100.0, date '2026-03-01' + d FROM generate_series(0, 30) d")).await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, roles, password_hash) \
         VALUES ('{ROOT}', 'finance@jkl.example', 'Finance', '{ROOT}', 'direct', 'operational', ARRAY['employee', 'finance'], '{hash}')")).await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, roles, password_hash) \
         SELECT '{ROOT}', 'e' || n || '@jkl.example', 'Employee ' || n, \
                ('00000000-0000-0000-0000-00000000001' || (n % 4))::uuid, 'direct', \
                (ARRAY['operational', 'commercial', 'executive'])[1 + n % 3], ARRAY['employee'], 'x' \
         FROM generate_series(1, {employees}) n")).await;
    // One fulfilled employee order each in March, two lines (one of the first fifty products,
    // one of the other fifty) in quantities 1–3 at 30 % off: a realistic variety, as the
    // grouped benefits report folds alike lines in SQL and identical lines would flatter it.
    sql(&mut conn, &format!(
        "INSERT INTO orders (group_id, status, employee_id, seller_company_id, currency, list_total, discount_total, total, \
                             allowance_applied, allowance_year, group_currency, fx_rate, created_at, updated_at, fulfilled_at) \
         SELECT '{ROOT}', 'fulfilled', e.id, '00000000-0000-0000-0000-000000000010', 'USD', 0, 0, 0, 0, 2026, 'USD', 1, \
                timestamptz '2026-03-02' + (random() * interval '20 days'), timestamptz '2026-03-25', timestamptz '2026-03-25' \
         FROM employees e WHERE e.email <> 'finance@jkl.example'")).await;
    sql(&mut conn, &format!(
        "INSERT INTO order_lines (group_id, order_id, line_no, product_id, quantity, unit_list_price, discount_percent, \
                                  line_list_total, line_discount, line_total) \
         SELECT '{ROOT}', o.id, l, p.id, q.n, p.list_price, 30, p.list_price * q.n, round(p.list_price * q.n * 0.3, 2), \
                p.list_price * q.n - round(p.list_price * q.n * 0.3, 2) \
         FROM orders o CROSS JOIN generate_series(1, 2) l \
         CROSS JOIN LATERAL (SELECT 1 + (hashtext(o.id::text || 'q' || l) & 1023) % 3 AS n) q \
         JOIN LATERAL (SELECT id, list_price FROM products \
                       WHERE sku = 'P-' || ((l - 1) * 50 + 1 + (hashtext(o.id::text || l) & 1023) % 50) LIMIT 1) p ON true")).await;
    sql(&mut conn,
        "UPDATE orders o SET list_total = t.list, discount_total = t.discount, total = t.total, allowance_applied = t.discount \
         FROM (SELECT order_id, sum(line_list_total) AS list, sum(line_discount) AS discount, sum(line_total) AS total \
               FROM order_lines GROUP BY 1) t WHERE t.order_id = o.id").await;
    // Intercompany orders between the four companies (seller i, buyer i+1), shipped and settled
    // in March, with their entries: receivable, payable, two settlements, the FX difference.
    sql(&mut conn, "ALTER TABLE ledger_entries DISABLE TRIGGER USER").await;
    sql(&mut conn, &format!(
        "INSERT INTO intercompany_orders (id, group_id, status, buyer_company_id, seller_company_id, currency, total, \
                                          order_date, created_by, ship_date, shipped_at, settle_date, settled_at) \
         SELECT md5('ic' || n)::uuid, '{ROOT}', 'settled', \
                ('00000000-0000-0000-0000-00000000001' || ((n + 1) % 4))::uuid, \
                ('00000000-0000-0000-0000-00000000001' || (n % 4))::uuid, \
                CASE WHEN n % 4 IN (1, 3) THEN 'EUR' ELSE 'USD' END, 100 + n % 900, date '2026-03-01', \
                (SELECT id FROM employees WHERE email = 'finance@jkl.example'), \
                date '2026-03-02' + n % 10, now(), date '2026-03-15' + n % 10, now() \
         FROM generate_series(1, {orders}) n")).await;
    sql(&mut conn, &format!(
        "INSERT INTO ledger_entries (group_id, posting_id, order_id, company_id, counterparty_company_id, side, kind, \
                                     amount, currency, document_amount, document_currency, rate, date) \
         SELECT '{ROOT}', o.id, o.id, \
                CASE WHEN k.side = 'seller' THEN o.seller_company_id ELSE o.buyer_company_id END, \
                CASE WHEN k.side = 'seller' THEN o.buyer_company_id ELSE o.seller_company_id END, \
                k.side, k.kind, \
                CASE WHEN k.kind = 'fx_difference' THEN 0.50 ELSE k.sign * o.total END, \
                CASE WHEN k.side = 'seller' THEN o.currency ELSE b.currency END, \
                CASE WHEN k.kind = 'fx_difference' THEN 0 ELSE k.sign * o.total END, o.currency, 1, \
                CASE WHEN k.kind IN ('receivable', 'payable') THEN o.ship_date ELSE o.settle_date END \
         FROM intercompany_orders o JOIN companies b ON b.id = o.buyer_company_id \
         CROSS JOIN (VALUES ('seller', 'receivable', 1), ('buyer', 'payable', 1), ('seller', 'settlement', -1), \
                            ('buyer', 'settlement', -1), ('buyer', 'fx_difference', 0)) AS k(side, kind, sign)")).await;
    sql(&mut conn, "ALTER TABLE ledger_entries ENABLE TRIGGER USER").await;
    sql(&mut conn, "VACUUM ANALYZE").await;
    println!("prepared in {:.0?}", started.elapsed());

    // ---- the release server
    let common::Server { mut child, base } =
        common::Server::start(url.as_str(), SECRET, &[], false).await;
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "finance@jkl.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();

    // ---- each report against its hand-written aggregate
    let reports: [(&str, &str, String); 4] = [
        (
            "reconciliation",
            "/api/v1/finance/reconciliation?period=2026-03",
            format!("SELECT CASE WHEN side = 'seller' THEN company_id ELSE counterparty_company_id END, \
                            CASE WHEN side = 'seller' THEN counterparty_company_id ELSE company_id END, document_currency, \
                            sum(document_amount) FILTER (WHERE side = 'seller'), sum(document_amount) FILTER (WHERE side = 'buyer'), \
                            sum(amount) FILTER (WHERE side = 'buyer') \
                     FROM ledger_entries WHERE group_id = '{ROOT}' AND date < '2026-04-01' GROUP BY 1, 2, 3"),
        ),
        (
            "eliminations",
            "/api/v1/finance/eliminations?period=2026-03",
            format!("SELECT company_id, counterparty_company_id, document_currency, date, sum(document_amount) \
                     FROM ledger_entries WHERE group_id = '{ROOT}' AND side = 'seller' \
                       AND (kind IN ('receivable', 'true_up') OR (kind = 'adjustment' AND document_amount < 0)) \
                       AND date >= '2026-03-01' AND date < '2026-04-01' GROUP BY 1, 2, 3, 4; \
                     SELECT CASE WHEN side = 'seller' THEN company_id ELSE counterparty_company_id END, \
                            CASE WHEN side = 'seller' THEN counterparty_company_id ELSE company_id END, document_currency, \
                            sum(document_amount) FILTER (WHERE side = 'seller') \
                     FROM ledger_entries WHERE group_id = '{ROOT}' AND date < '2026-04-01' GROUP BY 1, 2, 3; \
                     SELECT seller_company_id, buyer_company_id, amount FROM intercompany_inventory \
                     WHERE group_id = '{ROOT}' AND period IN ('2026-02-01', '2026-03-01')"),
        ),
        (
            "internal sales",
            "/api/v1/finance/internal-sales?period=2026-03",
            format!("SELECT seller_company_id, sum(round(total * fx_rate, 2)) FROM orders \
                     WHERE group_id = '{ROOT}' AND status = 'fulfilled' AND fulfilled_at >= '2026-03-01' AND fulfilled_at < '2026-04-01' GROUP BY 1; \
                     SELECT company_id, counterparty_company_id, document_currency, date, sum(document_amount) \
                     FROM ledger_entries WHERE group_id = '{ROOT}' AND side = 'seller' \
                       AND (kind IN ('receivable', 'true_up') OR (kind = 'adjustment' AND document_amount < 0)) \
                       AND date >= '2026-03-01' AND date < '2026-04-01' GROUP BY 1, 2, 3, 4"),
        ),
        (
            "employee benefits (grouped by company)",
            "/api/v1/finance/employee-benefits?year=2026&group_by=company",
            format!("SELECT e.company_id, count(DISTINCT o.id), sum(l.line_list_total), sum(l.line_discount), \
                            sum(least(l.line_discount, round(l.line_list_total * CASE WHEN p.kind = 'service' THEN 20 \
                                ELSE coalesce(s.qualified_discount_gp_percent, 0) END / 100, 2))) \
                     FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN products p ON p.id = l.product_id \
                     JOIN employees e ON e.id = o.employee_id JOIN companies s ON s.id = o.seller_company_id \
                     WHERE o.group_id = '{ROOT}' AND o.status = 'fulfilled' \
                       AND o.fulfilled_at >= '2026-01-01' AND o.fulfilled_at < '2027-01-01' GROUP BY 1"),
        ),
    ];
    println!();
    println!("finance reports: {orders} intercompany orders ({} ledger entries), {employees} employees; median of {runs} runs", orders * 5);
    println!();
    println!("| report | service (ms) | hand-written SQL (ms) | ratio |");
    println!("|---|---|---|---|");
    for (name, path, equivalent) in &reports {
        let mut served = Vec::new();
        let mut direct = Vec::new();
        for _ in 0..runs {
            let start = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let _ = response.bytes().await.unwrap();
            served.push(start.elapsed());
            let start = Instant::now();
            for statement in equivalent.split("; ") {
                diesel::sql_query(statement)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            direct.push(start.elapsed());
        }
        let (served, direct) = (median(served), median(direct));
        println!(
            "| {name} | {:.1} | {:.1} | {:.2}× |",
            served.as_secs_f64() * 1000.0,
            direct.as_secs_f64() * 1000.0,
            served.as_secs_f64() / direct.as_secs_f64()
        );
    }

    // ---- the payroll export: first byte, whole file, the server's memory
    let before = rss_kib(child.id());
    let start = Instant::now();
    let mut response = client
        .get(format!("{base}/api/v1/finance/employee-benefits?year=2026"))
        .bearer_auth(&token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    let mut first_byte = None;
    let mut bytes = 0usize;
    let mut lines = 0usize;
    let mut peak = before;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_byte.get_or_insert_with(|| start.elapsed());
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
        peak = peak.max(rss_kib(child.id()));
    }
    let total = start.elapsed();
    println!();
    println!(
        "benefits CSV: {} employees ({:.1} MB) — first byte {:.0} ms, complete {:.1} s; server RSS {} MiB before, peak {} MiB (growth {} MiB)",
        lines.saturating_sub(1),
        bytes as f64 / 1e6,
        first_byte.unwrap_or_default().as_secs_f64() * 1000.0,
        total.as_secs_f64(),
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before) / 1024
    );

    // ---- closing March stores its reports; afterwards each is served as stored
    let start = Instant::now();
    let closed = client
        .post(format!("{base}/api/v1/finance/periods/2026-03/close"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "close: {}", closed.status());
    let closing = start.elapsed();
    println!();
    println!(
        "closing 2026-03 (computing and storing its five reports): {:.0} ms",
        closing.as_secs_f64() * 1000.0
    );
    println!();
    println!("| closed month's report | served (ms, median of {runs}) |");
    println!("|---|---|");
    for (name, path) in [
        (
            "reconciliation",
            "/api/v1/finance/reconciliation?period=2026-03",
        ),
        (
            "eliminations",
            "/api/v1/finance/eliminations?period=2026-03",
        ),
        (
            "internal sales",
            "/api/v1/finance/internal-sales?period=2026-03",
        ),
        (
            "transfer-pricing exceptions",
            "/api/v1/transfer-pricing/exceptions?period=2026-03",
        ),
        (
            "internal-service KPIs",
            "/api/v1/kpis/internal-service?period=2026-03",
        ),
    ] {
        let mut served = Vec::new();
        for _ in 0..runs.max(5) {
            let start = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            let _ = response.bytes().await.unwrap();
            served.push(start.elapsed());
        }
        println!("| {name} | {:.2} |", median(served).as_secs_f64() * 1000.0);
    }

    let _ = child.kill();
    let _ = child.wait();
    drop(conn);
    if std::env::var("FINANCE_KEEP").is_err() {
        sql(
            &mut admin,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        )
        .await;
    }
}
