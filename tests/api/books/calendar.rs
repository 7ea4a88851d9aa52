//! Business dates in the group's time zone: an order fulfilled at 03:00 UTC on New Year's Day
//! is a New York group's sale of December 31st.

use super::*;

#[tokio::test]
async fn a_new_york_groups_order_fulfilled_at_three_utc_on_new_years_day_counts_in_the_old_year() {
    let app = TestApp::spawn().await;
    let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    app.clock.set_now(at("2026-12-31T20:00:00Z"));
    let t = trade(&app).await;
    let tier = t
        .group
        .tier("staff", "10")
        .allowance("1000.00")
        .create()
        .await;
    let shopper = t
        .group
        .employee("sam@abc.example")
        .company(t.abc)
        .tier(&tier)
        .create()
        .await;
    let lamp = t.product("LAMP", "40.00", "100.00", 10).await;
    let order = shopper.place_order([(&lamp, 1)]).await;
    app.clock.set_now(at("2027-01-01T03:00:00Z"));
    t.group
        .admin
        .order_action(&order, "fulfil")
        .await
        .assert_status(200);

    // In UTC (the default) the sale is January's.
    let sales = |period: &'static str| {
        let finance = t.finance.clone();
        async move {
            finance
                .get(&format!("/api/v1/finance/internal-sales?period={period}"))
                .await
        }
    };
    assert_eq!(
        sales("2026-12").await.assert_status(200)["items"],
        json!([])
    );
    assert_eq!(
        sales("2027-01").await.assert_status(200)["items"][0]["employee_sales"],
        "90.00"
    );

    // Only the root company carries the group's time zone, and only a real one.
    t.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", t.abc),
            json!({"time_zone": "America/New_York"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    t.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", t.group.root_id),
            json!({"time_zone": "America/Gotham"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    let root = t
        .group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", t.group.root_id),
            json!({"time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(root.assert_status(200)["time_zone"], "America/New_York");

    // In New York it is still 22:00 on December 31st: the sale is December's, January has
    // not begun, and the benefit belongs to 2026.
    let december = sales("2026-12").await;
    assert_eq!(
        december.assert_status(200)["items"][0]["employee_sales"],
        "90.00"
    );
    sales("2027-01")
        .await
        .assert_problem(422, "validation_failed");
    let benefits = t
        .finance
        .get("/api/v1/finance/employee-benefits?year=2026")
        .await;
    let item = &benefits.assert_status(200)["items"][0];
    assert_eq!(item["employee_id"], json!(shopper.id));
    assert_eq!(item["orders"], 1);
    let next_year = t
        .finance
        .get("/api/v1/finance/employee-benefits?year=2027")
        .await;
    assert_eq!(next_year.assert_status(200)["items"], json!([]));
    // December has not ended there yet: it cannot be closed.
    t.finance
        .post("/api/v1/finance/periods/2026-12/close", json!({}))
        .await
        .assert_problem(422, "validation_failed");
    // Once a month is closed the calendar stays: moving it would move sales across its edge.
    t.finance
        .post("/api/v1/finance/periods/2026-11/close", json!({}))
        .await
        .assert_status(201);
    let root = format!("/api/v1/companies/{}", t.group.root_id);
    t.group
        .admin
        .patch(&root, json!({"time_zone": "Europe/Berlin"}))
        .await
        .assert_problem(409, "conflict");
    t.group
        .admin
        .patch(&root, json!({"time_zone": "America/New_York"}))
        .await
        .assert_status(200);

    // Lists filter by the group's months too: an intercompany order placed, shipped and rated
    // at 03:00 UTC on New Year's Day is December's in New York.
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    t.rate("USD", "EUR", "0.9", "2026-12-01").await;
    let sold = shipped(&t, &t.xyz_purchaser, t.xyz, &lamp, 1, "new-year").await;
    t.xyz_purchaser
        .post(
            &format!("/api/v1/intercompany-orders/{}/feedback", sold.id),
            json!({"rating": 4}),
        )
        .await
        .assert_status(201);
    for (period, count) in [("2026-12", 1), ("2027-01", 0)] {
        for list in ["intercompany-orders", "feedback"] {
            let page = t
                .finance
                .get(&format!("/api/v1/{list}?period={period}"))
                .await;
            let items = page.assert_status(200)["items"].as_array().unwrap().len();
            assert_eq!(items, count, "{list} of {period}");
        }
    }
}
