//! Orders when things go wrong: a lock held by another session, the process killed mid-flight.

use std::collections::HashSet;

use internal_store::orders::dto::OrderView;

use super::shop;
use crate::helpers::{Race, TestApp, JWT_SECRET};

#[tokio::test]
async fn a_request_blocked_by_a_stuck_transaction_gives_up_with_503() {
    use diesel_async::SimpleAsyncConnection as _;
    let app = TestApp::spawn_with(&[("DB_STATEMENT_TIMEOUT_MS", "300")]).await;
    let s = shop(&app, "10", None).await;
    let product = s
        .group
        .product("STUCK", &s.category, "10.00")
        .create()
        .await;
    let stuck = s
        .group
        .employee("stuck@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    stuck
        .order("first", [(&product, 1)])
        .await
        .assert_status(201);

    // Another session holds the employee's allowance row and does not let go.
    let mut blocker = app.db.connect().await;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM allowance_usage WHERE employee_id = '{}' AND year = {year} FOR UPDATE;",
            stuck.id
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let reply = stuck.order("second", [(&product, 1)]).await;
    reply.assert_problem(503, "unavailable");
    assert!(reply.headers.get("retry-after").is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    blocker.batch_execute("ROLLBACK").await.unwrap();

    // Nothing of the refused attempt remains, and the same key works now.
    stuck
        .order("second", [(&product, 1)])
        .await
        .assert_status(201);
    assert_eq!(s.group.stock_on_hand(&product).await, 98);
}

/// The API process killed (SIGKILL) while orders are in flight: no order is left half written
/// (each has its lines and totals), the stock, allowance and purchase-limit ledgers still
/// equal what the orders re-derive, and retrying every key on another instance yields exactly
/// one order per key.
#[tokio::test]
async fn sigkill_with_orders_in_flight_leaves_whole_orders_and_matching_ledgers() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("KILL").await;
    let tier = group
        .tier("KT", "10")
        .allowance("100000.00")
        .eligible(&["direct"])
        .create()
        .await;
    let product = group
        .product("KILL-1", &category, "10.00")
        .stock(100000)
        .limit(100000, "year")
        .create()
        .await;
    let mut shoppers = Vec::new();
    for n in 0..4 {
        shoppers.push(
            group
                .employee(&format!("k{n}@jkl.example"))
                .tier(&tier)
                .create()
                .await,
        );
    }
    // A second instance, as its own process, on the same database.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("serve")
        .env("DATABASE_URL", &app.db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", JWT_SECRET)
        .env("RUST_LOG", "error")
        // What it logs while it is killed is expected: not printed over a green run.
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let victim = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{victim}/health/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lines = serde_json::json!({"lines": [{"product_id": product.id, "quantity": 3}]});
    let mut in_flight = Vec::new();
    for (n, shopper) in shoppers.iter().enumerate() {
        for k in 0..10 {
            let (victim, token, body) = (victim.clone(), shopper.token.clone(), lines.clone());
            in_flight.push(async move {
                reqwest::Client::new()
                    .post(format!("{victim}/api/v1/orders"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("kill-{n}-{k}"))
                    .json(&body)
                    .send()
                    .await
                    .map(|response| response.status().as_u16())
            });
        }
    }
    let in_flight = Race::start(in_flight);
    // Kill as soon as the first orders are committed, with the rest still in flight.
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut watch = app.db.connect().await;
    for _ in 0..500 {
        let placed: Count = diesel::sql_query("SELECT count(*) AS n FROM orders")
            .get_result(&mut watch)
            .await
            .unwrap();
        if placed.n >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    // Answered or cut off: both are fine.
    let answered = in_flight
        .finish()
        .await
        .into_iter()
        .filter(|status| matches!(status, Ok(201)))
        .count();
    eprintln!("{answered} of 40 orders were answered before the kill");
    // Retry every key on the surviving instance: one order per key, whatever happened before.
    let mut ids = HashSet::new();
    for (n, shopper) in shoppers.iter().enumerate() {
        for k in 0..10 {
            let reply = shopper
                .order(&format!("kill-{n}-{k}"), [(&product, 3)])
                .await;
            ids.insert(reply.typed::<OrderView>(201).id);
        }
    }
    assert_eq!(ids.len(), 40);
    let mut conn = app.db.connect().await;
    let orders: Count = diesel::sql_query("SELECT count(*) AS n FROM orders")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(orders.n, 40, "one order per key");
    for (what, sql) in [
        ("orders without lines or with totals that differ from their lines",
         "SELECT count(*) AS n FROM orders o LEFT JOIN (SELECT order_id, sum(line_total) t, sum(line_discount) d, count(*) c FROM order_lines GROUP BY 1) l ON l.order_id = o.id WHERE l.c IS NULL OR l.t <> o.total OR l.d <> o.discount_total"),
        ("stock that differs from the orders",
         "SELECT count(*) AS n FROM products p WHERE p.stock_on_hand + coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.product_id = p.id AND o.status <> 'cancelled'), 0) <> 100000"),
        ("allowance usage that differs from the orders",
         "SELECT count(*) AS n FROM employees e WHERE coalesce((SELECT sum(used) FROM allowance_usage a WHERE a.employee_id = e.id), 0) <> coalesce((SELECT sum(allowance_applied) FROM orders o WHERE o.employee_id = e.id AND o.status <> 'cancelled'), 0)"),
        ("purchase-limit usage that differs from the orders",
         "SELECT count(*) AS n FROM employees e WHERE coalesce((SELECT sum(quantity) FROM purchase_limit_usage u WHERE u.employee_id = e.id), 0) <> coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.employee_id = e.id AND o.status <> 'cancelled'), 0)"),
    ] {
        let bad: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        assert_eq!(bad.n, 0, "{what}");
    }
}
