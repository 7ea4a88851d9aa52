//! Closing a month, and everything a closed month refuses.

use super::*;

/// February with its trade, then closed on March 5th: one order accepted (not shipped), one
/// shipped (not settled), one shipped for netting, a policy whose markup needs a true-up.
async fn closed_february(app: &TestApp) -> (Trade, IcOrderView, IcOrderView) {
    app.clock.set_today(day("2026-02-10"));
    let t = trade(app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(
        json!({"method": "cost_plus", "percent": "28", "min_markup_percent": "5",
                          "max_markup_percent": "15", "target_markup_percent": "10",
                          "valid_from": "2026-01-01"}),
    )
    .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    let body = t.order_body([(&part, 2)]);
    let accepted: IcOrderView = create(&t.xyz_purchaser, "accepted", &body).await.typed(201);
    act(&t.abc_purchaser, &accepted, "accept", json!({}))
        .await
        .assert_status(200);
    let shipped = shipped(&t, t.xyz, &t.xyz_purchaser, &part, 1, "shipped").await;
    app.clock.set_today(day("2026-03-05"));
    let closed = app
        .post(
            "/api/v1/finance/periods/2026-02/close",
            &t.finance,
            json!({}),
        )
        .await;
    assert_eq!(closed.assert_status(201)["period"], "2026-02");
    (t, accepted, shipped)
}

#[tokio::test]
async fn only_an_ended_month_closes_and_only_once() {
    let app = TestApp::spawn().await;
    let (t, _, _) = closed_february(&app).await;
    app.post(
        "/api/v1/finance/periods/2026-03/close",
        &t.finance,
        json!({}),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        "/api/v1/finance/periods/2026-02/close",
        &t.finance,
        json!({}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/finance/periods/2026-01/close",
        &t.abc_purchaser,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let periods = app.get("/api/v1/finance/periods", &t.finance).await;
    assert_eq!(periods.assert_status(200)["items"][0]["period"], "2026-02");
}

#[tokio::test]
async fn a_closed_month_refuses_shipping_into_it() {
    let app = TestApp::spawn().await;
    let (t, accepted, _) = closed_february(&app).await;
    act(
        &t.abc_purchaser,
        &accepted,
        "ship",
        json!({"date": "2026-02-27"}),
    )
    .await
    .assert_problem(409, "period_closed");
    // The order is unchanged; the correction goes into the open month.
    let shipped = act(&t.abc_purchaser, &accepted, "ship", json!({})).await;
    assert_eq!(shipped.assert_status(200)["ship_date"], "2026-03-05");
}

#[tokio::test]
async fn a_closed_month_refuses_settling_into_it() {
    let app = TestApp::spawn().await;
    let (t, _, shipped) = closed_february(&app).await;
    act(
        &t.finance,
        &shipped,
        "settle",
        json!({"date": "2026-02-28"}),
    )
    .await
    .assert_problem(409, "period_closed");
    act(&t.finance, &shipped, "settle", json!({}))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_closed_month_refuses_adjustments_into_it() {
    let app = TestApp::spawn().await;
    let (t, _, _) = closed_february(&app).await;
    app.post(
        "/api/v1/finance/adjustments",
        &t.finance,
        json!({"company_id": t.abc, "counterparty_company_id": t.xyz, "side": "receivable",
               "amount": "10.00", "date": "2026-02-15", "reason": "late credit note"}),
    )
    .await
    .assert_problem(409, "period_closed");
}

#[tokio::test]
async fn a_closed_month_refuses_netting_into_it() {
    let app = TestApp::spawn().await;
    let (t, _, _) = closed_february(&app).await;
    app.post(
        "/api/v1/finance/netting",
        &t.finance,
        json!({"date": "2026-02-28"}),
    )
    .await
    .assert_problem(409, "period_closed");
    let runs = app.get("/api/v1/finance/netting-runs", &t.finance).await;
    assert_eq!(runs.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn a_closed_month_refuses_true_ups_into_it() {
    let app = TestApp::spawn().await;
    let (t, _, _) = closed_february(&app).await;
    let preview = app
        .get("/api/v1/transfer-pricing/true-ups?year=2026", &t.finance)
        .await;
    assert_eq!(
        preview.assert_status(200)["items"][0]["adjustment"],
        "-18.00"
    );
    app.post(
        "/api/v1/transfer-pricing/true-ups",
        &t.finance,
        json!({"year": 2026, "date": "2026-02-28"}),
    )
    .await
    .assert_problem(409, "period_closed");
    // Whatever writes the entry, the database itself refuses the closed month.
    let mut conn = app.db.connect().await;
    let direct = diesel::sql_query(format!(
        "INSERT INTO ledger_entries (group_id, posting_id, company_id, counterparty_company_id, side, kind, \
         amount, currency, document_amount, document_currency, rate, date, reason) VALUES \
         ('{}', gen_random_uuid(), '{}', '{}', 'seller', 'adjustment', 1, 'USD', 1, 'USD', 1, '2026-02-03', 'x')",
        t.group.root_id, t.abc, t.xyz
    ))
    .execute(&mut conn)
    .await;
    assert!(
        matches!(&direct, Err(diesel::result::Error::DatabaseError(_, info)) if info.message().starts_with("period_closed")),
        "{direct:?}"
    );
}
