//! Netting, and the employee-benefits report.

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
    // Grouped totals are the employees' totals summed (Ada alone works for ABC).
    let abc_total = items
        .iter()
        .find(|i| i["company_id"] == abc.to_string())
        .unwrap();
    assert_eq!(
        abc_total,
        &json!({"employee_id": null, "company_id": abc, "client_type": null, "orders": 2,
                "list_total": "1700.00", "discount_total": "510.00",
                "qualified_discount": "220.00", "taxable_excess": "290.00"})
    );
    let by_client_type = app
        .get(
            &format!("/api/v1/finance/employee-benefits?year={year}&group_by=client_type"),
            &finance,
        )
        .await;
    assert_eq!(
        by_client_type.assert_status(200)["items"],
        json!([{"employee_id": null, "company_id": null, "client_type": "operational", "orders": 3,
                "list_total": "2700.00", "discount_total": "810.00",
                "qualified_discount": "520.00", "taxable_excess": "290.00"}])
    );

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
