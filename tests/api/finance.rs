//! Finance closing the books on internal trade: reconciliation of both legs per pair (with an
//! FX remeasurement and a one-sided adjustment), eliminations that balance, internal sales,
//! netting four companies in two currencies, and a closed month that refuses every booking.

use internal_store::catalog::dto::ProductView;
use internal_store::finance::dto::NettingView;
use internal_store::identity::dto::{CompanyView, EmployeeView};
use internal_store::intercompany::dto::IcOrderView;
use internal_store::orders::dto::OrderView;
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
    t.rate("USD", "EUR", "0.95", "2026-03-25").await;
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

    // Eliminations balance to the cent: revenue against cost of sales, payables against
    // receivables at the month's end.
    let eliminations = app
        .get("/api/v1/finance/eliminations?period=2026-03", &t.finance)
        .await;
    let eliminations = eliminations.assert_status(200).clone();
    let amounts: Vec<(String, String, String)> = eliminations["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["debit_account"].as_str().unwrap().to_owned(),
                e["credit_account"].as_str().unwrap().to_owned(),
                e["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(amounts.len(), 4);
    let sum = |account: &str, debit: bool| -> rust_decimal::Decimal {
        amounts
            .iter()
            .filter(|(d, c, _)| if debit { d == account } else { c == account })
            .map(|(_, _, a)| a.parse::<rust_decimal::Decimal>().unwrap())
            .sum()
    };
    assert_eq!(
        sum("intercompany_revenue", true),
        rust_decimal_macros::dec!(1650.00)
    );
    assert_eq!(
        sum("intercompany_cost_of_sales", false),
        rust_decimal_macros::dec!(1650.00)
    );
    assert_eq!(
        sum("intercompany_payables", true),
        rust_decimal_macros::dec!(1650.00)
    );
    assert_eq!(eliminations["total_debits"], "3300.00");
    assert_eq!(eliminations["total_debits"], eliminations["total_credits"]);

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
        ("eliminations", "seller_company_id,buyer_company_id,debit_account,credit_account,amount,currency,description", 4),
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
    let runs = runs.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], json!(run.id));
}

#[tokio::test]
async fn the_benefits_report_splits_discounts_as_publication_15_b_does() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let company = |body: Value| {
        let admin = group.admin.clone();
        async move {
            admin
                .post("/api/v1/companies", body)
                .await
                .typed::<CompanyView>(201)
                .id
        }
    };
    // ABC (the employer, and a seller) has 12 % gross profit; XYZ sells in another line of
    // business.
    let abc = company(
        json!({"code": "ABC", "name": "ABC", "parent_id": group.root_id, "currency": "USD",
                             "country": "US", "benefit_tax_rule": "us_irc_132",
                             "qualified_discount_gp_percent": "12", "line_of_business": "3341"}),
    )
    .await;
    let xyz = company(
        json!({"code": "XYZ", "name": "XYZ", "parent_id": group.root_id, "currency": "USD",
                             "country": "US", "qualified_discount_gp_percent": "40",
                             "line_of_business": "4481"}),
    )
    .await;
    let category = group.category("things").await;
    let product = |sku: &'static str, seller: Uuid, price: &'static str, extra: Value| {
        group
            .product(sku, &category, price)
            .seller(seller)
            .with(extra)
            .create()
    };
    let gadget = product("GADGET", abc, "1000.00", json!({})).await;
    let service = product("CARE", abc, "500.00", json!({"kind": "service"})).await;
    let internal = product(
        "STAFF-ONLY",
        abc,
        "100.00",
        json!({"offered_to_customers": false}),
    )
    .await;
    let shirt = product("SHIRT", xyz, "100.00", json!({})).await;
    let tier = group
        .tier("staff", "30")
        .eligible(&["direct"])
        .create()
        .await;
    let (ada, ada_token) = group
        .employee("ada@abc.example")
        .company(abc)
        .tier(&tier)
        .create_viewed()
        .await;
    let (jo, jo_token) = group
        .employee("jo@jkl.example")
        .tier(&tier)
        .create_viewed()
        .await;
    let fulfilled = |who: &Actor, key: &'static str, lines: Vec<(&ProductView, i64)>| {
        let (who, admin) = (who.clone(), group.admin.clone());
        let lines: Vec<(Uuid, i64)> = lines.into_iter().map(|(p, q)| (p.id, q)).collect();
        async move {
            let order = who.order(key, lines).await.typed::<OrderView>(201);
            admin
                .order_action(&order, "fulfil")
                .await
                .assert_status(200);
        }
    };
    fulfilled(
        &ada_token,
        "a1",
        vec![(&gadget, 1), (&service, 1), (&internal, 1)],
    )
    .await;
    fulfilled(&ada_token, "a2", vec![(&shirt, 1)]).await;
    // Placed but not fulfilled: not a benefit yet.
    ada_token
        .order("a3", [(&gadget, 1)])
        .await
        .assert_status(201);
    fulfilled(&jo_token, "j1", vec![(&gadget, 1)]).await;

    let finance = group
        .employee("fin@jkl.example")
        .roles(&["employee", "finance"])
        .create_viewed()
        .await
        .1;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let report = app
        .get(
            &format!("/api/v1/finance/employee-benefits?year={year}"),
            &finance,
        )
        .await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["currency"], "USD");
    let item = |employee: &EmployeeView| {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["employee_id"] == employee.id.to_string())
            .cloned()
            .unwrap()
    };
    // Ada (ABC, us_irc_132): the 1 000 gadget at 30 % → 120 qualified (12 % of list), 180
    // taxable; the 500 service → 100 qualified (20 % cap), 50 taxable; the staff-only product
    // and XYZ's shirt (another line of business) → all 60 taxable.
    assert_eq!(
        item(&ada),
        json!({"employee_id": ada.id, "company_id": abc, "client_type": "operational", "orders": 2,
               "list_total": "1700.00", "discount_total": "510.00",
               "qualified_discount": "220.00", "taxable_excess": "290.00"})
    );
    // Jo's employer has no rule: the discount is reported whole, nothing is split.
    let jo_item = item(&jo);
    assert_eq!(jo_item["discount_total"], "300.00");
    assert_eq!(jo_item["qualified_discount"], "300.00");
    assert_eq!(jo_item["taxable_excess"], "0.00");

    let by_company = app
        .get(
            &format!("/api/v1/finance/employee-benefits?year={year}&group_by=company"),
            &finance,
        )
        .await;
    let items = by_company.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["employee_id"].is_null()));

    // The payroll export.
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/finance/employee-benefits?year={year}")))
        .bearer_auth(&finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "employee_id,company_id,client_type,orders,list_total,discount_total,qualified_discount,taxable_excess,currency"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines.contains(
        &format!(
            "{},{abc},operational,2,1700.00,510.00,220.00,290.00,USD",
            ada.id
        )
        .as_str()
    ));
}
