//! True-ups measure the shipped lines, so the year's total never depends on when or how often
//! finance runs them; policies are versioned and lines keep the terms they were priced with;
//! the exceptions report lists the lines outside their range.

use super::*;

/// 100 units of A (cost 100.00, list 128.00) shipped in June and 100 of B (cost 100.00, list
/// 102.40) in December, both priced at list (CUP 0 %) under one policy: range 5–15 %, target
/// 10 %. With `mid_year` finance also runs the true-up on July 1st. Answers what the year-end
/// run booked.
async fn year_of_two_halves(app: &TestApp, mid_year: bool) -> (Trade, Value) {
    app.clock.set_today(day("2026-06-15"));
    let t = trade(app).await;
    let a = t.product("A", "100.00", "128.00", 1000).await;
    let b = t.product("B", "100.00", "102.40", 1000).await;
    t.policy(
        json!({"method": "comparable_price", "percent": "0", "min_markup_percent": "5",
                    "max_markup_percent": "15", "target_markup_percent": "10",
                    "valid_from": "2026-01-01"}),
    )
    .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    shipped(&t, &t.xyz_purchaser, t.xyz, &a, 100, "june").await;
    if mid_year {
        // H1: 12 800.00 on 10 000.00 of cost is 28 %; at 10 % it would be 11 000.00.
        app.clock.set_today(day("2026-07-01"));
        let preview = t
            .finance
            .get("/api/v1/transfer-pricing/true-ups?year=2026")
            .await;
        let item = &preview.assert_status(200)["items"][0];
        assert_eq!(item["revenue"], "12800.00");
        assert_eq!(item["cost"], "10000.00");
        assert_eq!(item["achieved_markup_percent"], "28");
        assert_eq!(item["total_adjustment"], "-1800.00");
        assert_eq!(item["adjustment"], "-1800.00");
        let booked = t
            .finance
            .post(
                "/api/v1/transfer-pricing/true-ups",
                json!({"year": 2026, "date": "2026-07-01"}),
            )
            .await;
        assert_eq!(
            booked.assert_status(200)["items"][0]["adjustment"],
            "-1800.00"
        );
    }
    app.clock.set_today(day("2026-12-10"));
    shipped(&t, &t.xyz_purchaser, t.xyz, &b, 100, "december").await;
    app.clock.set_today(day("2027-01-10"));
    let booked = t
        .finance
        .post(
            "/api/v1/transfer-pricing/true-ups",
            json!({"year": 2026, "date": "2026-12-31"}),
        )
        .await;
    let booked = booked.assert_status(200).clone();
    (t, booked)
}

/// Σ of the seller's true-up entries of the year, as stored.
async fn booked_total(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::Text)]
        total: String,
    }
    let mut conn = app.db.connect().await;
    let total: Total = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(
            "SELECT sum(document_amount)::text AS total FROM ledger_entries \
             WHERE kind = 'true_up' AND side = 'seller' AND true_up_year = 2026",
        ),
        &mut conn,
    )
    .await
    .unwrap();
    total.total
}

#[tokio::test]
async fn a_true_up_run_mid_year_and_at_year_end_books_what_one_year_end_run_books() {
    // The year: 23 040.00 on 20 000.00 of cost is 15.2 %, outside 5–15 %; at the 10 % target
    // the revenue would be 22 000.00, so the year's adjustment is −1 040.00.
    let app = TestApp::spawn().await;
    let (t, booked) = year_of_two_halves(&app, true).await;
    // −1 800.00 was booked in July: the year-end run books the rest, +760.00.
    assert_eq!(booked["items"][0]["adjustment"], "760.00");
    assert_eq!(booked_total(&app).await, "-1040.00");
    let after = t
        .finance
        .get("/api/v1/transfer-pricing/true-ups?year=2026")
        .await;
    let item = &after.assert_status(200)["items"][0];
    assert_eq!(item["revenue"], "23040.00");
    assert_eq!(item["achieved_markup_percent"], "15.2");
    assert_eq!(item["total_adjustment"], "-1040.00");
    assert_eq!(item["already_booked"], "-1040.00");
    assert_eq!(item["adjustment"], "0.00");
    // Running it again books nothing.
    let again = t
        .finance
        .post(
            "/api/v1/transfer-pricing/true-ups",
            json!({"year": 2026, "date": "2027-01-10"}),
        )
        .await;
    assert_eq!(again.assert_status(200)["items"], json!([]));
    assert_eq!(booked_total(&app).await, "-1040.00");

    let once = TestApp::spawn().await;
    let (_, booked) = year_of_two_halves(&once, false).await;
    assert_eq!(booked["items"][0]["adjustment"], "-1040.00");
    assert_eq!(booked_total(&once).await, "-1040.00");
}

#[tokio::test]
async fn a_true_up_is_dated_in_or_after_the_year_it_corrects() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let refused = t
        .finance
        .post(
            "/api/v1/transfer-pricing/true-ups",
            json!({"year": 2026, "date": "2025-12-31"}),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.body["errors"][0]["field"], "date");
}

#[tokio::test]
async fn a_used_policy_keeps_its_terms_and_a_new_version_supersedes_it() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    let policy = t
        .policy(
            json!({"method": "cost_plus", "percent": "20", "min_markup_percent": "5",
                       "max_markup_percent": "15", "valid_from": "2026-01-01"}),
        )
        .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    // Unused, a policy may still be edited.
    let edited = t
        .finance
        .patch(
            &format!("/api/v1/transfer-pricing-policies/{}", policy.id),
            json!({"percent": "18"}),
        )
        .await;
    assert_eq!(edited.assert_status(200)["percent"], "18");
    // Its parties too: a buyer of its own, never the seller, only companies of the group.
    let path = format!("/api/v1/transfer-pricing-policies/{}", policy.id);
    let narrowed = t
        .finance
        .patch(&path, json!({"buyer_company_id": t.xyz}))
        .await;
    assert_eq!(
        narrowed.assert_status(200)["buyer_company_id"],
        json!(t.xyz)
    );
    for (change, field) in [
        (json!({"buyer_company_id": t.abc}), "buyer_company_id"),
        (json!({"category_id": Uuid::new_v4()}), "category_id"),
        (
            json!({"seller_company_id": Uuid::new_v4()}),
            "seller_company_id",
        ),
    ] {
        let refused = t.finance.patch(&path, change).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    let widened = t
        .finance
        .patch(&path, json!({"buyer_company_id": null}))
        .await;
    assert_eq!(widened.assert_status(200)["buyer_company_id"], Value::Null);
    let first = shipped(&t, &t.xyz_purchaser, t.xyz, &part, 2, "march").await;
    assert_eq!(first.lines[0].percent, "18");
    assert_eq!(first.lines[0].max_markup_percent.as_deref(), Some("15"));

    // Priced once, its terms are fixed: every term and party is refused, only its end may move.
    for change in [
        json!({"seller_company_id": t.xyz}),
        json!({"buyer_company_id": t.xyz}),
        json!({"category_id": Uuid::new_v4()}),
        json!({"percent": "12"}),
        json!({"method": "resale_minus"}),
        json!({"max_markup_percent": "20"}),
        json!({"target_markup_percent": "10"}),
        json!({"valid_from": "2026-02-01"}),
    ] {
        t.finance
            .patch(&path, change)
            .await
            .assert_problem(409, "policy_in_use");
    }
    t.finance
        .patch(&path, json!({"valid_to": "2026-03-01"}))
        .await
        .assert_problem(409, "policy_in_use");
    // The database refuses a change of terms whoever writes it.
    let mut conn = app.db.connect().await;
    let direct = diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE transfer_pricing_policies SET percent = 12 WHERE id = '{}'",
            policy.id
        )),
        &mut conn,
    )
    .await;
    assert!(direct.unwrap_err().to_string().contains("policy_in_use"));

    // A new version from April 1st: the old one ends on March 31st.
    t.finance
        .post(
            &format!("{path}/supersede"),
            json!({"valid_from": "2026-03-02", "percent": "12"}),
        )
        .await
        .assert_problem(422, "validation_failed");
    let next = t
        .finance
        .post(
            &format!("{path}/supersede"),
            json!({"valid_from": "2026-04-01", "percent": "12"}),
        )
        .await;
    let next = next.assert_status(201).clone();
    assert_eq!(next["supersedes"], json!(policy.id));
    assert_eq!(next["percent"], "12");
    assert_eq!(next["max_markup_percent"], "15");
    assert_eq!(next["valid_from"], "2026-04-01");
    t.finance
        .post(
            &format!("{path}/supersede"),
            json!({"valid_from": "2026-05-01"}),
        )
        .await
        .assert_problem(409, "conflict");
    let old = t
        .finance
        .get("/api/v1/transfer-pricing-policies?limit=10")
        .await;
    let old = old.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == json!(policy.id))
        .unwrap()
        .clone();
    assert_eq!(old["valid_to"], "2026-03-31");
    assert_eq!(old["percent"], "18");

    // April's order is priced by the new version; March's line keeps 18 % and its flag.
    app.clock.set_today(day("2026-04-02"));
    let second = shipped(&t, &t.xyz_purchaser, t.xyz, &part, 1, "april").await;
    assert_eq!(second.lines[0].policy_id.to_string(), next["id"]);
    assert_eq!(second.lines[0].unit_transfer_price, "112.00");
    assert!(!second.lines[0].outside_arms_length_range);
    let first_again: IcOrderView = t
        .finance
        .get(&format!("/api/v1/intercompany-orders/{}", first.id))
        .await
        .typed(200);
    assert_eq!(first_again.lines[0].percent, "18");
    assert_eq!(first_again.lines[0].unit_transfer_price, "118.00");

    // March's exceptions: the 18 % line outside 5–15 %; April's 12 % line is inside.
    let march = t
        .finance
        .get("/api/v1/transfer-pricing/exceptions?period=2026-03")
        .await;
    let march = march.assert_status(200).clone();
    assert_eq!(
        march["items"],
        json!([{"order_id": first.id, "number": first.number, "line_no": 1,
                "seller_company_id": t.abc, "buyer_company_id": t.xyz,
                "product_id": part.id, "quantity": 2, "currency": "USD",
                "unit_cost": "100.00", "unit_transfer_price": "118.00", "markup_percent": "18",
                "min_markup_percent": "5", "max_markup_percent": "15",
                "policy_id": policy.id, "ship_date": "2026-03-02"}])
    );
    let april = t
        .finance
        .get("/api/v1/transfer-pricing/exceptions?period=2026-04")
        .await;
    assert_eq!(april.assert_status(200)["items"], json!([]));
    let csv = raw(
        &app,
        &t.finance,
        "/api/v1/transfer-pricing/exceptions?period=2026-03",
        true,
    )
    .await;
    assert!(csv.starts_with("order_id,number,line_no,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    t.abc_purchaser
        .get("/api/v1/transfer-pricing/exceptions?period=2026-03")
        .await
        .assert_problem(403, "forbidden");
}
