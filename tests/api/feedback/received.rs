//! Intercompany feedback and what a company received.

use super::*;

#[tokio::test]
async fn a_purchaser_of_the_buyer_rates_a_shipped_intercompany_order() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let order = w.ic_order("ic-1").await;
    let path = format!("/api/v1/intercompany-orders/{order}/feedback");
    w.act(&order, "accept", json!({})).await;
    app.post(&path, &w.xyz_purchaser, json!({"rating": 5}))
        .await
        .assert_problem(409, "invalid_state");
    w.act(&order, "ship", json!({})).await;

    // DEF's purchaser does not see the order; the seller and finance see it but do not rate it;
    // an employee of the buyer without the purchaser role does not see it.
    app.post(&path, &w.def_purchaser, json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    app.post(&path, &w.alice, json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    for token in [&w.abc_purchaser, &w.finance, &w.group.admin] {
        app.post(&path, token, json!({"rating": 5}))
            .await
            .assert_problem(403, "forbidden");
    }
    assert_field(
        &app.post(&path, &w.xyz_purchaser, json!({"rating": 0}))
            .await,
        422,
        "rating",
    );
    let given = app
        .post(
            &path,
            &w.xyz_purchaser,
            json!({"rating": 3, "comment": "Late"}),
        )
        .await;
    let given: FeedbackView = given.typed(201);
    assert_eq!(given.order_kind, OrderKind::Intercompany);
    assert_eq!(given.comment.as_deref(), Some("Late"));
    app.post(&path, &w.xyz_purchaser, json!({"rating": 4}))
        .await
        .assert_problem(409, "conflict");

    // The buyer does not answer its own feedback; the seller's admin does, once.
    app.post(
        &format!("{path}/reply"),
        &w.xyz_purchaser,
        json!({"comment": "?"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("{path}/reply"),
        &w.abc_admin,
        json!({"comment": "The carrier was late"}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{path}/reply"),
        &w.abc_purchaser,
        json!({"comment": "Again"}),
    )
    .await
    .assert_problem(409, "conflict");
    let seen = app.get(&path, &w.def_purchaser).await;
    seen.assert_problem(404, "not_found");
    let seen = app.get(&path, &w.finance).await;
    let seen: FeedbackView = seen.typed(200);
    assert_eq!(
        seen.reply.map(|r| r.comment).as_deref(),
        Some("The carrier was late")
    );
    let id = given.id;
    assert_eq!(
        audit_actions(&app, id).await,
        ["feedback.given", "feedback.replied"]
    );

    // The database keeps one feedback per order even if the handler's check were raced past.
    let mut conn = app.db.connect().await;
    let second = diesel::sql_query(format!(
        "INSERT INTO feedback (group_id, intercompany_order_id, seller_company_id, author_id, rating) \
         SELECT group_id, intercompany_order_id, seller_company_id, author_id, 2 FROM feedback WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .await;
    assert!(second.is_err(), "a second feedback row was accepted");
    let out_of_range =
        diesel::sql_query(format!("UPDATE feedback SET rating = 6 WHERE id = '{id}'"))
            .execute(&mut conn)
            .await;
    assert!(out_of_range.is_err(), "a rating of 6 was stored");
}

#[tokio::test]
async fn a_company_lists_the_feedback_it_received_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut given = Vec::new();
    for (n, rating) in [5, 2, 4].into_iter().enumerate() {
        let order = w.order(&w.alice, &format!("list-{n}")).await;
        w.fulfil(&order).await;
        let reply = app
            .post(
                &format!("/api/v1/orders/{order}/feedback"),
                &w.alice,
                json!({"rating": rating}),
            )
            .await;
        given.push(reply.typed::<FeedbackView>(201).id);
    }
    let ic = w.ic_order("list-ic").await;
    w.act(&ic, "accept", json!({})).await;
    w.act(&ic, "ship", json!({})).await;
    app.post(
        &format!("/api/v1/intercompany-orders/{ic}/feedback"),
        &w.xyz_purchaser,
        json!({"rating": 1}),
    )
    .await
    .assert_status(201);

    let ids = |reply: &Reply| -> Vec<i32> {
        reply
            .items::<FeedbackView>()
            .into_iter()
            .map(|f| f.rating)
            .collect()
    };
    // ABC's purchaser: ABC's feedback (the default), newest first.
    let own = app.get("/api/v1/feedback", &w.abc_purchaser).await;
    assert_eq!(ids(&own), [1, 4, 2, 5]);
    let own = app
        .get(
            &format!("/api/v1/feedback?company_id={}", w.abc),
            &w.abc_purchaser,
        )
        .await;
    assert_eq!(ids(&own), [1, 4, 2, 5]);
    // XYZ received nothing; ABC's purchaser may not look at it; plain employees list nothing.
    let xyz = app.get("/api/v1/feedback", &w.xyz_purchaser).await;
    assert_eq!(ids(&xyz), Vec::<i32>::new());
    app.get(
        &format!("/api/v1/feedback?company_id={}", w.xyz),
        &w.abc_purchaser,
    )
    .await
    .assert_problem(403, "forbidden");
    app.get("/api/v1/feedback", &w.alice)
        .await
        .assert_problem(403, "forbidden");
    // Finance: the whole group, with rating filters.
    let all = app.get("/api/v1/feedback", &w.finance).await;
    assert_eq!(ids(&all), [1, 4, 2, 5]);
    let some = app
        .get("/api/v1/feedback?min_rating=2&max_rating=4", &w.finance)
        .await;
    assert_eq!(ids(&some), [4, 2]);
    let today = chrono::Utc::now().date_naive();
    let this_month = today.format("%Y-%m").to_string();
    let earlier = (today - chrono::Months::new(1)).format("%Y-%m").to_string();
    let now = app
        .get(&format!("/api/v1/feedback?period={this_month}"), &w.finance)
        .await;
    assert_eq!(ids(&now).len(), 4);
    let before = app
        .get(&format!("/api/v1/feedback?period={earlier}"), &w.finance)
        .await;
    assert_eq!(ids(&before), Vec::<i32>::new());
    for bad in [
        "min_rating=0",
        "max_rating=6",
        "min_rating=4&max_rating=2",
        "period=2026-13",
        "limit=101",
    ] {
        app.get(&format!("/api/v1/feedback?{bad}"), &w.finance)
            .await
            .assert_problem(400, "validation_failed");
    }
    // Keyset pages: three pages of one and a last one, no repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/feedback?limit=1&cursor={c}"),
            None => "/api/v1/feedback?limit=1".to_owned(),
        };
        let page = app.get(&path, &w.finance).await;
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [1, 4, 2, 5]);
    assert_eq!(given.len(), 3);
}
