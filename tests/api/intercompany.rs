//! Intercompany trade as its users meet it: finance records rates and policies, a purchaser
//! of XYZ orders from ABC, ABC's purchaser accepts and ships, finance settles — with the
//! amounts each company books, who may do what, and the races that must not break anything.

use diesel_async::{AsyncConnection, RunQueryDsl};
use internal_store::catalog::dto::ProductView;
use internal_store::domain::intercompany::Status;
use internal_store::intercompany::dto::IcOrderView;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::trade::{act, create, day, trade};
use crate::helpers::{job, race, HasId, Job, Reply, TestApp};

#[tokio::test]
async fn policies_pick_the_most_specific_one_valid_on_the_order_date() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let other_category = t.group.category("other").await;
    let part = t.product("PART", "80.00", "120.00", 10).await;
    let gadget = t
        .group
        .product("GADGET", &other_category, "120.00")
        .seller(t.abc)
        .with(json!({"unit_cost": "80.00"}))
        .create()
        .await;
    let quote = |lines: Value| {
        let body = json!({"buyer_company_id": t.xyz, "seller_company_id": t.abc, "lines": lines});
        let token = t.xyz_purchaser.clone();
        let app = &app;
        async move {
            app.post("/api/v1/intercompany-orders/quote", &token, body)
                .await
        }
    };
    let one = |product: &ProductView| json!([{"product_id": product.id, "quantity": 1}]);

    // No policy yet.
    quote(one(&part))
        .await
        .assert_problem(422, "no_transfer_pricing_policy");

    let seller_wide = t
        .policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    let by_category = t
        .policy(json!({"category_id": t.category.id, "method": "resale_minus", "percent": "20", "valid_from": "2026-01-01"}))
        .await;
    // A buyer-specific policy that only starts tomorrow does not apply today.
    t.policy(json!({"buyer_company_id": t.xyz, "method": "comparable_price", "percent": "-5", "valid_from": "2026-03-03"}))
        .await;
    // Expired: no longer applies.
    t.policy(json!({"buyer_company_id": t.xyz, "category_id": t.category.id, "method": "cost_plus", "percent": "50", "valid_from": "2025-01-01", "valid_to": "2026-03-01"}))
        .await;

    let priced = quote(one(&part)).await;
    let line = &priced.assert_status(200)["lines"][0];
    assert_eq!(line["policy_id"], json!(by_category.id));
    assert_eq!(line["method"], "resale_minus");
    assert_eq!(line["unit_transfer_price"], "96.00");
    assert_eq!(line["markup_percent"], "20");
    let priced = quote(one(&gadget)).await;
    let line = &priced.assert_status(200)["lines"][0];
    assert_eq!(line["policy_id"], json!(seller_wide.id));
    assert_eq!(line["unit_transfer_price"], "88.00");

    // From tomorrow the buyer's policy beats the category's.
    app.clock.set_today(day("2026-03-03"));
    let priced = quote(one(&part)).await;
    let line = &priced.assert_status(200)["lines"][0];
    assert_eq!(line["method"], "comparable_price");
    assert_eq!(line["unit_transfer_price"], "114.00");

    // Same seller, buyer and category with overlapping validity: 409, nothing stored.
    app.post(
        "/api/v1/transfer-pricing-policies",
        &t.finance,
        json!({"seller_company_id": t.abc, "method": "cost_plus", "percent": "12", "valid_from": "2026-06-01"}),
    )
    .await
    .assert_problem(409, "conflict");
    // Back to back is fine once the first one ends.
    app.patch(
        &format!("/api/v1/transfer-pricing-policies/{}", seller_wide.id),
        &t.finance,
        json!({"valid_to": "2026-05-31"}),
    )
    .await
    .assert_status(200);
    t.policy(json!({"method": "cost_plus", "percent": "12", "valid_from": "2026-06-01"}))
        .await;

    // Terms are checked: a target outside the range, an inverted range, resale above 100 %.
    for (body, field) in [
        (
            json!({"method": "cost_plus", "percent": "5", "min_markup_percent": "5", "max_markup_percent": "15", "target_markup_percent": "20", "valid_from": "2027-01-01"}),
            "target_markup_percent",
        ),
        (
            json!({"method": "cost_plus", "percent": "5", "min_markup_percent": "15", "max_markup_percent": "5", "valid_from": "2027-01-01"}),
            "max_markup_percent",
        ),
        (
            json!({"method": "resale_minus", "percent": "120", "valid_from": "2027-01-01"}),
            "percent",
        ),
        (
            json!({"method": "cost_plus", "percent": "1e2", "valid_from": "2027-01-01"}),
            "percent",
        ),
    ] {
        let mut body = body;
        body["seller_company_id"] = json!(t.abc);
        let refused = app
            .post("/api/v1/transfer-pricing-policies", &t.finance, body)
            .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    // Purchasers read policies; plain employees do not.
    app.get("/api/v1/transfer-pricing-policies", &t.xyz_purchaser)
        .await
        .assert_status(200);
    app.get("/api/v1/transfer-pricing-policies", &t.employee)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn an_abc_to_xyz_order_is_shipped_at_one_rate_and_settled_at_another() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let bolt = t.product("BOLT", "123.45", "200.00", 100).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "min_markup_percent": "5", "max_markup_percent": "15", "valid_from": "2026-01-01"}))
        .await;
    let flagged = app
        .post(
            "/api/v1/transfer-pricing-policies",
            &t.finance,
            json!({"seller_company_id": t.abc, "buyer_company_id": t.xyz, "category_id": t.category.id,
                   "method": "cost_plus", "percent": "28", "min_markup_percent": "5", "max_markup_percent": "15",
                   "valid_from": "2026-03-01", "valid_to": "2026-03-01"}),
        )
        .await;
    flagged.assert_status(201);
    // USD→EUR on March 1st; only EUR→USD is known for April.
    t.rate("USD", "EUR", "0.9137", "2026-03-01").await;
    t.rate("EUR", "USD", "1.065", "2026-04-01").await;

    let order = create(
        &t.xyz_purchaser,
        "first",
        &t.order_body([(&bolt, 3), (&widget, 2)]),
    )
    .await;
    let order = order.assert_status(201).clone();
    assert_eq!(order["status"], "requested");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["order_date"], "2026-03-02");
    assert_eq!(order["lines"][0]["unit_cost"], "123.45");
    assert_eq!(order["lines"][0]["unit_transfer_price"], "135.80");
    assert_eq!(order["lines"][0]["line_total"], "407.40");
    assert_eq!(order["lines"][0]["markup_percent"], "10.0040502228");
    assert_eq!(order["lines"][0]["outside_arms_length_range"], false);
    assert_eq!(order["lines"][1]["unit_transfer_price"], "55.00");
    assert_eq!(order["total"], "517.40");
    assert_eq!(order["entries"], json!([]));

    let accepted = act(
        &t.abc_purchaser,
        &order,
        "accept",
        json!({"promised_date": "2026-03-10"}),
    )
    .await;
    assert_eq!(accepted.assert_status(200)["status"], "accepted");
    assert_eq!(accepted.body["promised_date"], "2026-03-10");
    let stock = app
        .get(&format!("/api/v1/products/{}", bolt.id), &t.group.admin)
        .await;
    assert_eq!(stock.assert_status(200)["stock_on_hand"], 97);

    // Shipped on March 2nd at 0.9137: 517.40 USD receivable, 472.75 EUR payable.
    let shipped = act(&t.abc_purchaser, &order, "ship", json!({})).await;
    let shipped = shipped.assert_status(200).clone();
    assert_eq!(shipped["ship_date"], "2026-03-02");
    assert_eq!(
        shipped["entries"],
        json!([
            {"company_id": t.abc, "kind": "receivable", "amount": "517.40", "currency": "USD",
             "document_amount": "517.40", "document_currency": "USD", "rate": "1", "date": "2026-03-02"},
            {"company_id": t.xyz, "kind": "payable", "amount": "472.75", "currency": "EUR",
             "document_amount": "517.40", "document_currency": "USD", "rate": "0.9137", "date": "2026-03-02"},
        ])
    );

    // Settled on April 15th at 1 / 1.065: XYZ pays 485.82 EUR, a realised loss of 13.07 EUR.
    app.clock.set_today(day("2026-04-15"));
    // A booking date in the future is refused and changes nothing.
    let future = act(&t.finance, &order, "settle", json!({"date": "2026-04-16"})).await;
    future.assert_problem(422, "validation_failed");
    let settled = act(&t.finance, &order, "settle", json!({})).await;
    let settled = settled.assert_status(200).clone();
    assert_eq!(settled["status"], "settled");
    let entries = settled["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    // 1 / 1.065 at full precision.
    let rate = "0.9389671361502347417840375587";
    assert_eq!(entries[3]["rate"], rate);
    assert_eq!(
        entries[2..],
        [
            json!({"company_id": t.abc, "kind": "settlement", "amount": "-517.40", "currency": "USD",
                   "document_amount": "-517.40", "document_currency": "USD", "rate": "1", "date": "2026-04-15"}),
            json!({"company_id": t.xyz, "kind": "settlement", "amount": "-485.82", "currency": "EUR",
                   "document_amount": "-517.40", "document_currency": "USD", "rate": rate, "date": "2026-04-15"}),
            json!({"company_id": t.xyz, "kind": "fx_difference", "amount": "13.07", "currency": "EUR",
                   "document_amount": "0.00", "document_currency": "USD", "rate": rate, "date": "2026-04-15"}),
        ]
    );
    // Both sides are cleared in their own currency.
    let sum = |company: &str| -> rust_decimal::Decimal {
        entries
            .iter()
            .filter(|e| e["company_id"] == company)
            .map(|e| {
                e["amount"]
                    .as_str()
                    .unwrap()
                    .parse::<rust_decimal::Decimal>()
                    .unwrap()
            })
            .sum()
    };
    assert!(sum(&t.abc.to_string()).is_zero() && sum(&t.xyz.to_string()).is_zero());

    // Every transition left its audit event.
    let audit = app
        .get(
            &format!("/api/v1/audit-events?entity_id={}", order.id()),
            &t.finance,
        )
        .await;
    let actions: Vec<&str> = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "intercompany_order.settled",
            "intercompany_order.shipped",
            "intercompany_order.accepted",
            "intercompany_order.requested"
        ]
    );
    // Settled is final.
    act(&t.finance, &order, "settle", json!({}))
        .await
        .assert_problem(409, "invalid_state");
}

#[tokio::test]
async fn a_line_outside_the_arms_length_range_is_flagged_and_ships_without_a_rate_for_one_currency()
{
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    t.policy(json!({"method": "cost_plus", "percent": "28", "min_markup_percent": "5", "max_markup_percent": "15", "valid_from": "2026-01-01"}))
        .await;
    // DEF is in USD like ABC: no rate needed. XYZ (EUR) has none: shipping is refused.
    let order = create(&t.xyz_purchaser, "k", &t.order_body([(&widget, 1)])).await;
    let order = order.assert_status(201).clone();
    assert_eq!(order["lines"][0]["markup_percent"], "28");
    assert_eq!(order["lines"][0]["outside_arms_length_range"], true);
    act(&t.abc_purchaser, &order, "accept", json!({}))
        .await
        .assert_status(200);
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .assert_problem(422, "fx_rate_missing");
    let unchanged = app
        .get(
            &format!("/api/v1/intercompany-orders/{}", order.id()),
            &t.xyz_purchaser,
        )
        .await;
    assert_eq!(unchanged.assert_status(200)["status"], "accepted");
    assert_eq!(unchanged.body["entries"], json!([]));
}

#[tokio::test]
async fn who_may_do_what_with_an_intercompany_order() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    let internal_only = t
        .group
        .product("NOT-IC", &t.category, "10.00")
        .seller(t.abc)
        .with(json!({"unit_cost": "5.00", "intercompany_eligible": false}))
        .create()
        .await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    let body = t.order_body([(&widget, 1)]);

    // Only a purchaser of the buyer creates: the seller's purchaser → 403, a plain employee → 403.
    create(&t.abc_purchaser, "a", &body)
        .await
        .assert_problem(403, "forbidden");
    create(&t.employee, "b", &body)
        .await
        .assert_problem(403, "forbidden");
    // Buyer and seller must be two companies of the group.
    let mut same = body.clone();
    same["seller_company_id"] = json!(t.xyz);
    create(&t.xyz_purchaser, "c", &same)
        .await
        .assert_problem(422, "not_intercompany");
    let mut foreign = body.clone();
    foreign["seller_company_id"] = json!(uuid::Uuid::new_v4());
    create(&t.xyz_purchaser, "d", &foreign)
        .await
        .assert_problem(422, "not_intercompany");
    create(&t.xyz_purchaser, "e", &t.order_body([(&internal_only, 1)]))
        .await
        .assert_problem(422, "not_eligible");
    create(&t.xyz_purchaser, "f", &t.order_body([(&widget, 0)]))
        .await
        .assert_problem(422, "validation_failed");

    let order: IcOrderView = create(&t.xyz_purchaser, "g", &body).await.typed(201);
    let path = format!("/api/v1/intercompany-orders/{}", order.id);
    // A purchaser of a third company sees nothing; a plain employee is refused.
    app.get(&path, &t.def_purchaser)
        .await
        .assert_problem(404, "not_found");
    act(&t.def_purchaser, &order, "accept", json!({}))
        .await
        .assert_problem(404, "not_found");
    app.get(&path, &t.employee)
        .await
        .assert_problem(403, "forbidden");
    let listed = app
        .get("/api/v1/intercompany-orders", &t.def_purchaser)
        .await;
    assert!(listed.items::<IcOrderView>().is_empty());
    for token in [
        &t.xyz_purchaser,
        &t.abc_purchaser,
        &t.finance,
        &t.group.admin,
    ] {
        app.get(&path, token).await.assert_status(200);
        let listed = app
            .get("/api/v1/intercompany-orders?status=requested", token)
            .await;
        assert_eq!(listed.items::<IcOrderView>()[0].id, order.id);
    }
    // The buyer may not accept or ship its own order; finance may not accept; only finance settles.
    act(&t.xyz_purchaser, &order, "accept", json!({}))
        .await
        .assert_problem(403, "forbidden");
    act(&t.finance, &order, "accept", json!({}))
        .await
        .assert_problem(403, "forbidden");
    // Illegal transitions: ship or settle a requested order.
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    act(&t.finance, &order, "settle", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    act(
        &t.abc_purchaser,
        &order,
        "accept",
        json!({"promised_date": "2026-03-01"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    act(&t.abc_purchaser, &order, "accept", json!({}))
        .await
        .assert_status(200);
    act(&t.abc_purchaser, &order, "settle", json!({}))
        .await
        .assert_problem(403, "forbidden");
    // Cancel is for requested orders only, by the buyer.
    act(&t.xyz_purchaser, &order, "cancel", json!({}))
        .await
        .assert_problem(409, "invalid_state");
    let second: IcOrderView = create(&t.xyz_purchaser, "h", &body).await.typed(201);
    act(&t.abc_purchaser, &second, "cancel", json!({}))
        .await
        .assert_problem(403, "forbidden");
    let cancelled = act(&t.xyz_purchaser, &second, "cancel", json!({})).await;
    assert_eq!(
        cancelled.typed::<IcOrderView>(200).status,
        Status::Cancelled
    );
    let third: IcOrderView = create(&t.xyz_purchaser, "i", &body).await.typed(201);
    let rejected = act(&t.abc_purchaser, &third, "reject", json!({})).await;
    assert_eq!(rejected.typed::<IcOrderView>(200).status, Status::Rejected);
    act(&t.abc_purchaser, &third, "accept", json!({}))
        .await
        .assert_problem(409, "invalid_state");
}

#[tokio::test]
async fn racing_accepts_on_two_instances_never_oversell() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let scarce = t.product("SCARCE", "10.00", "20.00", 5).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    let mut orders = Vec::new();
    for n in 0..8 {
        let order = create(
            &t.xyz_purchaser,
            &format!("scarce-{n}"),
            &t.order_body([(&scarce, 1)]),
        )
        .await;
        orders.push(order.typed::<IcOrderView>(201).id);
    }
    let replies = race(orders.iter().enumerate().map(|(n, order)| {
        let seller = t
            .abc_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        let id = *order;
        async move {
            seller
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/intercompany-orders/{id}/accept"),
                    Some(&seller.token),
                    None,
                )
                .await
        }
    }))
    .await;
    let mut accepted = 0;
    let mut short = 0;
    for reply in replies {
        match reply.status.as_u16() {
            200 => accepted += 1,
            409 => {
                reply.assert_problem(409, "insufficient_stock");
                short += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((accepted, short), (5, 3));
    let product = app
        .get(&format!("/api/v1/products/{}", scarce.id), &t.group.admin)
        .await;
    assert_eq!(product.assert_status(200)["stock_on_hand"], 0);
}

#[tokio::test]
async fn accepts_racing_with_employee_orders_on_the_same_products_never_deadlock() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let first = t.product("FIRST", "10.00", "20.00", 1000).await;
    let second = t.product("SECOND", "10.00", "20.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    // Intercompany orders list the products in one order, employee orders in the other.
    let mut orders = Vec::new();
    for n in 0..12 {
        let order = create(
            &t.xyz_purchaser,
            &format!("ic-{n}"),
            &t.order_body([(&second, 2), (&first, 1)]),
        )
        .await;
        orders.push(order.typed::<IcOrderView>(201).id);
    }
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let token = t
            .group
            .employee(&format!("shopper{n}@abc.example"))
            .company(t.abc)
            .roles(&["employee"])
            .create()
            .await;
        shoppers.push(token);
    }
    let mut jobs: Vec<Job<Reply>> = Vec::new();
    for (n, id) in orders.into_iter().enumerate() {
        let seller = t
            .abc_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        jobs.push(job(async move {
            seller
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/intercompany-orders/{id}/accept"),
                    Some(&seller.token),
                    None,
                )
                .await
        }));
    }
    for (n, shopper) in shoppers.iter().enumerate() {
        for round in 0..2 {
            let shopper = shopper
                .on(if (n + round) % 2 == 0 { &app } else { &other })
                .alone();
            let lines = [(first.id, 3), (second.id, 1)];
            jobs.push(job(async move {
                shopper.order(&format!("emp-{round}"), lines).await
            }));
        }
    }
    for reply in race(jobs).await {
        assert!(
            [200, 201].contains(&reply.status.as_u16()),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    // 12 accepts took 1 + 2 each; 12 employee orders took 3 + 1 each.
    let stock = |product: &ProductView| t.group.stock_on_hand(product.id);
    assert_eq!(stock(&first).await, 1000 - 12 - 36);
    assert_eq!(stock(&second).await, 1000 - 24 - 12);
}

#[tokio::test]
async fn ten_racing_creates_with_one_key_make_one_order() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    let body = t.order_body([(&widget, 4)]);
    let replies = race((0..10).map(|n| {
        let buyer = t
            .xyz_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        let body = body.clone();
        async move { create(&buyer, "the-one", &body).await }
    }))
    .await;
    let mut created = Vec::new();
    for reply in replies {
        match reply.status.as_u16() {
            201 => created.push(reply.typed::<IcOrderView>(201).id),
            409 => reply.assert_problem(409, "request_in_progress"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|id| *id == created[0]), "{created:?}");
    // A later retry replays the same order; another body under the key is refused.
    let replay = create(&t.xyz_purchaser, "the-one", &body).await;
    assert_eq!(replay.typed::<IcOrderView>(201).id, created[0]);
    assert_eq!(replay.headers["idempotency-replay"], "true");
    create(&t.xyz_purchaser, "the-one", &t.order_body([(&widget, 5)]))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let listed = app.get("/api/v1/intercompany-orders", &t.finance).await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_employee_order_in_eur_in_a_usd_group_is_converted_at_the_order_dates_rate() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    let tier = t
        .group
        .tier("staff", "10")
        .allowance("1000.00")
        .eligible(&["direct"])
        .create()
        .await;
    let scarf = t
        .group
        .product("SCARF", &t.category, "100.00")
        .seller(t.xyz)
        .create()
        .await;
    let shopper = t
        .group
        .employee("shopper@abc.example")
        .company(t.abc)
        .tier(&tier)
        .create()
        .await;
    let lines = json!({"lines": [{"product_id": scarf.id, "quantity": 1}]});
    app.post("/api/v1/orders/quote", &shopper, lines.clone())
        .await
        .assert_problem(422, "fx_rate_missing");
    // EUR→USD: the latest rate on or before today counts; one dated later does not.
    t.rate("EUR", "USD", "1.08", "2020-01-01").await;
    t.rate("EUR", "USD", "1.1", "2021-06-30").await;
    t.rate("EUR", "USD", "1.5", "2099-01-01").await;
    let quote = app.post("/api/v1/orders/quote", &shopper, lines).await;
    let quote = quote.assert_status(200).clone();
    assert_eq!(quote["currency"], "EUR");
    assert_eq!(quote["discount_total"], "10.00");
    assert_eq!(quote["fx_rate"], "1.1");
    assert_eq!(quote["allowance_applied"], "11.00");
    let order = shopper.order("eur-1", [(&scarf, 1)]).await;
    let order = order.assert_status(201).clone();
    assert_eq!(order["fx_rate"], "1.1");
    assert_eq!(order["allowance_applied"], "11.00");
    let me = app.get("/api/v1/me", &shopper).await;
    assert_eq!(me.assert_status(200)["allowance"]["used"], "11.00");

    // Only the inverse pair known: USD→EUR 0.8 gives EUR→USD 1.25 for a new group currency pair.
    let gbp = t.group.company("GBPCO").currency("GBP").create().await;
    let tea = t
        .group
        .product("TEA", &t.category, "10.00")
        .seller(gbp.id)
        .create()
        .await;
    t.rate("USD", "GBP", "0.8", "2020-01-01").await;
    let quote = app
        .post(
            "/api/v1/orders/quote",
            &shopper,
            json!({"lines": [{"product_id": tea.id, "quantity": 2}]}),
        )
        .await;
    assert_eq!(quote.assert_status(200)["fx_rate"], "1.25");
    assert_eq!(quote.body["allowance_applied"], "2.50");
}

#[tokio::test]
async fn fx_rates_are_finances_and_one_per_pair_and_day() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    t.rate("EUR", "USD", "1.0842", "2026-03-01").await;
    for (body, field) in [
        (
            json!({"base": "EUR", "quote": "EUR", "rate": "1", "date": "2026-03-01"}),
            "quote",
        ),
        (
            json!({"base": "EUR", "quote": "XXX", "rate": "1", "date": "2026-03-01"}),
            "quote",
        ),
        (
            json!({"base": "EUR", "quote": "USD", "rate": "-1", "date": "2026-03-01"}),
            "rate",
        ),
        (
            json!({"base": "EUR", "quote": "USD", "rate": "1e2", "date": "2026-03-01"}),
            "rate",
        ),
    ] {
        let refused = app.post("/api/v1/fx-rates", &t.finance, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    app.post(
        "/api/v1/fx-rates",
        &t.finance,
        json!({"base": "EUR", "quote": "USD", "rate": "1.1", "date": "2026-03-01"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/fx-rates",
        &t.group.admin,
        json!({"base": "EUR", "quote": "USD", "rate": "1.1", "date": "2026-03-02"}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Everyone signed in reads them.
    let listed = app
        .get("/api/v1/fx-rates?base=EUR&quote=USD", &t.employee)
        .await;
    assert_eq!(listed.assert_status(200)["items"][0]["rate"], "1.0842");
}

#[tokio::test]
async fn the_database_keeps_both_legs_of_a_posting_equal_and_the_ledger_append_only() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    let mut conn = app.db.connect().await;
    let group = &t.group.root_id;
    let one_sided = format!(
        "INSERT INTO ledger_entries (group_id, posting_id, company_id, counterparty_company_id, side, kind, \
         amount, currency, document_amount, document_currency, rate, date) \
         VALUES ('{group}', gen_random_uuid(), '{}', '{}', 'seller', 'receivable', 10, 'USD', 10, 'USD', 1, '2026-03-01')",
        t.abc, t.xyz
    );
    // The check runs at commit: the transaction as a whole is refused.
    let result = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            diesel::sql_query(&one_sided).execute(conn).await?;
            Ok(())
        })
        .await;
    assert!(
        matches!(&result, Err(diesel::result::Error::DatabaseError(_, info)) if info.message().contains("one-sided")),
        "{result:?}"
    );
    // Two legs with the same document amount pass; then nothing can change them.
    let posting = uuid::Uuid::new_v4();
    diesel::sql_query(format!(
        "INSERT INTO ledger_entries (group_id, posting_id, company_id, counterparty_company_id, side, kind, \
         amount, currency, document_amount, document_currency, rate, date) VALUES \
         ('{group}', '{posting}', '{abc}', '{xyz}', 'seller', 'receivable', 10, 'USD', 10, 'USD', 1, '2026-03-01'), \
         ('{group}', '{posting}', '{xyz}', '{abc}', 'buyer', 'payable', 9, 'EUR', 10, 'USD', 0.9, '2026-03-01')",
        abc = t.abc,
        xyz = t.xyz
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    for statement in [
        "UPDATE ledger_entries SET amount = 0",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries",
    ] {
        assert!(
            diesel::sql_query(statement)
                .execute(&mut conn)
                .await
                .is_err(),
            "{statement}"
        );
    }
}

#[tokio::test]
async fn a_year_end_true_up_brings_the_pair_back_to_its_target_once() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-06-15"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(
        json!({"method": "cost_plus", "percent": "28", "min_markup_percent": "5",
                          "max_markup_percent": "15", "target_markup_percent": "10",
                          "valid_from": "2026-01-01"}),
    )
    .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    t.rate("USD", "EUR", "0.95", "2026-12-01").await;
    let ship = |key: &'static str| {
        let (t, part) = (&t, &part);
        async move {
            let order = create(&t.xyz_purchaser, key, &t.order_body([(part, 100)])).await;
            let order: IcOrderView = order.typed(201);
            act(&t.abc_purchaser, &order, "accept", json!({}))
                .await
                .assert_status(200);
            act(&t.abc_purchaser, &order, "ship", json!({}))
                .await
                .assert_status(200);
        }
    };
    ship("june").await;

    // 12 800.00 of revenue on 10 000.00 of cost: 28 % against 5–15 %, target 10 %.
    app.clock.set_today(day("2027-01-10"));
    let preview = app
        .get("/api/v1/transfer-pricing/true-ups?year=2026", &t.finance)
        .await;
    let item = &preview.assert_status(200)["items"][0];
    assert_eq!(item["revenue"], "12800.00");
    assert_eq!(item["cost"], "10000.00");
    assert_eq!(item["achieved_markup_percent"], "28");
    assert_eq!(item["adjustment"], "-1800.00");
    app.get(
        "/api/v1/transfer-pricing/true-ups?year=2026",
        &t.abc_purchaser,
    )
    .await
    .assert_problem(403, "forbidden");

    let booked = app
        .post(
            "/api/v1/transfer-pricing/true-ups",
            &t.finance,
            json!({"year": 2026, "date": "2026-12-31"}),
        )
        .await;
    assert_eq!(
        booked.assert_status(200)["items"][0]["adjustment"],
        "-1800.00"
    );
    // The year now sits exactly at its target; booking again books nothing.
    let after = app
        .get("/api/v1/transfer-pricing/true-ups?year=2026", &t.finance)
        .await;
    let item = &after.assert_status(200)["items"][0];
    assert_eq!(item["achieved_markup_percent"], "10");
    assert_eq!(item["adjustment"], "0.00");
    assert_eq!(item["already_booked"], "-1800.00");
    let again = app
        .post(
            "/api/v1/transfer-pricing/true-ups",
            &t.finance,
            json!({"year": 2026, "date": "2027-01-10"}),
        )
        .await;
    assert_eq!(again.assert_status(200)["items"], json!([]));

    // The seller's and the buyer's entries: the buyer's at the booking date's rate (0.95).
    let mut conn = app.db.connect().await;
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Booked {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let entries: Vec<Booked> = diesel::sql_query(
        "SELECT side || ' ' || amount::text || ' ' || currency || ' ' || document_amount::text || ' ' || date::text AS line \
         FROM ledger_entries WHERE kind = 'true_up' ORDER BY seq",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "seller -1800.00 USD -1800.00 2026-12-31",
            "buyer -1710.00 EUR -1800.00 2026-12-31"
        ]
    );

    // A late 2026 shipment moves the year out of range again: only the new difference is booked.
    app.clock.set_today(day("2026-12-20"));
    ship("december").await;
    app.clock.set_today(day("2027-01-11"));
    let second = app
        .post(
            "/api/v1/transfer-pricing/true-ups",
            &t.finance,
            json!({"year": 2026, "date": "2027-01-11"}),
        )
        .await;
    assert_eq!(
        second.assert_status(200)["items"][0]["adjustment"],
        "-1800.00"
    );
    let last = app
        .get("/api/v1/transfer-pricing/true-ups?year=2026", &t.finance)
        .await;
    assert_eq!(
        last.assert_status(200)["items"][0]["achieved_markup_percent"],
        "10"
    );
    assert_eq!(last.body["items"][0]["already_booked"], "-3600.00");
}
