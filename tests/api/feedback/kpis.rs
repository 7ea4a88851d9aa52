//! The internal-service KPIs of a hand-built month.

use super::*;

/// Sets an employee order's placing and fulfilment times.
async fn employee_times(app: &TestApp, order: &str, created: &str, fulfilled: Option<&str>) {
    let fulfilled = fulfilled.map_or("fulfilled_at".to_owned(), |f| format!("'{f}'"));
    sql(
        app,
        &format!(
            "UPDATE orders SET created_at = '{created}', fulfilled_at = {fulfilled} WHERE id = '{order}'"
        ),
    )
    .await;
}

/// Sets an intercompany order's request, acceptance and shipping times and dates.
async fn ic_times(
    app: &TestApp,
    order: &str,
    created: &str,
    accepted: Option<&str>,
    shipped: Option<(&str, &str)>,
    promised: Option<&str>,
) {
    let quoted = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
    let mut set = format!(
        "created_at = '{created}', accepted_at = {}, promised_date = {}",
        quoted(accepted),
        quoted(promised)
    );
    if let Some((at, date)) = shipped {
        set.push_str(&format!(", shipped_at = '{at}', ship_date = '{date}'"));
    }
    sql(
        app,
        &format!("UPDATE intercompany_orders SET {set} WHERE id = '{order}'"),
    )
    .await;
}

fn item<'a>(report: &'a Value, company: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["company_id"] == company)
        .unwrap_or_else(|| panic!("no item for {company} in {report}"))
}

#[tokio::test]
async fn the_internal_service_kpis_of_a_hand_built_month() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    // Employee orders with ABC in October 2026: four fulfilled after 10, 20, 40 and 41 hours
    // (median 30), one still placed; two rated (5 and 3), one of them answered.
    let fulfil_hours = [10, 20, 40, 41];
    let mut fulfilled = Vec::new();
    for (n, hours) in fulfil_hours.iter().enumerate() {
        let order = w.order(&w.alice, &format!("kpi-{n}")).await;
        w.fulfil(&order).await;
        let created = chrono::DateTime::parse_from_rfc3339("2026-10-05T08:00:00Z").unwrap()
            + chrono::TimeDelta::days(n as i64);
        let done = created + chrono::TimeDelta::hours(*hours);
        employee_times(
            &app,
            &order,
            &created.to_rfc3339(),
            Some(&done.to_rfc3339()),
        )
        .await;
        fulfilled.push(order);
    }
    let placed = w.order(&w.alice, "kpi-placed").await;
    employee_times(&app, &placed, "2026-10-20T08:00:00Z", None).await;
    // September's fulfilled order counts in September only.
    let september = w.order(&w.bob, "kpi-sept").await;
    w.fulfil(&september).await;
    employee_times(
        &app,
        &september,
        "2026-09-30T23:00:00Z",
        Some("2026-10-01T23:00:00Z"),
    )
    .await;
    for (order, rating) in [(&fulfilled[0], 5), (&fulfilled[1], 3)] {
        app.post(
            &format!("/api/v1/orders/{order}/feedback"),
            &w.alice,
            json!({"rating": rating}),
        )
        .await
        .assert_status(201);
    }
    app.post(
        &format!("/api/v1/orders/{}/feedback/reply", fulfilled[0]),
        &w.abc_purchaser,
        json!({"comment": "Thank you"}),
    )
    .await
    .assert_status(201);

    // Intercompany orders XYZ requested from ABC in October:
    //   A accepted after 2 h, shipped 24 h later on the 9th, promised for the 10th (on time)
    //   B accepted after 4 h, shipped 48 h later on the 10th, promised for the 9th (late)
    //   C accepted after 6 h, shipped 30 h later, no promised date (not counted for on-time)
    //   D rejected; E still requested (not answered, so not in the rejection rate)
    // Acceptance median 4 h, shipping median 30 h, on time 1/2, rejected 1/4.
    // A rated 4 and answered, B rated 1.
    let a = w.ic_order("kpi-a").await;
    let b = w.ic_order("kpi-b").await;
    let c = w.ic_order("kpi-c").await;
    let d = w.ic_order("kpi-d").await;
    let e = w.ic_order("kpi-e").await;
    for order in [&a, &b, &c] {
        w.act(order, "accept", json!({})).await;
        w.act(order, "ship", json!({})).await;
    }
    app.post(
        &format!("/api/v1/intercompany-orders/{d}/reject"),
        &w.abc_purchaser,
        json!({}),
    )
    .await
    .assert_status(200);
    ic_times(
        &app,
        &a,
        "2026-10-07T10:00:00Z",
        Some("2026-10-07T12:00:00Z"),
        Some(("2026-10-08T12:00:00Z", "2026-10-09")),
        Some("2026-10-10"),
    )
    .await;
    ic_times(
        &app,
        &b,
        "2026-10-08T10:00:00Z",
        Some("2026-10-08T14:00:00Z"),
        Some(("2026-10-10T14:00:00Z", "2026-10-10")),
        Some("2026-10-09"),
    )
    .await;
    ic_times(
        &app,
        &c,
        "2026-10-09T10:00:00Z",
        Some("2026-10-09T16:00:00Z"),
        Some(("2026-10-10T22:00:00Z", "2026-10-10")),
        None,
    )
    .await;
    ic_times(&app, &d, "2026-10-10T10:00:00Z", None, None, None).await;
    ic_times(&app, &e, "2026-10-11T10:00:00Z", None, None, None).await;
    for (order, rating) in [(&a, 4), (&b, 1)] {
        app.post(
            &format!("/api/v1/intercompany-orders/{order}/feedback"),
            &w.xyz_purchaser,
            json!({"rating": rating}),
        )
        .await
        .assert_status(201);
    }
    app.post(
        &format!("/api/v1/intercompany-orders/{a}/feedback/reply"),
        &w.abc_admin,
        json!({"comment": "Glad it helped"}),
    )
    .await
    .assert_status(201);

    let report = app
        .get("/api/v1/kpis/internal-service?period=2026-10", &w.finance)
        .await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["period"], "2026-10");
    assert_eq!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["company_id"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>(),
        [w.group.root_id.to_string().as_str(), &w.abc, &w.xyz, &w.def]
            .into_iter()
            .collect(),
        "every company of the group (JKL, ABC, XYZ, DEF) and no other"
    );
    assert_eq!(
        item(&report, &w.abc),
        &json!({
            "company_id": w.abc,
            "employee_orders": 5,
            "employee_fulfilment_hours_p50": "30",
            "intercompany_orders": 5,
            "acceptance_hours_p50": "4",
            "shipping_hours_p50": "30",
            "on_time_rate": "0.5",
            "overdue_open": 0,
            "rejection_rate": "0.25",
            "feedback_count": 4,
            "average_rating": "3.25",
            // 4 rated among 4 fulfilled and 3 shipped.
            "response_rate": "0.5714",
            "replied_rate": "0.5",
        })
    );
    // Nothing sold by XYZ: counts are zero and every figure null.
    assert_eq!(
        item(&report, &w.xyz),
        &json!({
            "company_id": w.xyz, "employee_orders": 0, "employee_fulfilment_hours_p50": null,
            "intercompany_orders": 0, "acceptance_hours_p50": null, "shipping_hours_p50": null,
            "on_time_rate": null, "overdue_open": 0, "rejection_rate": null, "feedback_count": 0,
            "average_rating": null, "response_rate": null, "replied_rate": null,
        })
    );

    // September: the one order placed on the 30th, fulfilled after 24 h, not rated.
    let september_report = app
        .get(
            "/api/v1/kpis/internal-service?period=2026-09",
            &w.group.admin,
        )
        .await;
    let abc_september = item(september_report.assert_status(200), &w.abc);
    assert_eq!(abc_september["employee_orders"], 1);
    assert_eq!(abc_september["employee_fulfilment_hours_p50"], "24");
    assert_eq!(abc_september["response_rate"], "0");
    assert_eq!(abc_september["average_rating"], Value::Null);
    assert_eq!(abc_september["replied_rate"], Value::Null);
    assert_eq!(abc_september["intercompany_orders"], 0);
    assert_eq!(abc_september["on_time_rate"], Value::Null);

    // A purchaser sees their own company only; a plain employee nothing.
    let own = app
        .get(
            "/api/v1/kpis/internal-service?period=2026-10",
            &w.abc_purchaser,
        )
        .await;
    let own = own.assert_status(200);
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_eq!(own["items"][0]["company_id"], w.abc.as_str());
    assert_eq!(own["items"][0]["average_rating"], "3.25");
    app.get("/api/v1/kpis/internal-service?period=2026-10", &w.alice)
        .await
        .assert_problem(403, "forbidden");
    for bad in ["2026-13", "2026-1", "october"] {
        app.get(
            &format!("/api/v1/kpis/internal-service?period={bad}"),
            &w.finance,
        )
        .await
        .assert_problem(400, "validation_failed");
    }

    // CSV with Accept: text/csv, the same figures, null as an empty field.
    let response = app
        .client
        .get(app.url("/api/v1/kpis/internal-service?period=2026-10"))
        .bearer_auth(&w.abc_purchaser.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        format!(
            "company_id,employee_orders,employee_fulfilment_hours_p50,intercompany_orders,\
             acceptance_hours_p50,shipping_hours_p50,on_time_rate,overdue_open,rejection_rate,\
             feedback_count,average_rating,response_rate,replied_rate,closed_at\n\
             {},5,30,5,4,30,0.5,0,0.25,4,3.25,0.5714,0.5,\n",
            w.abc
        )
    );
    let response = app
        .client
        .get(app.url("/api/v1/kpis/internal-service?period=2026-09"))
        .bearer_auth(&w.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!("\n{},0,,0,,,,0,,0,,,,\n", w.xyz)),
        "{text}"
    );
}

#[tokio::test]
async fn fulfilling_an_order_records_when() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    app.clock.set_today(day("2026-10-05"));
    let order = w.order(&w.alice, "when-1").await;
    w.fulfil(&order).await;
    #[derive(diesel::QueryableByName)]
    struct When {
        #[diesel(sql_type = diesel::sql_types::Text)]
        at: String,
    }
    let mut conn = app.db.connect().await;
    let when: When = diesel::sql_query(format!(
        "SELECT to_char(fulfilled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS at FROM orders WHERE id = '{order}'"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(when.at, "2026-10-05");
}
