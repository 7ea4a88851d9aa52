//! A closed month is frozen: its reports answer, byte for byte, what they answered when it
//! closed, whatever happens afterwards; nothing may be dated into it; months close in order.

use super::*;

/// Every report of February, JSON and CSV, as finance reads them.
async fn february_reports(app: &TestApp, t: &Trade) -> Vec<String> {
    let mut bodies = Vec::new();
    for path in [
        "/api/v1/finance/reconciliation?period=2026-02",
        "/api/v1/finance/eliminations?period=2026-02",
        "/api/v1/finance/internal-sales?period=2026-02",
        "/api/v1/transfer-pricing/exceptions?period=2026-02",
        "/api/v1/kpis/internal-service?period=2026-02",
    ] {
        bodies.push(raw(app, &t.finance, path, false).await);
        bodies.push(raw(app, &t.finance, path, true).await);
    }
    bodies
}

#[tokio::test]
async fn a_closed_month_answers_its_stored_reports_whatever_happens_later() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-02-10"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    let policy = t
        .policy(
            json!({"method": "cost_plus", "percent": "20", "min_markup_percent": "5",
                       "max_markup_percent": "15", "valid_from": "2026-01-01"}),
        )
        .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    // February: one order shipped (2 × 120.00, outside its range), one accepted and waiting,
    // one only requested.
    let sold = shipped(&t, &t.xyz_purchaser, t.xyz, &part, 2, "sold").await;
    let waiting = requested(&t, &t.xyz_purchaser, t.xyz, &part, 1, "waiting").await;
    act(&t.abc_purchaser, &waiting, "accept", json!({}))
        .await
        .assert_status(200);
    let asked = requested(&t, &t.xyz_purchaser, t.xyz, &part, 1, "asked").await;

    app.clock.set_today(day("2026-03-03"));
    let live = t
        .finance
        .get("/api/v1/finance/reconciliation?period=2026-02")
        .await;
    assert_eq!(live.assert_status(200)["closed_at"], Value::Null);
    let closed = t
        .finance
        .post("/api/v1/finance/periods/2026-02/close", json!({}))
        .await;
    let closed_at = closed.assert_status(201)["closed_at"].clone();
    let before = february_reports(&app, &t).await;
    // Every stored answer says when its month closed: JSON in `closed_at`, CSV in its last
    // column.
    let moment = chrono::DateTime::parse_from_rfc3339(closed_at.as_str().unwrap()).unwrap();
    for (index, body) in before.iter().enumerate() {
        if index % 2 == 0 {
            let json: Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["closed_at"], closed_at, "report {index}: {body}");
            continue;
        }
        let mut lines = body.lines();
        assert!(lines.next().unwrap().ends_with(",closed_at"), "{body}");
        for line in lines {
            let last = line.rsplit(',').next().unwrap();
            let at = chrono::DateTime::parse_from_rfc3339(last).unwrap();
            assert_eq!(at, moment, "report {index}: {body}");
        }
    }
    let reconciliation: Value = serde_json::from_str(&before[0]).unwrap();
    assert_eq!(reconciliation["closed_at"], closed_at);
    assert_eq!(reconciliation["pairs"][0]["receivable"], "240.00");
    assert_eq!(reconciliation["pairs"][0]["payable_booked"], "216.00");
    let exceptions: Value = serde_json::from_str(&before[6]).unwrap();
    assert_eq!(exceptions["items"][0]["order_id"], json!(sold.id));
    let kpis: Value = serde_json::from_str(&before[8]).unwrap();
    let abc = kpis["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["company_id"] == json!(t.abc))
        .unwrap()
        .clone();
    assert_eq!(abc["intercompany_orders"], 3);
    assert_eq!(abc["feedback_count"], 0);
    assert_eq!(abc["shipping_hours_p50"], "0");

    // Nothing may be dated into February any more, a rate included.
    t.finance
        .post(
            "/api/v1/fx-rates",
            json!({"base": "USD", "quote": "EUR", "rate": "0.5", "date": "2026-02-27"}),
        )
        .await
        .assert_problem(409, "period_closed");
    t.finance
        .put(
            "/api/v1/finance/periods/2026-02/intercompany-inventory",
            json!({"items": [{"buyer_company_id": t.xyz, "seller_company_id": t.abc,
                              "amount": "240.00"}]}),
        )
        .await
        .assert_problem(409, "period_closed");
    // March moves on: a new rate, the requested order cancelled, the waiting one shipped a day
    // later (February's shipping time would change), the shipped one rated (its feedback
    // count would change), the policy superseded, a company renamed.
    t.rate("USD", "EUR", "0.8", "2026-03-01").await;
    act(&t.xyz_purchaser, &asked, "cancel", json!({}))
        .await
        .assert_status(200);
    app.clock.set_today(day("2026-03-04"));
    act(&t.abc_purchaser, &waiting, "ship", json!({}))
        .await
        .assert_status(200);
    t.xyz_purchaser
        .post(
            &format!("/api/v1/intercompany-orders/{}/feedback", sold.id),
            json!({"rating": 2}),
        )
        .await
        .assert_status(201);
    t.finance
        .post(
            &format!("/api/v1/transfer-pricing-policies/{}/supersede", policy.id),
            json!({"valid_from": "2026-03-05", "percent": "10"}),
        )
        .await
        .assert_status(201);
    t.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", t.xyz),
            json!({"name": "XYZ Retail Europe"}),
        )
        .await
        .assert_status(200);

    let after = february_reports(&app, &t).await;
    for (index, (was, is)) in before.iter().zip(&after).enumerate() {
        assert_eq!(
            was, is,
            "report {index} of February changed after its close"
        );
    }
    // March, still open, sees the new shipment.
    let march = t
        .finance
        .get("/api/v1/finance/internal-sales?period=2026-03")
        .await;
    let march = march.assert_status(200);
    assert_eq!(march["closed_at"], Value::Null);
    assert_eq!(march["items"][0]["intercompany_sales"], "120.00");
}

#[tokio::test]
async fn months_close_in_order_from_the_first_with_an_order() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-01-15"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    requested(&t, &t.xyz_purchaser, t.xyz, &part, 1, "january").await;
    app.clock.set_today(day("2026-04-02"));
    let close = |period: &'static str| {
        let finance = t.finance.clone();
        async move {
            finance
                .post(
                    &format!("/api/v1/finance/periods/{period}/close"),
                    json!({}),
                )
                .await
        }
    };
    // January holds the first order: February waits for it.
    close("2026-02")
        .await
        .assert_problem(409, "period_not_next");
    // A month before the first holds nothing and closes at any time.
    close("2025-11").await.assert_status(201);
    close("2026-01").await.assert_status(201);
    close("2026-03")
        .await
        .assert_problem(409, "period_not_next");
    close("2026-02").await.assert_status(201);
    close("2026-03").await.assert_status(201);
    let periods = t.finance.get("/api/v1/finance/periods").await;
    let listed: Vec<&str> = periods.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["2026-03", "2026-02", "2026-01", "2025-11"]);
}
