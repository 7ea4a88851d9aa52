//! Consolidation as a group accountant does it: the profit in goods still held inside the
//! group is eliminated at the pair's margin and released the month after.

use super::*;

#[tokio::test]
async fn profit_in_goods_the_buyer_still_holds_is_eliminated_and_released_next_month() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-10"));
    let t = trade(&app).await;
    // 15 units costing 100.00, sold at 110.00 (cost plus 10 %): revenue 1 650.00, of which
    // 150.00 is ABC's profit. At the end of March XYZ still holds all of them.
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    shipped(&t, &t.xyz_purchaser, t.xyz, &part, 15, "held").await;

    app.clock.set_today(day("2026-04-02"));
    let path = "/api/v1/finance/periods/2026-03/intercompany-inventory";
    let held = json!({"items": [{"buyer_company_id": t.xyz, "seller_company_id": t.abc,
                                 "amount": "1650.00"}]});
    let reported = t.finance.put(path, held.clone()).await;
    assert_eq!(reported.assert_status(200), &held);
    // Reporting again replaces the month's list.
    t.finance.put(path, held.clone()).await.assert_status(200);

    let march = t
        .finance
        .get("/api/v1/finance/eliminations?period=2026-03")
        .await;
    let march = march.assert_status(200).clone();
    assert_eq!(
        entries(&march),
        [
            entry("intercompany_revenue", "cost_of_sales", "1650.00"),
            entry(
                "intercompany_payables",
                "intercompany_receivables",
                "1650.00"
            ),
            entry("cost_of_sales", "inventory", "150.00"),
        ]
    );
    assert_eq!(march["total_debits"], "3450.00");
    assert_eq!(march["total_credits"], "3450.00");

    // April: nothing shipped, nothing held any more; March's profit is released.
    app.clock.set_today(day("2026-05-02"));
    let april = t
        .finance
        .get("/api/v1/finance/eliminations?period=2026-04")
        .await;
    let april = april.assert_status(200).clone();
    assert_eq!(
        entries(&april),
        [
            entry(
                "intercompany_payables",
                "intercompany_receivables",
                "1650.00"
            ),
            entry("retained_earnings", "cost_of_sales", "150.00"),
        ]
    );

    // Half of it still held at the end of April: 825.00 × 150 / 1 650 = 75.00 eliminated.
    t.finance
        .put(
            "/api/v1/finance/periods/2026-04/intercompany-inventory",
            json!({"items": [{"buyer_company_id": t.xyz, "seller_company_id": t.abc,
                              "amount": "825.00"}]}),
        )
        .await
        .assert_status(200);
    let april = t
        .finance
        .get("/api/v1/finance/eliminations?period=2026-04")
        .await;
    assert!(entries(april.assert_status(200)).contains(&entry(
        "cost_of_sales",
        "inventory",
        "75.00"
    )));

    // Bad lists change nothing.
    for (body, field) in [
        (
            json!({"items": [{"buyer_company_id": t.abc, "seller_company_id": t.abc, "amount": "1.00"}]}),
            "items[0].buyer_company_id",
        ),
        (
            json!({"items": [{"buyer_company_id": t.xyz, "seller_company_id": t.abc, "amount": "-1.00"}]}),
            "items[0].amount",
        ),
        (
            json!({"items": [{"buyer_company_id": t.xyz, "seller_company_id": Uuid::nil(), "amount": "1.00"}]}),
            "items[0]",
        ),
    ] {
        let refused = t
            .finance
            .put(
                "/api/v1/finance/periods/2026-04/intercompany-inventory",
                body,
            )
            .await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    // At most 1 000 pairs, as the document states.
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({"buyer_company_id": t.xyz, "seller_company_id": t.abc, "amount": "1.00"}))
        .collect();
    let refused = t.finance.put(path, json!({ "items": many })).await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["field"], "items");
    t.abc_purchaser
        .put(path, held)
        .await
        .assert_problem(403, "forbidden");
}
