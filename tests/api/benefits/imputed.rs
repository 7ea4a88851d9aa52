//! The month's imputed income (§7): the taxable part of what was earned in the month, with
//! the year's allowance drawn by earlier months, household orders under the employee.

use super::*;

#[tokio::test]
async fn each_month_reports_what_it_earned_after_the_years_allowance() {
    let shop = Shop::open("EUR").await;
    let de = shop
        .company(
            "DE-AG",
            json!({"benefit_tax_rule": "de_estg_8_3", "currency": "EUR",
                                  "country": "DE"}),
        )
        .await;
    let plain = shop.company("PLAIN", json!({"currency": "EUR"})).await;
    let car = shop.product("CAR", de, "7500.00", json!({})).await;
    let lamp = shop.product("LAMP", de, "100.00", json!({})).await;
    let t20 = shop.tier("t20", "20").await;
    let hans = shop.employee("hans@de.example", de, &t20).await;
    let other = shop.employee("otto@plain.example", plain, &t20).await;
    // March: the car. 1,200 of benefit, 1,080 free, 120 taxable.
    shop.fulfilled(&hans, &car, 1).await;
    shop.fulfilled(&other, &lamp, 1).await;
    // April: a lamp for Hans and one for his spouse; the allowance is spent, so each lamp's
    // benefit (96 − 80 = 16) is taxable whole.
    shop.app.clock.set_today(day("2026-04-10"));
    shop.fulfilled(&hans, &lamp, 1).await;
    let spouse: Value = hans
        .post(
            "/api/v1/me/household",
            json!({"full_name": "Greta", "relationship": "spouse"}),
        )
        .await
        .assert_status(201)
        .clone();
    let order: OrderView = hans
        .post_keyed(
            "/api/v1/orders",
            "for-greta",
            json!({"lines": [{"product_id": lamp.id, "quantity": 1}],
                   "for_member_id": spouse["id"]}),
        )
        .await
        .typed(201);
    shop.group
        .admin
        .order_action(&order, "fulfil")
        .await
        .assert_status(200);

    let month = |period: &'static str| {
        let finance = shop.finance.clone();
        async move {
            finance
                .get(&format!("/api/v1/finance/imputed-income?period={period}"))
                .await
        }
    };
    let march = month("2026-03").await;
    assert_eq!(
        march.assert_status(200)["items"],
        json!([{"employee_id": hans.id, "company_id": de, "rule": "de_estg_8_3",
                "benefit_type": "employee_discount", "amount": "120.00", "currency": "EUR"}])
    );
    let april = month("2026-04").await;
    assert_eq!(april.assert_status(200)["items"][0]["amount"], "32.00");
    assert_eq!(april.body["items"].as_array().unwrap().len(), 1);
    month("2026-05")
        .await
        .assert_problem(422, "validation_failed");

    let csv = shop
        .app
        .client
        .get(
            shop.app
                .url("/api/v1/finance/imputed-income?period=2026-04"),
        )
        .bearer_auth(&shop.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv,
        format!(
            "employee_id,company_id,rule,benefit_type,amount,currency\n\
             {},{de},de_estg_8_3,employee_discount,32.00,EUR\n",
            hans.id
        )
    );
}
