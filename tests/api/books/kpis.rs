//! KPIs that cannot be gamed: on time is measured on every order promised for a day of the
//! month, by the moment shipping was recorded; unshipped ones are late and counted overdue.

use super::*;

#[tokio::test]
async fn one_order_on_time_and_four_overdue_is_an_on_time_rate_of_one_in_five() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-10-01"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    // Five orders promised for October 10th.
    let mut orders = Vec::new();
    for n in 0..5 {
        let order = requested(&t, &t.xyz_purchaser, t.xyz, &part, 1, &format!("o{n}")).await;
        act(
            &t.abc_purchaser,
            &order,
            "accept",
            json!({"promised_date": "2026-10-10"}),
        )
        .await
        .assert_status(200);
        orders.push(order);
    }
    // One shipped on the 9th: on time.
    app.clock.set_today(day("2026-10-09"));
    act(&t.abc_purchaser, &orders[0], "ship", json!({}))
        .await
        .assert_status(200);
    // One shipped on November 3rd with its booking date set back to October 5th: the moment it
    // was shipped decides, so it is late, and it was still overdue at October's end.
    app.clock.set_today(day("2026-11-03"));
    act(
        &t.abc_purchaser,
        &orders[1],
        "ship",
        json!({"date": "2026-10-05"}),
    )
    .await
    .assert_status(200);

    let report = t
        .finance
        .get("/api/v1/kpis/internal-service?period=2026-10")
        .await;
    let abc = report.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["company_id"] == json!(t.abc))
        .unwrap()
        .clone();
    assert_eq!(abc["on_time_rate"], "0.2");
    assert_eq!(abc["overdue_open"], 4);
    // November: nobody promised anything for it; three are still overdue now.
    let november = t
        .finance
        .get("/api/v1/kpis/internal-service?period=2026-11")
        .await;
    let abc = november.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["company_id"] == json!(t.abc))
        .unwrap()
        .clone();
    assert_eq!(abc["on_time_rate"], Value::Null);
    assert_eq!(abc["overdue_open"], 3);
}
