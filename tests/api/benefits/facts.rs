//! Facts fixed at fulfilment, the `none` rule, the payroll file and its pages, refusals.

use super::*;
use diesel_async::RunQueryDsl;

#[tokio::test]
async fn a_change_of_master_data_after_fulfilment_changes_no_figure_of_the_year() {
    let shop = Shop::open("USD").await;
    let shoes = shop
        .company("SHOES", json!({"benefit_tax_rule": "us_irc_132",
                                  "qualified_discount_gp_percent": "35", "line_of_business": "5661"}))
        .await;
    let boots = shop.product("BOOTS", shoes, "200.00", json!({})).await;
    let t40 = shop.tier("t40", "40").await;
    let ann = shop.employee("ann@shoes.example", shoes, &t40).await;
    shop.fulfilled(&ann, &boots, 1).await;
    let before = shop.report("&detail=lines").await;
    assert_eq!(split(&before["items"][0]), ("80.00", "70.00", "10.00"));

    // In 2027 the gross-profit percentage, the industry code and the product change, and Ann
    // becomes highly compensated: the 2026 figures already filed stay as they were.
    let admin = &shop.group.admin;
    admin
        .patch(
            &format!("/api/v1/companies/{shoes}"),
            json!({"qualified_discount_gp_percent": "10", "line_of_business": "4451"}),
        )
        .await
        .assert_status(200);
    admin
        .patch(
            &format!("/api/v1/products/{}", boots.id),
            json!({"offered_to_customers": false, "list_price": "500.00"}),
        )
        .await
        .assert_status(200);
    shop.finance
        .patch(
            &format!("/api/v1/employees/{}", ann.id),
            json!({"highly_compensated": true}),
        )
        .await
        .assert_status(200);
    assert_eq!(shop.report("&detail=lines").await, before);

    // A line fulfilled after the change records the new facts: no longer offered to outside
    // customers, its whole discount is taxable.
    let bea = shop.employee("bea@shoes.example", shoes, &t40).await;
    shop.fulfilled(&bea, &boots, 1).await;
    let item = shop.item(&bea).await;
    assert_eq!(split(&item), ("200.00", "0.00", "200.00"));

    // The recorded facts are append-only in the database itself.
    let mut conn = shop.app.db.connect().await;
    for statement in [
        "UPDATE benefit_lines SET paid_total = list_total",
        "DELETE FROM benefit_lines",
        "TRUNCATE benefit_lines",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn).await;
        assert!(refused.is_err(), "{statement} must be refused");
    }
}

#[tokio::test]
async fn rule_none_computes_nothing_and_the_payroll_file_pages_and_streams() {
    let shop = Shop::open("USD").await;
    let plain = shop.company("PLAIN", json!({})).await;
    let mug = shop.product("MUG", plain, "10.00", json!({})).await;
    let t30 = shop.tier("t30", "30").await;
    let mut staff = Vec::new();
    for n in 0..3 {
        let who = shop
            .employee(&format!("p{n}@plain.example"), plain, &t30)
            .await;
        shop.fulfilled(&who, &mug, 2).await;
        staff.push(who);
    }
    // Placed but not fulfilled, and cancelled: no benefit.
    let placed: OrderView = staff[0].order("open", [(&mug, 1)]).await.typed(201);
    let cancelled: OrderView = staff[0].order("gone", [(&mug, 1)]).await.typed(201);
    staff[0]
        .order_action(&cancelled, "cancel")
        .await
        .assert_status(200);
    assert_eq!(placed.status.to_string(), "placed");

    let item = shop.item(&staff[0]).await;
    assert_eq!(
        item,
        json!({"employee_id": staff[0].id, "company_id": plain, "client_type": "operational",
               "rule": "none", "currency": "USD", "orders": 1, "list_total": "20.00",
               "paid_total": "14.00", "discount_total": "6.00", "qualified_discount": null,
               "taxable_excess": null, "allowance_used": null, "taxable_excess_group": null})
    );
    let lines = shop.report("&detail=lines&limit=1").await;
    assert_eq!(lines["items"][0]["lines"][0]["reason"], "not_computed");
    assert_eq!(lines["items"][0]["lines"][0]["taxable_excess"], Value::Null);

    // Keyset pages of one employee each: every employee once, in id order.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = shop.report(&format!("&limit=1{cursor}")).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        seen.push(items[0]["employee_id"].as_str().unwrap().to_owned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut ids: Vec<String> = staff.iter().map(|a| a.id.to_string()).collect();
    ids.sort();
    assert_eq!(seen, ids);

    // The payroll file: a header and one record per employee; with detail, one per line.
    let csv = |query: &'static str| {
        let request = shop
            .app
            .client
            .get(shop.app.url(&format!(
                "/api/v1/finance/employee-benefits?year=2026{query}"
            )))
            .bearer_auth(&shop.finance.token)
            .header("Accept", "text/csv");
        async move {
            let response = request.send().await.unwrap();
            assert!(response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv"));
            response.text().await.unwrap()
        }
    };
    let file = csv("").await;
    let records: Vec<&str> = file.lines().collect();
    assert_eq!(records[0], "employee_id,company_id,client_type,rule,currency,orders,list_total,paid_total,discount_total,qualified_discount,taxable_excess,allowance_used,taxable_excess_group,group_currency");
    assert_eq!(records.len(), 4);
    assert!(records.contains(
        &format!(
            "{},{plain},operational,none,USD,1,20.00,14.00,6.00,,,,,USD",
            staff[1].id
        )
        .as_str()
    ));
    let detail = csv("&detail=lines").await;
    assert_eq!(detail.lines().count(), 4);
    assert!(detail.lines().nth(1).unwrap().ends_with(",not_computed"));
    let next_year = shop
        .finance
        .get("/api/v1/finance/employee-benefits?year=2027")
        .await;
    assert_eq!(next_year.assert_status(200)["items"], json!([]));
}

#[tokio::test]
async fn a_fulfilment_with_no_rate_into_the_payroll_currency_is_refused_and_changes_nothing() {
    let shop = Shop::open("USD").await;
    let seller = shop.company("SELLER", json!({})).await;
    let london = shop
        .company(
            "LONDON",
            json!({"currency": "GBP", "country": "GB",
                                   "benefit_tax_rule": "uk_bik_cost"}),
        )
        .await;
    let mug = shop
        .product("MUG", seller, "10.00", json!({"unit_cost": "8.00"}))
        .await;
    let t30 = shop.tier("t30", "30").await;
    let ian = shop.employee("ian@london.example", london, &t30).await;
    let order: OrderView = ian.order("k1", [(&mug, 1)]).await.typed(201);
    shop.group
        .admin
        .order_action(&order, "fulfil")
        .await
        .assert_problem(422, "fx_rate_missing");
    let still: Value = ian
        .get(&format!("/api/v1/orders/{}", order.id))
        .await
        .assert_status(200)
        .clone();
    assert_eq!(still["status"], "placed");
    assert_eq!(shop.report("").await["items"], json!([]));

    // With the day's rate (1 GBP = 1.25 USD: 1 USD = 0.8 GBP) it goes through: 10 USD list is
    // 8.00 GBP, 7 USD paid is 5.60 GBP, the 8 USD cost 6.40 GBP → 0.80 GBP taxable, 1.00 USD.
    shop.rate("GBP", "USD", "1.25").await;
    shop.group
        .admin
        .order_action(&order, "fulfil")
        .await
        .assert_status(200);
    let item = shop.item(&ian).await;
    assert_eq!(item["currency"], "GBP");
    assert_eq!(item["list_total"], "8.00");
    assert_eq!(item["paid_total"], "5.60");
    assert_eq!(item["taxable_excess"], "0.80");
    assert_eq!(item["taxable_excess_group"], "1.00");

    // An industry code is four SIC digits.
    shop.group
        .admin
        .patch(
            &format!("/api/v1/companies/{london}"),
            json!({"line_of_business": "56a1"}),
        )
        .await
        .assert_problem(422, "validation_failed");
}
