//! Netting with the fewest transfers, truly: positions +400, +300, +300, −600, −400 settle in
//! three transfers (the largest-first rule needs four), and every settled order leaves the
//! same audit trail as `settle`.

use super::*;

#[tokio::test]
async fn netting_finds_the_zero_sum_subgroups_and_audits_each_settled_order() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-05-04"));
    let t = trade(&app).await;
    let ghi = t.group.company("GHI").create().await.id;
    let mno = t.group.company("MNO").create().await.id;
    let pqr = t.group.company("PQR").create().await.id;
    let buyer = |company: Uuid, email: &'static str| {
        t.group
            .employee(email)
            .company(company)
            .roles(&["employee", "purchaser"])
            .create()
    };
    let mno_purchaser = buyer(mno, "mo@mno.example").await;
    let pqr_purchaser = buyer(pqr, "pia@pqr.example").await;
    // Each seller sells at cost (cost plus 0 %): 100.00 a unit.
    let mut goods = Vec::new();
    for seller in [t.abc, t.def, ghi] {
        t.finance
            .post(
                "/api/v1/transfer-pricing-policies",
                json!({"seller_company_id": seller, "method": "cost_plus", "percent": "0",
                       "valid_from": "2026-01-01"}),
            )
            .await
            .assert_status(201);
        let product = t
            .group
            .product(&format!("P-{seller}"), &t.category, "100.00")
            .seller(seller)
            .cost("100.00")
            .stock(100)
            .create()
            .await;
        goods.push((seller, product));
    }
    // MNO buys 300.00 from DEF and 300.00 from GHI; PQR buys 400.00 from ABC.
    let mut orders = Vec::new();
    for ((seller, product), (who, buyer, quantity)) in goods.iter().zip([
        (&pqr_purchaser, pqr, 4),
        (&mno_purchaser, mno, 3),
        (&mno_purchaser, mno, 3),
    ]) {
        let body = json!({"buyer_company_id": buyer, "seller_company_id": seller,
                          "lines": [{"product_id": product.id, "quantity": quantity}]});
        let order: IcOrderView = create(who, &format!("n-{seller}"), &body).await.typed(201);
        for action in ["accept", "ship"] {
            act(&t.group.admin, &order, action, json!({}))
                .await
                .assert_status(200);
        }
        orders.push(order);
    }

    let proposal = t.finance.get("/api/v1/finance/netting").await;
    let proposal = proposal.assert_status(200).clone();
    assert_eq!(proposal["exact"], true);
    let mut transfers: Vec<(String, String, String)> = proposal["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["from_company_id"].as_str().unwrap().to_owned(),
                x["to_company_id"].as_str().unwrap().to_owned(),
                x["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    transfers.sort();
    let mut expected = vec![
        (pqr.to_string(), t.abc.to_string(), "400.00".to_owned()),
        (mno.to_string(), t.def.to_string(), "300.00".to_owned()),
        (mno.to_string(), ghi.to_string(), "300.00".to_owned()),
    ];
    expected.sort();
    assert_eq!(transfers, expected);

    let run = t
        .finance
        .post("/api/v1/finance/netting", json!({"date": "2026-05-04"}))
        .await;
    assert_eq!(run.assert_status(201)["exact"], true);
    for order in &orders {
        let events = t
            .finance
            .get(&format!(
                "/api/v1/audit-events?entity_type=intercompany_order&entity_id={}",
                order.id
            ))
            .await;
        let actions: Vec<&str> = events.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"intercompany_order.settled"),
            "{actions:?}"
        );
    }
}

#[tokio::test]
async fn true_ups_and_countered_adjustments_settle_with_the_orders_and_the_pair_reconciles_to_zero()
{
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-06-10"));
    let t = trade(&app).await;
    // 10 units at cost plus 28 % (128.00) against a 5–15 % range with a 10 % target.
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(
        json!({"method": "cost_plus", "percent": "28", "min_markup_percent": "5",
                    "max_markup_percent": "15", "target_markup_percent": "10",
                    "valid_from": "2026-01-01"}),
    )
    .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    shipped(&t, &t.xyz_purchaser, t.xyz, &part, 10, "ten").await;
    // Shipped 1 280.00; the true-up: 1 100.00 − 1 280.00 = −180.00.
    t.finance
        .post(
            "/api/v1/transfer-pricing/true-ups",
            json!({"year": 2026, "date": "2026-06-10"}),
        )
        .await
        .assert_status(200);
    // A credit note of 20.00 booked by both sides, and one of 5.00 by the buyer only.
    for (company, other, side, amount) in [
        (t.abc, t.xyz, "receivable", "-20.00"),
        (t.xyz, t.abc, "payable", "-20.00"),
        (t.xyz, t.abc, "payable", "-5.00"),
    ] {
        t.finance
            .post(
                "/api/v1/finance/adjustments",
                json!({"company_id": company, "counterparty_company_id": other, "side": side,
                       "amount": amount, "date": "2026-06-10", "reason": "damaged units"}),
            )
            .await
            .assert_status(201);
    }
    // At the month's end the rate moved to 0.95.
    app.clock.set_today(day("2026-06-30"));
    t.rate("USD", "EUR", "0.95", "2026-06-30").await;
    let proposal = t.finance.get("/api/v1/finance/netting").await;
    let proposal = proposal.assert_status(200).clone();
    // XYZ owes 1 280.00 − 180.00 − 20.00 = 1 080.00 (the 5.00 stays one-sided).
    assert_eq!(
        proposal["transfers"],
        json!([{"from_company_id": t.xyz, "to_company_id": t.abc, "amount": "1080.00",
                "currency": "USD"}])
    );
    // The true-up (one posting for both sides) and the two countered adjustments.
    assert_eq!(proposal["settled_postings"].as_array().unwrap().len(), 3);
    t.finance
        .post("/api/v1/finance/netting", json!({"date": "2026-06-30"}))
        .await
        .assert_status(201);

    app.clock.set_today(day("2026-07-01"));
    let report = t
        .finance
        .get("/api/v1/finance/reconciliation?period=2026-06")
        .await;
    let pair = &report.assert_status(200)["pairs"][0];
    // Everything two-sided is settled: only the buyer's one-sided 5.00 credit note is left.
    assert_eq!(pair["receivable"], "0.00");
    assert_eq!(pair["payable"], "-5.00");
    assert_eq!(pair["unmatched"].as_array().unwrap().len(), 1);
    // XYZ booked 1 080.00 at 0.90 (972.00 EUR) and the 5.00 credit at 0.90 (−4.50 EUR); it paid
    // 1 080.00 at 0.95 (1 026.00 EUR): its realised difference makes the settled part zero.
    assert_eq!(pair["payable_booked"], "-4.50");
    // Netting again finds nothing open.
    let again = t.finance.get("/api/v1/finance/netting").await;
    assert_eq!(again.assert_status(200)["transfers"], json!([]));
}
