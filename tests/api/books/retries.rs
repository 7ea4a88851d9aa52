//! Finance writes retried with one `Idempotency-Key` book once and answer the same; the key
//! with another body is refused.

use super::*;

/// Count of `kind` entries in the ledger.
async fn entries_of(app: &TestApp, kind: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let count: Count = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(format!(
            "SELECT count(*) AS n FROM ledger_entries WHERE kind = '{kind}'"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    count.n
}

#[tokio::test]
async fn a_retried_finance_write_books_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let part = t.product("PART", "100.00", "150.00", 1000).await;
    t.policy(
        json!({"method": "cost_plus", "percent": "28", "min_markup_percent": "5",
                    "max_markup_percent": "15", "target_markup_percent": "10",
                    "valid_from": "2026-01-01"}),
    )
    .await;
    t.rate("USD", "EUR", "0.9", "2026-01-01").await;
    shipped(&t, &t.xyz_purchaser, t.xyz, &part, 1, "one").await;

    let adjustment = json!({"company_id": t.abc, "counterparty_company_id": t.xyz,
                            "side": "receivable", "amount": "-10.00", "date": "2026-03-02",
                            "reason": "credit note 7"});
    let rate = json!({"base": "USD", "quote": "GBP", "rate": "0.8", "date": "2026-03-02"});
    let true_up = json!({"year": 2026, "date": "2026-03-02"});
    let netting = json!({"date": "2026-03-02"});
    for (path, body, other, kind) in [
        (
            "/api/v1/finance/adjustments",
            adjustment.clone(),
            json!({"company_id": t.abc, "counterparty_company_id": t.xyz,
                   "side": "receivable", "amount": "-11.00", "date": "2026-03-02",
                   "reason": "credit note 7"}),
            Some("adjustment"),
        ),
        (
            "/api/v1/fx-rates",
            rate,
            json!({"base": "USD", "quote": "GBP", "rate": "0.81", "date": "2026-03-02"}),
            None,
        ),
        (
            "/api/v1/transfer-pricing/true-ups",
            true_up,
            json!({"year": 2026, "date": "2026-03-01"}),
            Some("true_up"),
        ),
        (
            "/api/v1/finance/netting",
            netting,
            json!({"date": "2026-03-01"}),
            Some("settlement"),
        ),
    ] {
        let key = format!("retry {path}").replace(' ', "-");
        let first = t.finance.post_keyed(path, &key, body.clone()).await;
        assert!(first.status.is_success(), "{path}: {}", first.body);
        let booked = match kind {
            Some(kind) => entries_of(&app, kind).await,
            None => 0,
        };
        assert!(kind.is_none() || booked > 0, "{path} booked nothing");
        let again = t.finance.post_keyed(path, &key, body).await;
        assert_eq!(again.status, first.status, "{path}");
        assert_eq!(again.body, first.body, "{path}");
        assert_eq!(again.headers["idempotency-replay"], "true", "{path}");
        if let Some(kind) = kind {
            assert_eq!(entries_of(&app, kind).await, booked, "{path} booked twice");
        }
        t.finance
            .post_keyed(path, &key, other)
            .await
            .assert_problem(422, "idempotency_key_reused");
    }
    // Without a key a second adjustment is a second booking.
    t.finance
        .post("/api/v1/finance/adjustments", adjustment)
        .await
        .assert_status(201);
    assert_eq!(entries_of(&app, "adjustment").await, 2);
}

#[tokio::test]
async fn every_creating_post_replays_its_first_answer_under_one_key() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let admin = &t.group.admin;
    let part = t.product("PART", "100.00", "150.00", 10).await;
    let policy = t
        .policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2026-01-01"}))
        .await;
    let cases: Vec<(&Actor, String, Value, Value)> = vec![
        (
            admin,
            "/api/v1/categories".into(),
            json!({"code": "TOOLS", "name": "Tools"}),
            json!({"code": "TOOLS", "name": "Other tools"}),
        ),
        (
            admin,
            "/api/v1/discount-tiers".into(),
            json!({"code": "VIP", "name": "VIP", "discount_percent": "30"}),
            json!({"code": "VIP", "name": "VIP", "discount_percent": "31"}),
        ),
        (
            admin,
            "/api/v1/products".into(),
            json!({"sku": "BOLT", "name": "Bolt", "category_id": t.category.id,
                   "seller_company_id": t.abc, "kind": "goods", "list_price": "2.00", "unit_cost": "1.00"}),
            json!({"sku": "BOLT", "name": "Bolt", "category_id": t.category.id,
                   "seller_company_id": t.abc, "kind": "goods", "list_price": "3.00", "unit_cost": "1.00"}),
        ),
        (
            admin,
            format!("/api/v1/products/{}/stock", part.id),
            json!({"delta": 5, "reason": "delivery 42"}),
            json!({"delta": 6, "reason": "delivery 42"}),
        ),
        (
            admin,
            "/api/v1/companies".into(),
            json!({"code": "GHI", "name": "GHI", "parent_id": t.group.root_id,
                   "currency": "USD", "country": "US"}),
            json!({"code": "GHI", "name": "GHI Ltd", "parent_id": t.group.root_id,
                   "currency": "USD", "country": "US"}),
        ),
        (
            &t.finance,
            "/api/v1/transfer-pricing-policies".into(),
            json!({"seller_company_id": t.def, "method": "cost_plus", "percent": "5",
                   "valid_from": "2026-01-01"}),
            json!({"seller_company_id": t.def, "method": "cost_plus", "percent": "6",
                   "valid_from": "2026-01-01"}),
        ),
        (
            &t.finance,
            format!("/api/v1/transfer-pricing-policies/{}/supersede", policy.id),
            json!({"valid_from": "2026-04-01", "percent": "12"}),
            json!({"valid_from": "2026-04-01", "percent": "13"}),
        ),
        (
            admin,
            "/api/v1/employees".into(),
            json!({"email": "once@abc.example", "full_name": "Once", "company_id": t.abc,
                   "employment_type": "direct", "client_type": "operational",
                   "password": "once-password-123"}),
            json!({"email": "once@abc.example", "full_name": "Once More", "company_id": t.abc,
                   "employment_type": "direct", "client_type": "operational",
                   "password": "once-password-123"}),
        ),
        (
            admin,
            "/api/v1/me/household".into(),
            json!({"full_name": "Kim", "relationship": "spouse"}),
            json!({"full_name": "Kim", "relationship": "dependent_child"}),
        ),
    ];
    for (who, path, body, other) in cases {
        let key = format!("once-{}", path.replace('/', "-"));
        let first = who.post_keyed(&path, &key, body.clone()).await;
        assert!(first.status.is_success(), "{path}: {}", first.body);
        let again = who.post_keyed(&path, &key, body).await;
        assert_eq!(again.status, first.status, "{path}");
        assert_eq!(again.body, first.body, "{path}");
        assert_eq!(again.headers["idempotency-replay"], "true", "{path}");
        who.post_keyed(&path, &key, other)
            .await
            .assert_problem(422, "idempotency_key_reused");
    }
    // A field left out (keep it) and the same field sent as null (clear it) are two requests.
    let path = format!("/api/v1/transfer-pricing-policies/{}/supersede", policy.id);
    t.finance
        .post_keyed(
            &path,
            &format!("once-{}", path.replace('/', "-")),
            json!({"valid_from": "2026-04-01", "percent": "12", "max_markup_percent": null}),
        )
        .await
        .assert_problem(422, "idempotency_key_reused");
    // One employee and one household member were created.
    let employees = admin.get("/api/v1/employees?limit=100").await;
    let created = employees.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["email"] == "once@abc.example")
        .count();
    assert_eq!(created, 1);
    let household = admin.get("/api/v1/me/household").await;
    assert_eq!(
        household.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The stock moved once (10 + 5), the policy was superseded once.
    assert_eq!(t.group.stock_on_hand(&part).await, 15);
    let policies = t.finance.get("/api/v1/transfer-pricing-policies").await;
    let versions = policies.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["supersedes"] == json!(policy.id))
        .count();
    assert_eq!(versions, 1);
}

/// Adjustments of one company booked at the same moment each answer their own entry: the id
/// comes from the posting, not from the company's latest entry at the time of the answer.
#[tokio::test]
async fn concurrent_adjustments_of_one_company_each_answer_their_own_entry() {
    let app = TestApp::spawn().await;
    app.clock.set_today(day("2026-03-02"));
    let t = trade(&app).await;
    let bookings = (1..=12).map(|n| {
        let body = json!({"company_id": t.abc, "counterparty_company_id": t.xyz,
                          "side": "receivable", "amount": format!("-{n}.00"),
                          "date": "2026-03-02", "reason": format!("credit note {n}")});
        let finance = &t.finance;
        async move { finance.post("/api/v1/finance/adjustments", body).await }
    });
    let answers = futures_util::future::join_all(bookings).await;
    let mut conn = app.db.connect().await;
    let mut ids = std::collections::HashSet::new();
    for answer in answers {
        answer.assert_status(201);
        let id: uuid::Uuid = answer.body["id"].as_str().unwrap().parse().unwrap();
        assert!(ids.insert(id), "two answers named the entry {id}");
        #[derive(diesel::QueryableByName)]
        struct Booked {
            #[diesel(sql_type = diesel::sql_types::Text)]
            reason: String,
        }
        let booked: Booked = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query("SELECT reason FROM ledger_entries WHERE id = $1")
                .bind::<diesel::sql_types::Uuid, _>(id),
            &mut conn,
        )
        .await
        .unwrap();
        assert_eq!(booked.reason, answer.body["reason"].as_str().unwrap());
    }
    assert_eq!(ids.len(), 12);
}
