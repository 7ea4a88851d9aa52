//! Employee orders over HTTP against a real PostgreSQL: races for stock across two instances,
//! allowance races, largest-remainder caps, idempotency, lifecycle and object-level access.

mod faults;
mod lifecycle;
mod payroll;

use std::collections::HashSet;

use internal_store::catalog::dto::{CategoryView, TierView};
use internal_store::orders::dto::{OrderStatus, OrderView};
use rust_decimal::Decimal;
use serde_json::json;

use crate::helpers::{race, Group, TestApp};

fn dec(value: &str) -> Decimal {
    value.parse().unwrap()
}

struct Shop {
    group: Group,
    category: CategoryView,
    tier: TierView,
}

async fn shop(app: &TestApp, percent: &str, allowance: Option<&str>) -> Shop {
    let group = app.bootstrap().await;
    let category = group.category("goods").await;
    let mut tier = group
        .tier("staff", percent)
        .eligible(&["direct", "outsourced"]);
    if let Some(allowance) = allowance {
        tier = tier.allowance(allowance);
    }
    let tier = tier.create().await;
    Shop {
        group,
        category,
        tier,
    }
}

fn assert_lines_add_up(order: &OrderView) {
    let sum = |field: fn(&internal_store::orders::dto::OrderLineView) -> &str| {
        order
            .priced
            .lines
            .iter()
            .map(|l| dec(field(l)))
            .sum::<Decimal>()
    };
    assert_eq!(sum(|l| &l.line_list_total), dec(&order.priced.list_total));
    assert_eq!(sum(|l| &l.line_discount), dec(&order.priced.discount_total));
    assert_eq!(sum(|l| &l.line_total), dec(&order.priced.total));
    assert_eq!(
        dec(&order.priced.list_total) - dec(&order.priced.discount_total),
        dec(&order.priced.total)
    );
    for line in &order.priced.lines {
        assert_eq!(
            dec(&line.line_list_total) - dec(&line.line_discount),
            dec(&line.line_total)
        );
    }
}

#[tokio::test]
async fn forty_employees_on_two_instances_race_for_ten_units() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let second = app.another_instance().await;
    let s = shop(&app, "10", None).await;
    let product = s
        .group
        .product("HOT", &s.category, "25.00")
        .stock(10)
        .create()
        .await;
    let mut racers = Vec::new();
    for n in 0..40 {
        let racer = s
            .group
            .employee(&format!("racer{n}@jkl.example"))
            .tier(&s.tier)
            .create()
            .await;
        racers.push(racer.on(if n % 2 == 0 { &app } else { &second }).alone());
    }
    let replies = race(racers.into_iter().enumerate().map(|(n, racer)| {
        let product = product.id;
        async move { racer.order(&format!("race-{n}"), [(product, 1)]).await }
    }))
    .await;
    let mut placed = 0;
    let mut refused = 0;
    for reply in replies {
        match reply.status.as_u16() {
            201 => placed += 1,
            409 => {
                assert_eq!(reply.body["code"], "insufficient_stock", "{}", reply.body);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((placed, refused), (10, 30));
    assert_eq!(s.group.stock_on_hand(&product).await, 0);
}

#[tokio::test]
async fn racing_orders_never_exceed_the_allowance() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "12")]).await;
    let s = shop(&app, "15", Some("100.00")).await;
    let product = s
        .group
        .product("BIKE", &s.category, "100.00")
        .create()
        .await;
    let (employee, spender) = s
        .group
        .employee("spender@jkl.example")
        .tier(&s.tier)
        .create_viewed()
        .await;
    let orders = race((0..10).map(|n| {
        let (spender, product) = (spender.alone(), product.id);
        async move {
            spender
                .order(&format!("allowance-{n}"), [(product, 1)])
                .await
                .typed::<OrderView>(201)
        }
    }))
    .await;
    let mut applied = Vec::new();
    for order in orders {
        assert_lines_add_up(&order);
        assert_eq!(order.priced.allowance_applied, order.priced.discount_total);
        applied.push(dec(&order.priced.allowance_applied));
    }
    applied.sort();
    let expected: Vec<Decimal> = [
        "0.00", "0.00", "0.00", "10.00", "15.00", "15.00", "15.00", "15.00", "15.00", "15.00",
    ]
    .iter()
    .map(|s| dec(s))
    .collect();
    assert_eq!(applied, expected);
    assert_eq!(applied.iter().sum::<Decimal>(), Decimal::new(10000, 2));
    let allowance = spender.me().await.allowance;
    assert_eq!(
        (
            allowance.cap.as_deref(),
            allowance.used.as_str(),
            allowance.remaining.as_deref()
        ),
        (Some("100.00"), "100.00", Some("0.00"))
    );
    assert_eq!(employee.tier_id, Some(s.tier.id));
}

#[tokio::test]
async fn a_capped_discount_is_spread_by_largest_remainder_and_quoted_the_same() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "20", Some("5.00")).await;
    let mut products = Vec::new();
    for sku in ["A", "B", "C"] {
        products.push(s.group.product(sku, &s.category, "50.00").create().await);
    }
    let capped = s
        .group
        .employee("capped@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    let lines = [(&products[0], 1), (&products[1], 1), (&products[2], 1)];
    // The quote's wire format is compared with the order's, field by field.
    let quote = capped
        .post(
            "/api/v1/orders/quote",
            json!({"lines": crate::helpers::actors::lines(lines)}),
        )
        .await
        .assert_status(200)
        .clone();
    let order = capped.order("capped-1", lines).await;
    let wire = order.assert_status(201).clone();
    let order: OrderView = order.typed(201);
    let discounts: Vec<&str> = order
        .priced
        .lines
        .iter()
        .map(|l| l.line_discount.as_str())
        .collect();
    assert_eq!(discounts, vec!["1.67", "1.67", "1.66"]);
    assert_eq!(
        (
            order.priced.discount_total.as_str(),
            order.priced.total.as_str(),
            order.priced.allowance_applied.as_str()
        ),
        ("5.00", "145.00", "5.00")
    );
    assert_eq!(order.priced.allowance_currency, "USD");
    assert_eq!(order.priced.fx_rate, "1");
    assert_eq!(order.status, OrderStatus::Placed);
    assert!(order.number.starts_with("EO-"));
    for field in [
        "lines",
        "list_total",
        "discount_total",
        "total",
        "allowance_applied",
        "currency",
    ] {
        assert_eq!(
            quote[field], wire[field],
            "quote and order differ in {field}"
        );
    }
    assert!(
        quote.get("id").is_none() && quote.get("status").is_none() && quote.get("number").is_none()
    );
    assert_lines_add_up(&order);
}

#[tokio::test]
async fn one_key_one_order_even_when_racing() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let product = s.group.product("ONCE", &s.category, "10.00").create().await;
    let twice = s
        .group
        .employee("twice@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    let replies = race((0..10).map(|_| {
        let (twice, product) = (twice.alone(), product.id);
        async move { twice.order("same-key", [(product, 2)]).await }
    }))
    .await;
    let mut ids = HashSet::new();
    let mut fresh = 0;
    let mut first = serde_json::Value::Null;
    for reply in replies {
        match reply.status.as_u16() {
            201 => {
                ids.insert(reply.typed::<OrderView>(201).id);
                if reply.headers.get("idempotency-replay").is_none() {
                    fresh += 1;
                    first = reply.body;
                }
            }
            409 => assert_eq!(reply.body["code"], "request_in_progress", "{}", reply.body),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((fresh, ids.len()), (1, 1));
    // After it finished: a replay with the same key and body, flagged.
    let replay = twice.order("same-key", [(&product, 2)]).await;
    let id = replay.typed::<OrderView>(201).id;
    assert_eq!(Some(&id), ids.iter().next());
    assert_eq!(
        replay
            .headers
            .get("idempotency-replay")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    // The replay, a later read and the audit event all carry exactly the first response.
    assert_eq!(replay.body, first);
    assert!(first["number"].as_str().unwrap().starts_with("EO-"));
    assert_eq!(
        twice
            .get(&format!("/api/v1/orders/{id}"))
            .await
            .assert_status(200),
        &first
    );
    let events = s
        .group
        .admin
        .get(&format!(
            "/api/v1/audit-events?entity_type=order&entity_id={id}"
        ))
        .await;
    assert_eq!(events.assert_status(200)["items"][0]["after"], first);
    // Same key, another body.
    twice
        .order("same-key", [(&product, 3)])
        .await
        .assert_problem(422, "idempotency_key_reused");
    let list = s
        .group
        .admin
        .get(&format!("/api/v1/orders?employee_id={}", twice.id))
        .await;
    assert_eq!(list.items::<OrderView>().len(), 1);
    assert_eq!(s.group.stock_on_hand(&product).await, 98);
    // No key at all.
    let missing = twice
        .post(
            "/api/v1/orders",
            json!({"lines": [{"product_id": product.id, "quantity": 1}]}),
        )
        .await;
    missing.assert_problem(400, "validation_failed");
    assert_eq!(missing.field(), "Idempotency-Key");
}

#[tokio::test]
async fn crossing_product_sets_never_deadlock() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let s = shop(&app, "5", None).await;
    let a = s
        .group
        .product("X-A", &s.category, "3.00")
        .stock(1000)
        .create()
        .await;
    let b = s
        .group
        .product("X-B", &s.category, "4.00")
        .stock(1000)
        .create()
        .await;
    let mut shoppers = Vec::new();
    for n in 0..12 {
        shoppers.push(
            s.group
                .employee(&format!("x{n}@jkl.example"))
                .tier(&s.tier)
                .create()
                .await,
        );
    }
    let mut jobs = Vec::new();
    for round in 0..3 {
        for (n, shopper) in shoppers.iter().enumerate() {
            let lines = if n % 2 == 0 {
                [(a.id, 1), (b.id, 1)]
            } else {
                [(b.id, 1), (a.id, 1)]
            };
            let shopper = shopper.alone();
            jobs.push(async move {
                let key = format!("cross-{round}-{n}");
                shopper.order(&key, lines).await.status.as_u16()
            });
        }
    }
    for status in race(jobs).await {
        assert_eq!(status, 201);
    }
    for product in [&a, &b] {
        assert_eq!(s.group.stock_on_hand(product).await, 1000 - 36);
    }
}
