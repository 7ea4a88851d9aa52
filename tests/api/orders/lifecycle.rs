//! Cancelling and fulfilling, cancels racing new orders, refused orders, finance's lists.

use std::collections::HashSet;

use internal_store::catalog::dto::ProductView;
use internal_store::orders::dto::{OrderStatus, OrderView};
use serde_json::json;
use uuid::Uuid;

use super::{assert_lines_add_up, shop};
use crate::helpers::{job, race, Actor, Job, Reply, TestApp};

#[tokio::test]
async fn cancelling_gives_back_stock_allowance_and_limits_and_only_once() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", Some("50.00")).await;
    let product = s
        .group
        .product("LIMITED", &s.category, "40.00")
        .stock(5)
        .limit(2, "month")
        .create()
        .await;
    let alice = s
        .group
        .employee("alice@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    let bob = s
        .group
        .employee("bob@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    let remaining = |seen: &ProductView| seen.purchase_limit.as_ref().map(|l| l.remaining);
    assert_eq!(remaining(&alice.product(&product).await), Some(2));

    let order = alice
        .order("a-1", [(&product, 2)])
        .await
        .typed::<OrderView>(201);
    assert_eq!(order.priced.discount_total, "8.00");
    let id = order.id;
    let seen = alice.product(&product).await;
    assert_eq!((remaining(&seen), seen.stock_available), (Some(0), 3));
    alice
        .order("a-2", [(&product, 1)])
        .await
        .assert_problem(409, "purchase_limit_exceeded");
    assert_eq!(alice.me().await.allowance.used, "8.00");

    // Bob can neither read nor cancel Alice's order.
    bob.get(&format!("/api/v1/orders/{id}"))
        .await
        .assert_problem(404, "not_found");
    bob.order_action(id, "cancel")
        .await
        .assert_problem(404, "not_found");
    assert!(bob
        .get("/api/v1/orders")
        .await
        .items::<OrderView>()
        .is_empty());
    bob.get(&format!("/api/v1/orders?employee_id={}", order.employee_id))
        .await
        .assert_problem(403, "forbidden");

    let cancelled = alice.order_action(id, "cancel").await;
    assert_eq!(
        cancelled.typed::<OrderView>(200).status,
        OrderStatus::Cancelled
    );
    alice
        .order_action(id, "cancel")
        .await
        .assert_problem(409, "invalid_state");
    let seen = alice.product(&product).await;
    assert_eq!((remaining(&seen), seen.stock_available), (Some(2), 5));
    let allowance = alice.me().await.allowance;
    assert_eq!(
        (allowance.used.as_str(), allowance.remaining.as_deref()),
        ("0.00", Some("50.00"))
    );

    // Fulfilment: admin only, placed orders only.
    let second = alice
        .order("a-3", [(&product, 1)])
        .await
        .typed::<OrderView>(201);
    alice
        .order_action(&second, "fulfil")
        .await
        .assert_problem(403, "forbidden");
    let fulfilled = s.group.admin.order_action(&second, "fulfil").await;
    assert_eq!(
        fulfilled.typed::<OrderView>(200).status,
        OrderStatus::Fulfilled
    );
    alice
        .order_action(&second, "cancel")
        .await
        .assert_problem(409, "invalid_state");
    s.group
        .admin
        .order_action(id, "fulfil")
        .await
        .assert_problem(409, "invalid_state");

    let events = s
        .group
        .admin
        .get(&format!(
            "/api/v1/audit-events?entity_type=order&entity_id={id}"
        ))
        .await;
    let actions: Vec<String> = events.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, vec!["order.cancelled", "order.placed"]);
}

#[tokio::test]
async fn cancels_racing_with_new_orders_on_the_same_products_never_deadlock() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let s = shop(&app, "5", Some("1000")).await;
    let a = s
        .group
        .product("C-A", &s.category, "3.00")
        .stock(1000)
        .limit(100, "month")
        .create()
        .await;
    let b = s
        .group
        .product("C-B", &s.category, "4.00")
        .stock(1000)
        .create()
        .await;
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let shopper = s
            .group
            .employee(&format!("c{n}@jkl.example"))
            .tier(&s.tier)
            .create()
            .await;
        let mut placed = Vec::new();
        for k in 0..2 {
            let order = shopper
                .order(&format!("first-{n}-{k}"), [(&a, 1), (&b, 1)])
                .await;
            placed.push(order.typed::<OrderView>(201).id);
        }
        shoppers.push((shopper, placed));
    }
    // At once, for every shopper: they cancel their first order, an admin cancels their second,
    // and they place two more with the products listed the other way round.
    let mut jobs: Vec<Job<Reply>> = Vec::new();
    for (n, (shopper, placed)) in shoppers.iter().enumerate() {
        let (shopper, admin, first, second) =
            (shopper.alone(), s.group.admin.alone(), placed[0], placed[1]);
        let cancel = shopper.clone();
        jobs.push(job(
            async move { cancel.order_action(first, "cancel").await },
        ));
        jobs.push(job(
            async move { admin.order_action(second, "cancel").await },
        ));
        for k in 0..2 {
            let (shopper, lines) = (shopper.clone(), [(b.id, 1), (a.id, 1)]);
            jobs.push(job(async move {
                shopper.order(&format!("again-{n}-{k}"), lines).await
            }));
        }
    }
    for reply in race(jobs).await {
        assert!(
            reply.status.as_u16() == 200 || reply.status.as_u16() == 201,
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    // Each shopper: four placed, two cancelled → two orders of one A and one B each.
    for product in [&a, &b] {
        assert_eq!(s.group.stock_on_hand(product).await, 1000 - 12);
    }
    for (shopper, _) in &shoppers {
        assert_eq!(shopper.me().await.allowance.used, "0.70");
        let listed = shopper.product(&a).await;
        assert_eq!(listed.purchase_limit.map(|l| l.remaining), Some(98));
    }
}

#[tokio::test]
async fn bad_orders_are_refused_with_the_field_named_and_change_nothing() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let g = &s.group;
    let product = g
        .product("OK", &s.category, "10.00")
        .stock(3)
        .create()
        .await;
    let hidden = g
        .product("OFF", &s.category, "10.00")
        .with(json!({"active": false}))
        .create()
        .await;
    let abc = g.company("ABC").create().await;
    let other_seller = g
        .product("ABC-1", &s.category, "10.00")
        .seller(&abc)
        .create()
        .await;
    let xyz = g.company("XYZ").currency("EUR").create().await;
    let euro = g
        .product("XYZ-1", &s.category, "10.00")
        .seller(&xyz)
        .create()
        .await;
    let careful = g
        .employee("careful@jkl.example")
        .tier(&s.tier)
        .create()
        .await;

    careful
        .order("k1", Vec::<(Uuid, i64)>::new())
        .await
        .assert_problem(422, "validation_failed");
    let too_many = careful.order("k2", [(&product, 1001)]).await;
    too_many.assert_problem(422, "validation_failed");
    assert_eq!(too_many.field(), "lines[0].quantity");
    let mixed = careful
        .order("k3", [(&product, 1), (&other_seller, 1)])
        .await;
    mixed.assert_problem(422, "validation_failed");
    assert_eq!(mixed.field(), "lines[1].product_id");
    careful
        .order("k4", [(&hidden, 1)])
        .await
        .assert_problem(422, "not_eligible");
    careful
        .order("k5", [(&euro, 1)])
        .await
        .assert_problem(422, "fx_rate_missing");
    careful
        .order("k6", [(&product, 4)])
        .await
        .assert_problem(409, "insufficient_stock");
    let priced = careful
        .post_keyed(
            "/api/v1/orders",
            "k7",
            json!({"lines": [{"product_id": product.id, "quantity": 1, "unit_price": "0.01"}]}),
        )
        .await;
    priced.assert_problem(422, "validation_failed");
    assert_eq!(priced.field(), "lines[0].unit_price");

    // Nothing happened: stock intact, no orders, no allowance used.
    assert_eq!(g.stock_on_hand(&product).await, 3);
    assert!(careful
        .get("/api/v1/orders")
        .await
        .items::<OrderView>()
        .is_empty());
    // A refused request did not consume its key: the same key works once the cause is fixed.
    g.admin
        .post(
            &format!("/api/v1/products/{}/stock", product.id),
            json!({"delta": 1, "reason": "restock"}),
        )
        .await
        .assert_status(200);
    careful
        .order("k6", [(&product, 4)])
        .await
        .assert_status(201);

    // A deactivated employee's token places nothing, at once; a forged token neither.
    g.admin
        .patch(
            &format!("/api/v1/employees/{}", careful.id),
            json!({"active": false}),
        )
        .await
        .assert_status(200);
    careful
        .order("k8", [(&product, 1)])
        .await
        .assert_problem(401, "unauthorized");
    let forged = crate::helpers::Actor {
        token: "not-a-token".into(),
        ..careful.clone()
    };
    forged
        .order("k9", [(&product, 1)])
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(g.stock_on_hand(&product).await, 0);
}

#[tokio::test]
async fn finance_lists_all_orders_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let g = &s.group;
    let product = g.product("P", &s.category, "10.00").create().await;
    let alice = g.employee("alice@jkl.example").tier(&s.tier).create().await;
    let bob = g.employee("bob@jkl.example").tier(&s.tier).create().await;
    let finance = g
        .employee("fin@jkl.example")
        .roles(&["employee", "finance"])
        .create()
        .await;
    for n in 0..3 {
        alice
            .order(&format!("a{n}"), [(&product, 1)])
            .await
            .assert_status(201);
    }
    let bobs = bob.place_order([(&product, 1)]).await;
    bob.order_action(&bobs, "cancel").await.assert_status(200);

    let mut seen = Vec::new();
    let mut path = "/api/v1/orders?limit=3".to_owned();
    loop {
        let page = finance.get(&path).await;
        for order in page.items::<OrderView>() {
            assert_lines_add_up(&order);
            seen.push(order.id);
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/orders?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);
    let count = |path: String| {
        let finance = finance.clone();
        async move { finance.get(&path).await.items::<OrderView>().len() }
    };
    assert_eq!(
        count(format!("/api/v1/orders?employee_id={}", alice.id)).await,
        3
    );
    assert_eq!(count("/api/v1/orders?status=cancelled".into()).await, 1);
    assert_eq!(
        count(format!("/api/v1/orders?company_id={}", g.root_id)).await,
        4
    );
    let period = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(count(format!("/api/v1/orders?period={period}")).await, 4);
    assert_eq!(count("/api/v1/orders?period=2001-01".into()).await, 0);
    finance
        .get("/api/v1/orders?period=2026-13")
        .await
        .assert_problem(400, "validation_failed");
    finance
        .get("/api/v1/orders?status=lost")
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(
        alice.get("/api/v1/orders").await.items::<OrderView>().len(),
        3
    );
    let one = finance.get(&format!("/api/v1/orders/{}", bobs.id)).await;
    assert_eq!(one.typed::<OrderView>(200).status, OrderStatus::Cancelled);
}

/// On 15 June 2026, a shop with a product `sku` (10.00, 100 in stock, no purchase limit yet)
/// and Alice, who may buy it.
async fn unlimited_product(sku: &str) -> (TestApp, super::Shop, ProductView, Actor) {
    let app = TestApp::spawn().await;
    app.clock
        .set_today(chrono::NaiveDate::from_ymd_opt(2026, 6, 15).unwrap());
    let s = shop(&app, "10", None).await;
    let product = s
        .group
        .product(sku, &s.category, "10.00")
        .stock(100)
        .create()
        .await;
    let alice = s
        .group
        .employee("alice@jkl.example")
        .tier(&s.tier)
        .create()
        .await;
    (app, s, product, alice)
}

#[tokio::test]
async fn a_limit_set_later_counts_what_was_bought_before_it() {
    let (app, s, product, alice) = unlimited_product("LATER").await;
    let remaining = |seen: &ProductView| seen.purchase_limit.as_ref().map(|l| l.remaining);
    // Two units bought while the product had no limit, one more in an order cancelled since.
    let first = alice
        .order("before-1", [(&product, 2)])
        .await
        .typed::<OrderView>(201);
    let dropped = alice
        .order("before-2", [(&product, 1)])
        .await
        .typed::<OrderView>(201);
    alice
        .order_action(&dropped, "cancel")
        .await
        .assert_status(200);

    // A limit of three a month: the two count, one is left.
    let path = format!("/api/v1/products/{}", product.id);
    s.group
        .admin
        .patch(
            &path,
            json!({"purchase_limit": {"max_quantity": 3, "period": "month"}}),
        )
        .await
        .assert_status(200);
    assert_eq!(remaining(&alice.product(&product).await), Some(1));
    alice
        .order("after-1", [(&product, 2)])
        .await
        .assert_problem(409, "purchase_limit_exceeded");
    alice
        .order("after-2", [(&product, 1)])
        .await
        .assert_status(201);
    assert_eq!(remaining(&alice.product(&product).await), Some(0));

    // The order from before the limit now gives its units back to the period when cancelled.
    alice
        .order_action(&first, "cancel")
        .await
        .assert_status(200);
    assert_eq!(remaining(&alice.product(&product).await), Some(2));

    // A year's limit counts the month's orders too (one standing unit), and so does going back.
    for (period, left) in [("year", 4), ("month", 2)] {
        s.group
            .admin
            .patch(
                &path,
                json!({"purchase_limit": {"max_quantity": if period == "year" { 5 } else { 3 },
                                          "period": period}}),
            )
            .await
            .assert_status(200);
        assert_eq!(
            remaining(&alice.product(&product).await),
            Some(left),
            "{period}"
        );
    }
    // The ledger agrees with the orders: June's row holds the one standing unit.
    let mut conn = app.db.connect().await;
    let rows: Vec<(i32,)> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(format!(
            "SELECT quantity FROM purchase_limit_usage WHERE product_id = '{}' \
             AND period_start = '2026-06-01'",
            product.id
        )),
        &mut conn,
    )
    .await
    .map(|rows: Vec<Quantity>| rows.into_iter().map(|r| (r.quantity,)).collect())
    .unwrap();
    assert_eq!(rows, vec![(1,)]);
}

/// Cancellations racing the PATCH that sets a limit give their units back where the recount
/// put them: afterwards the period's usage is exactly what the standing orders hold.
#[tokio::test]
async fn cancellations_racing_a_new_limit_leave_the_ledger_exact() {
    let (_app, s, product, alice) = unlimited_product("RACED").await;
    let mut placed = Vec::new();
    for n in 0..8 {
        let order = alice.order(&format!("o-{n}"), [(&product, 1)]).await;
        placed.push(order.typed::<OrderView>(201).id);
    }
    let mut jobs: Vec<Job<Reply>> = Vec::new();
    for id in placed.iter().take(5).copied() {
        let alice = alice.alone();
        jobs.push(job(async move { alice.order_action(id, "cancel").await }));
    }
    let admin = s.group.admin.alone();
    let path = format!("/api/v1/products/{}", product.id);
    jobs.push(job(async move {
        admin
            .patch(
                &path,
                json!({"purchase_limit": {"max_quantity": 10, "period": "month"}}),
            )
            .await
    }));
    for reply in race(jobs).await {
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
    }
    // Three orders stand: three counted, seven left.
    let seen = alice.product(&product).await;
    assert_eq!(seen.purchase_limit.map(|l| l.remaining), Some(7));
}

#[derive(diesel::QueryableByName)]
struct Quantity {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    quantity: i32,
}
