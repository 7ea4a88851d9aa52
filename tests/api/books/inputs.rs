//! Inputs a ledger can trust: booking dates in range, promises within a year, free text that
//! shows something, problems that never echo what was sent.

use super::*;

#[tokio::test]
async fn booking_dates_promises_and_free_text_are_checked_before_anything_is_booked() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2024-01-01"}))
        .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    // The group was created in 2026 (by the database's clock): nothing is dated before
    // January 1st of the year before.
    let adjustment = |date: &str, reason: &str| {
        json!({"company_id": t.abc, "counterparty_company_id": t.def, "side": "receivable",
               "amount": "-10.00", "date": date, "reason": reason})
    };
    for (body, field) in [
        (adjustment("2024-12-31", "credit note"), "date"),
        (adjustment("2026-03-03", "credit note"), "date"),
        (adjustment("2026-03-02", "\u{200b}"), "reason"),
        (adjustment("2026-03-02", "\u{a0}\u{feff}"), "reason"),
    ] {
        let refused = t.finance.post("/api/v1/finance/adjustments", body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    t.finance
        .post(
            "/api/v1/finance/adjustments",
            adjustment("2025-01-01", "credit note"),
        )
        .await
        .assert_status(201);
    for date in ["2024-12-31", "2026-03-03"] {
        t.finance
            .post("/api/v1/finance/netting", json!({"date": date}))
            .await
            .assert_problem(422, "validation_failed");
    }

    // A promise at most a year ahead.
    let order = requested(&t, &t.xyz_purchaser, t.xyz, &part, 1, "promise").await;
    act(
        &t.abc_purchaser,
        &order,
        "accept",
        json!({"promised_date": "2027-03-03"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    act(
        &t.abc_purchaser,
        &order,
        "accept",
        json!({"promised_date": "2027-03-02"}),
    )
    .await
    .assert_status(200);
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .assert_status(200);
    // A reply that shows nothing is refused.
    t.xyz_purchaser
        .post(
            &format!("/api/v1/intercompany-orders/{}/feedback", order.id),
            json!({"rating": 4}),
        )
        .await
        .assert_status(201);
    t.abc_purchaser
        .post(
            &format!("/api/v1/intercompany-orders/{}/feedback/reply", order.id),
            json!({"comment": "\u{200b}\u{2060}"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    // Nor is a name that shows nothing a name.
    let named = t
        .group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", t.abc),
            json!({"name": "\u{200b}\u{a0}"}),
        )
        .await;
    named.assert_problem(422, "validation_failed");
    assert_eq!(named.body["errors"][0]["field"], "name");
}

#[tokio::test]
async fn a_problem_never_echoes_the_submitted_value() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    let sent = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "fiona@jkl.example", "password": 918273645546372819_i64}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 422);
    let text = sent.text().await.unwrap();
    assert!(!text.contains("918273645546372819"), "{text}");
    let refused = t
        .finance
        .post(
            "/api/v1/finance/adjustments",
            json!({"company_id": t.abc, "counterparty_company_id": t.def,
                   "side": "s3cr3t-side", "amount": "1.00", "date": "2026-01-01",
                   "reason": "x"}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert!(
        !refused.body.to_string().contains("s3cr3t"),
        "{}",
        refused.body
    );
}

#[tokio::test]
async fn an_order_whose_shipment_would_leave_the_amount_bounds_is_refused_at_acceptance() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    // 1 000 units at 9 999 999 999.99 plus 10 %: a document total of 14 digits.
    let big = t
        .product("BIG", "9999999999.99", "9999999999.99", 5000)
        .await;
    // 200 units at 1 000 000 000.00 plus 10 %: 220 000 000 000.00 USD, which is 13 digits,
    // but XYZ's payable at 1 USD = 1 000 EUR would not be.
    let dear = t
        .product("DEAR", "1000000000.00", "1000000000.00", 5000)
        .await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    t.rate("USD", "EUR", "1000", "2026-01-01").await;
    for (product, quantity, key) in [(&big, 1000, "big"), (&dear, 200, "dear")] {
        let order = requested(&t, &t.xyz_purchaser, t.xyz, product, quantity, key).await;
        act(&t.abc_purchaser, &order, "accept", json!({}))
            .await
            .assert_problem(422, "validation_failed");
        // Nothing was taken: the order is still requested and the stock whole.
        let still: IcOrderView = t
            .xyz_purchaser
            .get(&format!("/api/v1/intercompany-orders/{}", order.id))
            .await
            .typed(200);
        assert_eq!(
            still.status,
            internal_store::domain::intercompany::Status::Requested
        );
        assert_eq!(t.group.stock_on_hand(product).await, 5000);
    }
}
