//! Finance report benchmark: a group with 1 000 000 intercompany ledger entries (200 000
//! shipped and settled orders between four companies in two currencies) and 100 000 employees
//! with a fulfilled order of ten lines each (1 000 000 benefit lines under four countries' rules). Each report is timed through the release server and against the
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

use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, RunQueryDsl};

const SECRET: &str = "finance-bench-secret-finance-bench-0000";
const PASSWORD: &str = "finance-password-1234";
const ROOT: &str = "00000000-0000-0000-0000-000000000001";

async fn sql(conn: &mut AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

/// The hand-written aggregate of the benefits figures for the employees `filter` selects.
fn benefits_aggregate(filter: &str) -> String {
    include_str!("benefits_aggregate.sql")
        .replace("{ROOT}", ROOT)
        .replace("{EMPLOYEES}", filter)
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
    let orders = common::env_number("FINANCE_ORDERS", 200_000);
    let employees = common::env_number("FINANCE_EMPLOYEES", 100_000);
    let runs = common::env_number("FINANCE_RUNS", 5).max(1);
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
    // Four employers, four benefit rules: the report runs each of them.
    for (n, (code, currency, rule)) in [
        ("ABC", "USD", "us_irc_132"),
        ("XYZ", "EUR", "de_estg_8_3"),
        ("DEF", "USD", "uk_bik_cost"),
        ("GHI", "EUR", "es_lirpf_ordinary"),
    ]
    .iter()
    .enumerate()
    {
        sql(&mut conn, &format!(
            "INSERT INTO companies (id, code, name, parent_id, group_id, currency, country, benefit_tax_rule, \
                                    qualified_discount_gp_percent, line_of_business) \
             VALUES ('00000000-0000-0000-0000-00000000001{n}', '{code}', '{code}', '{ROOT}', '{ROOT}', '{currency}', 'US', \
                     '{rule}', 25, '565{n}')")).await;
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
    // One fulfilled employee order each in March, ten lines (each of another ten products) in
    // quantities 1–3 at 10–30 % off: a million lines for 100 000 employees.
    sql(&mut conn, &format!(
        "INSERT INTO orders (group_id, status, employee_id, seller_company_id, currency, list_total, discount_total, total, \
                             allowance_applied, allowance_year, group_currency, fx_rate, created_at, updated_at, fulfilled_at) \
         SELECT '{ROOT}', 'fulfilled', e.id, '00000000-0000-0000-0000-000000000010', 'USD', 0, 0, 0, 0, 2026, 'USD', 1, \
                timestamptz '2026-03-02' + (random() * interval '20 days'), timestamptz '2026-03-25', timestamptz '2026-03-25' \
         FROM employees e WHERE e.email <> 'finance@jkl.example'")).await;
    sql(&mut conn, &format!(
        "INSERT INTO order_lines (group_id, order_id, line_no, product_id, quantity, unit_list_price, discount_percent, \
                                  line_list_total, line_discount, line_total) \
         SELECT '{ROOT}', o.id, l, p.id, q.n, p.list_price, d.pct, p.list_price * q.n, round(p.list_price * q.n * d.pct / 100, 2), \
                p.list_price * q.n - round(p.list_price * q.n * d.pct / 100, 2) \
         FROM orders o CROSS JOIN generate_series(1, 10) l \
         CROSS JOIN LATERAL (SELECT 1 + (hashtext(o.id::text || 'q' || l) & 1023) % 3 AS n) q \
         CROSS JOIN LATERAL (SELECT 10 + 10 * ((hashtext(o.id::text || 'd' || l) & 1023) % 3) AS pct) d \
         JOIN LATERAL (SELECT id, list_price FROM products \
                       WHERE sku = 'P-' || ((l - 1) * 10 + 1 + (hashtext(o.id::text || l) & 1023) % 10) LIMIT 1) p ON true")).await;
    sql(&mut conn,
        "UPDATE orders o SET list_total = t.list, discount_total = t.discount, total = t.total, allowance_applied = t.discount \
         FROM (SELECT order_id, sum(line_list_total) AS list, sum(line_discount) AS discount, sum(line_total) AS total \
               FROM order_lines GROUP BY 1) t WHERE t.order_id = o.id").await;
    // Their benefit facts as fulfilment records them: odd lines sold by the employer itself,
    // even ones by ABC; amounts in the employer's currency (EUR at 0.9); every tenth employee
    // highly compensated, every twentieth priced by a discriminatory tier.
    sql(&mut conn, &format!(
        "INSERT INTO benefit_lines (group_id, order_id, line_no, employee_id, employer_company_id, rule, \
                                    employer_line_of_business, fulfilled_at, seller_company_id, seller_gp_percent, \
                                    seller_line_of_business, product_id, product_kind, offered_to_customers, quantity, \
                                    currency, list_total, paid_total, cost_total, group_currency, to_group_rate, \
                                    highly_compensated, tier_discriminatory) \
         SELECT '{ROOT}', o.id, l.line_no, o.employee_id, ec.id, ec.benefit_tax_rule, ec.line_of_business, o.fulfilled_at, \
                s.id, s.qualified_discount_gp_percent, s.line_of_business, p.id, p.kind, p.offered_to_customers, l.quantity, \
                ec.currency, round(l.line_list_total * r.rate, 2), round(l.line_total * r.rate, 2), \
                round(p.unit_cost * l.quantity * r.rate, 2), 'USD', 1 / r.rate, \
                hashtext(o.employee_id::text) % 10 = 0, hashtext(o.employee_id::text) % 20 = 0 \
         FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN products p ON p.id = l.product_id \
         JOIN employees e ON e.id = o.employee_id JOIN companies ec ON ec.id = e.company_id \
         JOIN companies s ON s.id = CASE WHEN l.line_no % 2 = 1 THEN ec.id ELSE o.seller_company_id END \
         CROSS JOIN LATERAL (SELECT CASE WHEN ec.currency = 'EUR' THEN 0.9 ELSE 1 END AS rate) r")).await;
    ledger::seed(&mut conn, ROOT, orders).await;
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
            "employee benefits (first page, 100 employees)",
            "/api/v1/finance/employee-benefits?year=2026&limit=100",
            benefits_aggregate(&format!(
                "employee_id IN (SELECT DISTINCT employee_id FROM benefit_lines \
                 WHERE group_id = '{ROOT}' ORDER BY 1 LIMIT 100)"
            )),
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
    let mut file = Vec::new();
    let mut peak = before;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_byte.get_or_insert_with(|| start.elapsed());
        file.extend_from_slice(&chunk);
        peak = peak.max(rss_kib(child.id()));
    }
    let total = start.elapsed();
    let file = String::from_utf8(file).unwrap();
    // The same figures by the hand-written aggregate, fetched whole, in the same run.
    let start = Instant::now();
    let aggregated = diesel::sql_query(benefits_aggregate("true"))
        .execute(&mut conn)
        .await
        .unwrap();
    let direct = start.elapsed();
    // And they agree: the file's taxable excess, column by column, is the aggregate's.
    #[derive(diesel::QueryableByName)]
    struct Totals {
        #[diesel(sql_type = diesel::sql_types::Text)]
        taxable: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        allowance: String,
    }
    let expected: Totals = diesel::sql_query(format!(
        "SELECT sum(taxable)::text AS taxable, sum(allowance_used)::text AS allowance FROM ({}) a",
        benefits_aggregate("true")
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    let column = |index: usize| -> rust_decimal::Decimal {
        file.lines()
            .skip(1)
            .filter_map(|record| record.split(',').nth(index))
            .filter(|field| !field.is_empty())
            .map(|field| field.parse::<rust_decimal::Decimal>().unwrap())
            .sum()
    };
    assert_eq!(
        column(10),
        expected.taxable.parse().unwrap(),
        "taxable excess"
    );
    assert_eq!(
        column(11),
        expected.allowance.parse().unwrap(),
        "allowance used"
    );
    println!();
    println!(
        "benefits CSV: {} items for {employees} employees at {} lines ({:.1} MB) — first byte {:.0} ms, \
         complete {:.2} s against {:.2} s for the hand-written aggregate ({aggregated} rows): {:.2}×; \
         server RSS {} MiB before, peak {} MiB (growth {} MiB); totals agree",
        file.lines().count().saturating_sub(1),
        employees * 10,
        file.len() as f64 / 1e6,
        first_byte.unwrap_or_default().as_secs_f64() * 1000.0,
        total.as_secs_f64(),
        direct.as_secs_f64(),
        total.as_secs_f64() / direct.as_secs_f64(),
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
