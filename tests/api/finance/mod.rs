//! Finance closing the books on internal trade: reconciliation of both legs per pair (with an
//! FX remeasurement and a one-sided adjustment), eliminations that balance, internal sales,
//! netting four companies in two currencies, and a closed month that refuses every booking.

mod closing;
mod settlement;

use internal_store::catalog::dto::ProductView;
use internal_store::finance::dto::NettingView;
use internal_store::intercompany::dto::IcOrderView;
use uuid::Uuid;

use crate::helpers::trade::{act, create, day, trade, Trade};
use crate::helpers::{Actor, TestApp};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

/// Orders XYZ (or another buyer) places with ABC, accepted and shipped today.
async fn shipped(
    t: &Trade,
    buyer: Uuid,
    who: &Actor,
    product: &ProductView,
    quantity: i64,
    key: &str,
) -> IcOrderView {
    let body = json!({"buyer_company_id": buyer, "seller_company_id": t.abc,
                      "lines": [{"product_id": product.id, "quantity": quantity}]});
    let order: IcOrderView = create(who, key, &body).await.typed(201);
    act(&t.abc_purchaser, &order, "accept", json!({}))
        .await
        .assert_status(200);
    act(&t.abc_purchaser, &order, "ship", json!({}))
        .await
        .typed(200)
}

fn pair(report: &Value, buyer: Uuid) -> &Value {
    report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["buyer_company_id"] == buyer.to_string())
        .unwrap()
}

#[tokio::test]
async fn a_month_reconciles_pairs_remeasures_payables_and_names_one_sided_documents() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-05"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    t.rate("USD", "EUR", "0.9", "2026-03-01").await;
    shipped(&t, t.xyz, &t.xyz_purchaser, &part, 10, "xyz").await; // 1 100.00 USD
    shipped(&t, t.def, &t.def_purchaser, &part, 5, "def").await; // 550.00 USD
                                                                 // DEF disputes one damaged unit's worth on its side only.
    app.clock.set_today(day("2026-03-20"));
    let adjustment = app
        .post(
            "/api/v1/finance/adjustments",
            &t.finance,
            json!({"company_id": t.def, "counterparty_company_id": t.abc, "side": "payable",
                   "amount": "-25.00", "date": "2026-03-20", "reason": "dispute: one unit damaged"}),
        )
        .await;
    let adjustment = adjustment.assert_status(201).clone();

    app.clock.set_today(day("2026-03-25"));
    t.rate("USD", "EUR", "0.95", "2026-03-25").await;
    app.clock.set_today(day("2026-04-02"));
    let report = app
        .get("/api/v1/finance/reconciliation?period=2026-03", &t.finance)
        .await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["group_currency"], "USD");
    assert_eq!(report["as_of"], "2026-03-31");
    // ABC → XYZ: both legs agree in USD; XYZ's EUR payable booked at 0.90 is worth 0.95 now.
    let xyz = pair(&report, t.xyz);
    assert_eq!(
        (
            &xyz["receivable"],
            &xyz["payable"],
            &xyz["difference"],
            &xyz["status"]
        ),
        (
            &json!("1100.00"),
            &json!("1100.00"),
            &json!("0.00"),
            &json!("matched")
        )
    );
    assert_eq!(xyz["buyer_currency"], "EUR");
    assert_eq!(xyz["payable_booked"], "990.00");
    assert_eq!(xyz["payable_remeasured"], "1045.00");
    assert_eq!(xyz["unrealised_fx"], "55.00");
    assert_eq!(xyz["unmatched"], json!([]));
    // ABC → DEF: the one-sided adjustment leaves 25.00 unexplained, and names the document.
    let def = pair(&report, t.def);
    assert_eq!(
        (
            &def["receivable"],
            &def["payable"],
            &def["difference"],
            &def["status"]
        ),
        (
            &json!("550.00"),
            &json!("525.00"),
            &json!("25.00"),
            &json!("mismatched")
        )
    );
    assert_eq!(def["difference_group"], "25.00");
    assert_eq!(
        def["unmatched"],
        json!([{"document": adjustment["id"], "company_id": t.def, "amount": "-25.00",
                "currency": "USD", "reason": "dispute: one unit damaged"}])
    );

    // Eliminations balance to the cent: revenue against cost of sales; each payable against
    // its receivable, DEF's 25.00 short to intercompany differences (no phantom balance).
    let eliminations = app
        .get("/api/v1/finance/eliminations?period=2026-03", &t.finance)
        .await;
    let eliminations = eliminations.assert_status(200).clone();
    let entries: Vec<(Value, &str, &str, &str)> = eliminations["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["buyer_company_id"].clone(),
                e["debit_account"].as_str().unwrap(),
                e["credit_account"].as_str().unwrap(),
                e["amount"].as_str().unwrap(),
            )
        })
        .collect();
    let (xyz, def) = (json!(t.xyz), json!(t.def));
    for expected in [
        (&xyz, "intercompany_revenue", "cost_of_sales", "1100.00"),
        (
            &xyz,
            "intercompany_payables",
            "intercompany_receivables",
            "1100.00",
        ),
        (&def, "intercompany_revenue", "cost_of_sales", "550.00"),
        (
            &def,
            "intercompany_payables",
            "intercompany_receivables",
            "525.00",
        ),
        (
            &def,
            "intercompany_differences",
            "intercompany_receivables",
            "25.00",
        ),
    ] {
        assert!(
            entries
                .iter()
                .any(|(b, d, c, a)| (b, *d, *c, *a) == expected),
            "{expected:?} missing from {entries:?}"
        );
    }
    assert_eq!(entries.len(), 5);
    assert_eq!(eliminations["total_debits"], "3300.00");
    assert_eq!(eliminations["total_debits"], eliminations["total_credits"]);
    assert_eq!(eliminations["closed_at"], Value::Null);

    let sales = app
        .get("/api/v1/finance/internal-sales?period=2026-03", &t.finance)
        .await;
    let item = &sales.assert_status(200)["items"][0];
    assert_eq!(item["company_id"], json!(t.abc));
    assert_eq!(item["intercompany_sales"], "1650.00");
    assert_eq!(item["employee_sales"], "0.00");

    // Every report answers CSV when asked.
    for (path, header, rows) in [
        ("reconciliation", "seller_company_id,buyer_company_id,currency,receivable,payable,difference,status", 2),
        ("eliminations", "seller_company_id,buyer_company_id,debit_account,credit_account,amount,currency,description", 5),
        ("internal-sales", "company_id,employee_sales,intercompany_sales,total,currency", 1),
    ] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/finance/{path}?period=2026-03")))
            .bearer_auth(&t.finance.token)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = response.text().await.unwrap();
        assert!(text.starts_with(header), "{text}");
        assert_eq!(text.lines().count(), 1 + rows, "{text}");
    }
    assert!(app
        .client
        .get(app.url("/api/v1/finance/reconciliation?period=2026-03"))
        .bearer_auth(&t.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains(&format!(
            "{},{},USD,550.00,525.00,25.00,mismatched",
            t.abc, t.def
        )));

    // ABC books the countering credit note: the pair matches and nothing is one-sided.
    app.post(
        "/api/v1/finance/adjustments",
        &t.finance,
        json!({"company_id": t.abc, "counterparty_company_id": t.def, "side": "receivable",
               "amount": "-25.00", "date": "2026-03-31", "reason": "credit note for the damaged unit"}),
    )
    .await
    .assert_status(201);
    let report = app
        .get("/api/v1/finance/reconciliation?period=2026-03", &t.finance)
        .await;
    let def = pair(report.assert_status(200), t.def);
    assert_eq!(def["status"], "matched");
    assert_eq!(def["unmatched"], json!([]));
    // Only finance reads the books.
    app.get(
        "/api/v1/finance/reconciliation?period=2026-03",
        &t.abc_purchaser,
    )
    .await
    .assert_problem(403, "forbidden");
}
