//! KPI benchmark: the internal-service report over 1 000 000 orders (employee and
//! intercompany, a year of them, with feedback and replies), answered by the release server
//! over HTTP, against the same figures computed by hand-written SQL on a plain connection in
//! the same run. Prints the medians and the ratio, and checks that both agree.
//!
//! Run: `cargo bench --bench kpis` (DATABASE_URL or the local default server).
//! Knobs: KPI_EMPLOYEE_ORDERS (default 850 000), KPI_INTERCOMPANY_ORDERS (default 150 000),
//! KPI_RUNS (default 20), KPI_KEEP (keep the database).
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
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Nullable, Numeric, Text};
use diesel_async::RunQueryDsl;
use internal_store::config::Settings;
use internal_store::identity::token::TokenKeys;
use rust_decimal::Decimal;

const SECRET: &str = "kpi-bench-secret-kpi-bench-secret-00000";
const GROUP: &str = "00000000-0000-0000-0000-000000000001";
const FINANCE: &str = "00000000-0000-0000-0000-00000000f1a0";

async fn sql(conn: &mut diesel_async::AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

/// The report computed by hand: one aggregate per kind of order, each grouped by seller, then
/// joined to the companies. Literal values, so PostgreSQL plans it for this month.
fn hand_written(from: &str, to: &str) -> String {
    format!(
        "WITH e AS (
            SELECT o.seller_company_id AS c, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.fulfilled_at - o.created_at)) AS p,
                   count(*) FILTER (WHERE o.status = 'fulfilled') AS eligible,
                   count(f.id) AS fb, sum(f.rating) AS rs, count(f.replied_at) AS rp
            FROM orders o LEFT JOIN feedback f ON f.order_id = o.id
            WHERE o.group_id = '{GROUP}' AND o.created_at >= '{from}' AND o.created_at < '{to}'
            GROUP BY 1),
         i AS (
            SELECT o.seller_company_id AS c, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.accepted_at - o.created_at)) AS pa,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.shipped_at - o.accepted_at)) AS ps,
                   count(*) FILTER (WHERE o.ship_date IS NOT NULL AND o.promised_date IS NOT NULL) AS promised,
                   count(*) FILTER (WHERE o.ship_date <= o.promised_date) AS on_time,
                   count(*) FILTER (WHERE o.status = 'rejected') AS rejected,
                   count(*) FILTER (WHERE o.status = 'rejected' OR o.accepted_at IS NOT NULL) AS decided,
                   count(*) FILTER (WHERE o.ship_date IS NOT NULL) AS eligible,
                   count(f.id) AS fb, sum(f.rating) AS rs, count(f.replied_at) AS rp
            FROM intercompany_orders o LEFT JOIN feedback f ON f.intercompany_order_id = o.id
            WHERE o.group_id = '{GROUP}' AND o.created_at >= '{from}' AND o.created_at < '{to}'
            GROUP BY 1)
         SELECT c.id::text AS company_id, coalesce(e.n, 0) AS employee_orders,
                round((e.p / 3600)::numeric, 2) AS fulfilment,
                coalesce(i.n, 0) AS intercompany_orders,
                round((i.pa / 3600)::numeric, 2) AS acceptance,
                round((i.ps / 3600)::numeric, 2) AS shipping,
                round(i.on_time::numeric / nullif(i.promised, 0), 4) AS on_time,
                round(i.rejected::numeric / nullif(i.decided, 0), 4) AS rejection,
                coalesce(e.fb, 0) + coalesce(i.fb, 0) AS feedback,
                round((coalesce(e.rs, 0) + coalesce(i.rs, 0))::numeric / nullif(coalesce(e.fb, 0) + coalesce(i.fb, 0), 0), 2) AS rating,
                round((coalesce(e.fb, 0) + coalesce(i.fb, 0))::numeric / nullif(coalesce(e.eligible, 0) + coalesce(i.eligible, 0), 0), 4) AS response,
                round((coalesce(e.rp, 0) + coalesce(i.rp, 0))::numeric / nullif(coalesce(e.fb, 0) + coalesce(i.fb, 0), 0), 4) AS replied
         FROM companies c LEFT JOIN e ON e.c = c.id LEFT JOIN i ON i.c = c.id
         WHERE c.group_id = '{GROUP}' ORDER BY c.code, c.id"
    )
}

#[derive(diesel::QueryableByName, Debug)]
struct HandRow {
    #[diesel(sql_type = Text)]
    company_id: String,
    #[diesel(sql_type = BigInt)]
    employee_orders: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    fulfilment: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    intercompany_orders: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    acceptance: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    shipping: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    on_time: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    rejection: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    feedback: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    rating: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    response: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    replied: Option<Decimal>,
}

impl HandRow {
    /// The row as the API writes it.
    fn json(&self) -> serde_json::Value {
        let text = |v: Option<Decimal>| v.map(|d| d.normalize().to_string());
        serde_json::json!({
            "company_id": self.company_id,
            "employee_orders": self.employee_orders,
            "employee_fulfilment_hours_p50": text(self.fulfilment),
            "intercompany_orders": self.intercompany_orders,
            "acceptance_hours_p50": text(self.acceptance),
            "shipping_hours_p50": text(self.shipping),
            "on_time_rate": text(self.on_time),
            "rejection_rate": text(self.rejection),
            "feedback_count": self.feedback,
            "average_rating": text(self.rating),
            "response_rate": text(self.response),
            "replied_rate": text(self.replied),
        })
    }
}

fn median(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let employee_orders = common::env_number("KPI_EMPLOYEE_ORDERS", 850_000);
    let intercompany_orders = common::env_number("KPI_INTERCOMPANY_ORDERS", 150_000);
    let runs = common::env_number("KPI_RUNS", 20) as usize;
    let located = internal_store::db::locate(std::env::var("DATABASE_URL").ok().as_deref())
        .await
        .unwrap();
    let mut server = url::Url::parse(&located.url).unwrap();
    server.set_path("/postgres");
    let mut admin = internal_store::db::connect(server.as_str()).await.unwrap();
    let name = format!("is_bench_kpis_{}", std::process::id());
    sql(&mut admin, &format!("CREATE DATABASE {name}")).await;
    let mut app_url = server.clone();
    app_url.set_path(&format!("/{name}"));
    internal_store::db::migrate(app_url.as_str()).await.unwrap();
    let mut conn = internal_store::db::connect(app_url.as_str()).await.unwrap();

    // ---- data set: JKL and four selling subsidiaries, 2 000 employees, a year of orders
    let started = Instant::now();
    println!(
        "preparing {employee_orders} employee and {intercompany_orders} intercompany orders …"
    );
    sql(&mut conn, &format!("INSERT INTO companies (id, code, name, group_id, currency, country) VALUES ('{GROUP}', 'JKL', 'JKL Holdings', '{GROUP}', 'USD', 'US')")).await;
    sql(&mut conn, &format!(
        "INSERT INTO companies (code, name, parent_id, group_id, currency, country) \
         SELECT code, code || ' Inc.', '{GROUP}', '{GROUP}', 'USD', 'US' FROM unnest(ARRAY['ABC', 'DEF', 'GHI', 'XYZ']) code"
    ))
    .await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (id, group_id, email, full_name, company_id, employment_type, client_type, roles, password_hash) \
         VALUES ('{FINANCE}', '{GROUP}', 'finance@jkl.example', 'Finance', '{GROUP}', 'direct', 'operational', ARRAY['employee', 'finance'], 'x')"
    ))
    .await;
    sql(&mut conn, &format!(
        "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, roles, password_hash) \
         SELECT '{GROUP}', 'kpi' || n || '@jkl.example', 'Employee ' || n, \
                (SELECT id FROM companies WHERE group_id = '{GROUP}' ORDER BY code OFFSET n % 5 LIMIT 1), \
                'direct', 'operational', ARRAY['employee', 'purchaser'], 'x' \
         FROM generate_series(1, 2000) n"
    ))
    .await;
    // Employee orders, evenly over the last 365 days: 5 % cancelled, 5 % still placed, the rest
    // fulfilled 1–97 hours after placing.
    sql(&mut conn, &format!(
        "WITH e AS (SELECT array_agg(id ORDER BY email) AS ids FROM employees WHERE email LIKE 'kpi%'), \
              s AS (SELECT array_agg(id ORDER BY code) AS ids FROM companies WHERE parent_id IS NOT NULL) \
         INSERT INTO orders (group_id, status, employee_id, seller_company_id, currency, list_total, discount_total, total, \
                             allowance_applied, allowance_year, group_currency, fx_rate, created_at, updated_at, fulfilled_at) \
         SELECT '{GROUP}', st, e.ids[1 + n % 2000], s.ids[1 + n % 4], 'USD', 10, 1, 9, 1, extract(year FROM at)::int, 'USD', 1, at, at, \
                CASE WHEN st = 'fulfilled' THEN at + (1 + n % 97) * interval '1 hour' END \
         FROM e, s, generate_series(1, {employee_orders}) n, \
              LATERAL (SELECT now() - (n::float8 / {employee_orders}) * interval '365 days' AS at, \
                              CASE n % 20 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'placed' ELSE 'fulfilled' END AS st) t"
    ))
    .await;
    // Intercompany orders over the same year, in every state; two in three with a promised date.
    sql(&mut conn, &format!(
        "WITH e AS (SELECT array_agg(id ORDER BY email) AS ids FROM employees WHERE email LIKE 'kpi%'), \
              s AS (SELECT array_agg(id ORDER BY code) AS ids FROM companies WHERE parent_id IS NOT NULL) \
         INSERT INTO intercompany_orders (group_id, status, buyer_company_id, seller_company_id, currency, total, order_date, \
                created_by, promised_date, accepted_at, shipped_at, ship_date, settle_date, settled_at, created_at, updated_at) \
         SELECT '{GROUP}', st, s.ids[1 + n % 4], s.ids[1 + (n + 1) % 4], 'USD', 100, at::date, e.ids[1 + n % 2000], \
                CASE WHEN acc IS NOT NULL AND n % 3 <> 0 THEN (at + interval '3 days')::date END, \
                acc, shp, shp::date, \
                CASE WHEN st = 'settled' THEN shp::date + 10 END, CASE WHEN st = 'settled' THEN shp + interval '10 days' END, \
                at, at \
         FROM e, s, generate_series(1, {intercompany_orders}) n, \
              LATERAL (SELECT now() - (n::float8 / {intercompany_orders}) * interval '365 days' AS at, \
                              (ARRAY['requested', 'rejected', 'cancelled', 'accepted', 'shipped', 'shipped', 'shipped', 'shipped', 'settled', 'settled'])[1 + n % 10] AS st) t, \
              LATERAL (SELECT CASE WHEN st IN ('accepted', 'shipped', 'settled') THEN at + (1 + n % 13) * interval '1 hour' END AS acc) a, \
              LATERAL (SELECT CASE WHEN st IN ('shipped', 'settled') THEN acc + (10 + n % 90) * interval '1 hour' END AS shp) h"
    ))
    .await;
    // Feedback on a third of the fulfilled employee orders and half the delivered intercompany
    // ones; the seller answered half of it.
    sql(&mut conn, &format!(
        "INSERT INTO feedback (group_id, order_id, seller_company_id, author_id, rating, comment, reply, replied_by, replied_at, created_at, updated_at) \
         SELECT group_id, id, seller_company_id, employee_id, 1 + h % 5, 'ok', \
                CASE WHEN h % 2 = 0 THEN 'thanks' END, CASE WHEN h % 2 = 0 THEN '{FINANCE}'::uuid END, \
                CASE WHEN h % 2 = 0 THEN fulfilled_at + interval '2 days' END, fulfilled_at + interval '1 day', fulfilled_at + interval '1 day' \
         FROM (SELECT *, abs(hashtext(id::text)) AS h FROM orders WHERE status = 'fulfilled') o WHERE h % 3 = 0"
    ))
    .await;
    sql(&mut conn, &format!(
        "INSERT INTO feedback (group_id, intercompany_order_id, seller_company_id, author_id, rating, reply, replied_by, replied_at, created_at, updated_at) \
         SELECT group_id, id, seller_company_id, created_by, 1 + h % 5, \
                CASE WHEN h % 4 < 2 THEN 'thanks' END, CASE WHEN h % 4 < 2 THEN '{FINANCE}'::uuid END, \
                CASE WHEN h % 4 < 2 THEN shipped_at + interval '2 days' END, shipped_at + interval '1 day', shipped_at + interval '1 day' \
         FROM (SELECT *, abs(hashtext(id::text)) AS h FROM intercompany_orders WHERE ship_date IS NOT NULL) o WHERE h % 2 = 0"
    ))
    .await;
    sql(&mut conn, "VACUUM ANALYZE").await;
    println!("prepared in {:.0} s", started.elapsed().as_secs_f64());

    // ---- the release server, in its own process
    let common::Server { mut child, base } =
        common::Server::start(app_url.as_str(), SECRET, &[], false).await;
    let client = reqwest::Client::new();
    let settings =
        Settings::from_map(&HashMap::from([("JWT_SECRET", SECRET.to_string())])).unwrap();
    // A fresh employee is at credential version 1 (migration 000007).
    let token = TokenKeys::new(&settings.jwt)
        .issue(FINANCE.parse::<uuid::Uuid>().unwrap().into(), 1)
        .unwrap();

    // A full month in the middle of the year.
    let month = (chrono::Utc::now().date_naive() - chrono::Months::new(6)).format("%Y-%m");
    let period = month.to_string();
    let (first, next) = internal_store::domain::period::month(&period).unwrap();
    let (from, to) = (format!("{first}T00:00:00Z"), format!("{next}T00:00:00Z"));
    let counted: Vec<HandRow> = diesel::sql_query(hand_written(&from, &to))
        .load(&mut conn)
        .await
        .unwrap();
    let in_month: i64 = counted
        .iter()
        .map(|r| r.employee_orders + r.intercompany_orders)
        .sum();

    let url = format!("{base}/api/v1/kpis/internal-service?period={period}");
    let fetch = || async {
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json::<serde_json::Value>().await.unwrap()
    };
    // Warm up both (connections, plans, caches), then alternate so both see the same machine.
    for _ in 0..3 {
        fetch().await;
        let _: Vec<HandRow> = diesel::sql_query(hand_written(&from, &to))
            .load(&mut conn)
            .await
            .unwrap();
    }
    let mut service = Vec::with_capacity(runs);
    let mut by_hand = Vec::with_capacity(runs);
    let mut last = serde_json::Value::Null;
    let mut hand_rows = Vec::new();
    for _ in 0..runs {
        let at = Instant::now();
        last = fetch().await;
        service.push(at.elapsed());
        let at = Instant::now();
        hand_rows = diesel::sql_query(hand_written(&from, &to))
            .load::<HandRow>(&mut conn)
            .await
            .unwrap();
        by_hand.push(at.elapsed());
    }
    let expected: Vec<serde_json::Value> = hand_rows.iter().map(HandRow::json).collect();
    let agree = last["items"] == serde_json::Value::Array(expected);
    let worst_service = service.iter().max().unwrap().as_secs_f64() * 1000.0;
    let (service_ms, hand_ms) = (median(&mut service), median(&mut by_hand));
    let ratio = service_ms / hand_ms;

    let total: i64 = diesel::sql_query(
        "SELECT ((SELECT count(*) FROM orders) + (SELECT count(*) FROM intercompany_orders))::int8 AS n",
    )
    .get_result::<Total>(&mut conn)
    .await
    .unwrap()
    .n;
    println!();
    println!("orders in the database: {total}; in the month {period}: {in_month}");
    println!("| measure | median ms | worst ms |");
    println!("|---|---|---|");
    println!("| GET /api/v1/kpis/internal-service (HTTP, release server) | {service_ms:.1} | {worst_service:.1} |");
    println!("| hand-written SQL (plain connection, literal values) | {hand_ms:.1} | |");
    println!();
    println!(
        "ratio service / SQL: {ratio:.2}× (goal ≤ 1.5×) · under 1 s: {} · figures agree: {}",
        if worst_service < 1000.0 { "yes" } else { "NO" },
        if agree { "yes" } else { "NO" },
    );
    if !agree {
        println!("service: {}", last["items"]);
        println!("by hand: {hand_rows:?}");
    }

    let _ = child.kill();
    let _ = child.wait();
    if std::env::var("KPI_KEEP").is_ok() {
        println!("kept database {name} (KPI_KEEP)");
        return;
    }
    drop(conn);
    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
}

#[derive(diesel::QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
