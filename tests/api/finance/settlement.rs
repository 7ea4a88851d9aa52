//! Netting four companies in two currencies (the benefits report has its own tests,
//! `tests/api/benefits`).

use super::*;

#[tokio::test]
async fn netting_four_companies_in_two_currencies_clears_everything_in_at_most_three_transfers() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-05"));
    let t = trade(&app).await;
    let ghi = t.group.company("GHI").currency("EUR").create().await;
    let ghi = ghi.id;
    let ghi_purchaser = t
        .group
        .employee("gil@ghi.example")
        .company(ghi)
        .roles(&["employee", "purchaser"])
        .create()
        .await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    let scarf = t
        .group
        .product("SCARF", &t.category, "80.00")
        .seller(t.xyz)
        .cost("50.00")
        .stock(100)
        .create()
        .await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    app.post(
        "/api/v1/transfer-pricing-policies",
        &t.finance,
        json!({"seller_company_id": t.xyz, "method": "cost_plus", "percent": "20", "valid_from": "2026-01-01"}),
    )
    .await
    .assert_status(201);
    t.rate("USD", "EUR", "0.9", "2026-03-01").await;
    let order = |buyer: Uuid,
                 seller: Uuid,
                 who: Actor,
                 seller_who: Actor,
                 product: ProductView,
                 quantity: i64,
                 key: &'static str| {
        async move {
            let body = json!({"buyer_company_id": buyer, "seller_company_id": seller,
                              "lines": [{"product_id": product.id, "quantity": quantity}]});
            let order: IcOrderView = create(&who, key, &body).await.typed(201);
            act(&seller_who, &order, "accept", json!({}))
                .await
                .assert_status(200);
            act(&seller_who, &order, "ship", json!({}))
                .await
                .assert_status(200);
            order.id
        }
    };
    let mut ids = vec![
        order(
            t.xyz,
            t.abc,
            t.xyz_purchaser.clone(),
            t.abc_purchaser.clone(),
            part.clone(),
            10,
            "1",
        )
        .await, // 1 100.00 USD
        order(
            ghi,
            t.abc,
            ghi_purchaser.clone(),
            t.abc_purchaser.clone(),
            part.clone(),
            2,
            "2",
        )
        .await, // 220.00 USD
        order(
            t.def,
            t.xyz,
            t.def_purchaser.clone(),
            t.xyz_purchaser.clone(),
            scarf.clone(),
            5,
            "3",
        )
        .await, // 300.00 EUR
        order(
            t.abc,
            t.xyz,
            t.abc_purchaser.clone(),
            t.xyz_purchaser.clone(),
            scarf.clone(),
            1,
            "4",
        )
        .await, // 60.00 EUR
    ];
    ids.sort();

    // In USD at 1 / 0.9: ABC is owed 1 100 + 220 − 66.67; XYZ owes 1 100 − 333.33 − 66.67.
    app.clock.set_today(day("2026-03-12"));
    let proposal = app
        .get("/api/v1/finance/netting?date=2026-03-10", &t.finance)
        .await;
    let proposal: NettingView = proposal.typed(200);
    let position = |company: Uuid| {
        proposal
            .positions
            .iter()
            .find(|p| p.company_id == company)
            .map(|p| p.amount.as_str())
    };
    assert_eq!(position(t.abc), Some("1253.33"));
    assert_eq!(position(t.xyz), Some("-700.00"));
    assert_eq!(position(t.def), Some("-333.33"));
    assert_eq!(position(ghi), Some("-220.00"));
    let transfers = &proposal.transfers;
    assert!(transfers.len() <= 3, "{transfers:?}");
    let paid_to_abc: rust_decimal::Decimal = transfers
        .iter()
        .filter(|t2| t2.to_company_id == t.abc)
        .map(|t2| t2.amount.parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    assert_eq!(paid_to_abc, rust_decimal_macros::dec!(1253.33));

    let run = app
        .post(
            "/api/v1/finance/netting",
            &t.finance,
            json!({"date": "2026-03-10"}),
        )
        .await;
    let run: NettingView = run.typed(201);
    let mut settled = run.orders.clone();
    settled.sort();
    assert_eq!(settled, ids);
    assert_eq!(
        serde_json::to_value(&run.transfers).unwrap(),
        serde_json::to_value(&proposal.transfers).unwrap()
    );
    for id in &ids {
        let order = app
            .get(&format!("/api/v1/intercompany-orders/{id}"), &t.finance)
            .await;
        let order = order.assert_status(200);
        assert_eq!(order["status"], "settled");
        assert_eq!(order["settle_date"], "2026-03-10");
        assert_eq!(order["entries"].as_array().unwrap().len(), 5);
    }
    // Posting again books nothing twice.
    let again = app
        .post(
            "/api/v1/finance/netting",
            &t.finance,
            json!({"date": "2026-03-10"}),
        )
        .await;
    assert_eq!(again.assert_status(200)["id"], Value::Null);
    assert_eq!(again.body["orders"], json!([]));
    let runs = app.get("/api/v1/finance/netting-runs", &t.finance).await;
    let runs: Vec<NettingView> = runs.items();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, run.id);
}
