//! Intercompany trade as its users meet it: finance records rates and policies, a purchaser
//! of XYZ orders from ABC, ABC's purchaser accepts and ships, finance settles — with the
//! amounts each company books, who may do what, and the races that must not break anything.

mod ledger;
mod races;
mod roles;

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
    t.rate("EUR", "USD", "1.065", "2026-04-01").await;
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
