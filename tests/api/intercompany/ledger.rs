//! FX rates, conversion of employee orders, the ledger's invariants and true-ups.

use super::*;

#[tokio::test]
async fn an_employee_order_in_eur_in_a_usd_group_is_converted_at_the_order_dates_rate() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    let tier = t
        .group
        .tier("staff", "10")
        .allowance("1000.00")
        .eligible(&["direct"])
        .create()
        .await;
    let scarf = t
        .group
        .product("SCARF", &t.category, "100.00")
        .seller(t.xyz)
        .create()
        .await;
    let shopper = t
        .group
        .employee("shopper@abc.example")
        .company(t.abc)
        .tier(&tier)
        .create()
        .await;
    let lines = json!({"lines": [{"product_id": scarf.id, "quantity": 1}]});
    app.post("/api/v1/orders/quote", &shopper, lines.clone())
        .await
        .assert_problem(422, "fx_rate_missing");
    // EUR→USD: the latest rate on or before today counts; one dated later cannot be recorded,
    // nor one dated before the year before the group was created.
    t.rate("EUR", "USD", "1.08", "2025-01-01").await;
    t.rate("EUR", "USD", "1.1", "2025-06-30").await;
    for date in ["2099-01-01", "2024-12-31"] {
        t.finance
            .post(
                "/api/v1/fx-rates",
                json!({"base": "EUR", "quote": "USD", "rate": "1.5", "date": date}),
            )
            .await
            .assert_problem(422, "validation_failed");
    }
    let quote = app.post("/api/v1/orders/quote", &shopper, lines).await;
    let quote = quote.assert_status(200).clone();
    assert_eq!(quote["currency"], "EUR");
    assert_eq!(quote["discount_total"], "10.00");
    assert_eq!(quote["fx_rate"], "1.1");
    assert_eq!(quote["allowance_applied"], "11.00");
    let order = shopper.order("eur-1", [(&scarf, 1)]).await;
    let order = order.assert_status(201).clone();
    assert_eq!(order["fx_rate"], "1.1");
    assert_eq!(order["allowance_applied"], "11.00");
    let me = app.get("/api/v1/me", &shopper).await;
    assert_eq!(me.assert_status(200)["allowance"]["used"], "11.00");

    // Only the inverse pair known: USD→EUR 0.8 gives EUR→USD 1.25 for a new group currency pair.
    let gbp = t.group.company("GBPCO").currency("GBP").create().await;
    let tea = t
        .group
        .product("TEA", &t.category, "10.00")
        .seller(gbp.id)
        .create()
        .await;
    t.rate("USD", "GBP", "0.8", "2025-01-01").await;
    let quote = app
        .post(
            "/api/v1/orders/quote",
            &shopper,
            json!({"lines": [{"product_id": tea.id, "quantity": 2}]}),
        )
        .await;
    assert_eq!(quote.assert_status(200)["fx_rate"], "1.25");
    assert_eq!(quote.body["allowance_applied"], "2.50");
}

#[tokio::test]
async fn fx_rates_are_finances_and_one_per_pair_and_day() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    t.rate("EUR", "USD", "1.0842", "2026-03-01").await;
    for (body, field) in [
        (
            json!({"base": "EUR", "quote": "EUR", "rate": "1", "date": "2026-03-01"}),
            "quote",
        ),
        (
            json!({"base": "EUR", "quote": "XXX", "rate": "1", "date": "2026-03-01"}),
            "quote",
        ),
        (
            json!({"base": "EUR", "quote": "USD", "rate": "-1", "date": "2026-03-01"}),
            "rate",
        ),
        (
            json!({"base": "EUR", "quote": "USD", "rate": "1e2", "date": "2026-03-01"}),
            "rate",
        ),
    ] {
        let refused = app.post("/api/v1/fx-rates", &t.finance, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    app.post(
        "/api/v1/fx-rates",
        &t.finance,
        json!({"base": "EUR", "quote": "USD", "rate": "1.1", "date": "2026-03-01"}),
    )
    .await
    .assert_problem(409, "conflict");
    app.post(
        "/api/v1/fx-rates",
        &t.group.admin,
        json!({"base": "EUR", "quote": "USD", "rate": "1.1", "date": "2026-03-02"}),
    )
    .await
    .assert_problem(403, "forbidden");
    // Finance reads them (§6); an employee does not.
    let listed = app
        .get("/api/v1/fx-rates?base=EUR&quote=USD", &t.finance)
        .await;
    assert_eq!(listed.assert_status(200)["items"][0]["rate"], "1.0842");
    app.get("/api/v1/fx-rates", &t.employee)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn the_database_keeps_both_legs_of_a_posting_equal_and_the_ledger_append_only() {
    let app = TestApp::spawn().await;
    let t = trade(&app).await;
    let mut conn = app.db.connect().await;
    let group = &t.group.root_id;
    let one_sided = format!(
        "INSERT INTO ledger_entries (group_id, posting_id, company_id, counterparty_company_id, side, kind, \
         amount, currency, document_amount, document_currency, rate, date) \
         VALUES ('{group}', gen_random_uuid(), '{}', '{}', 'seller', 'receivable', 10, 'USD', 10, 'USD', 1, '2026-03-01')",
        t.abc, t.xyz
    );
    // The check runs at commit: the transaction as a whole is refused.
    let result = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            diesel::sql_query(&one_sided).execute(conn).await?;
            Ok(())
        })
        .await;
    assert!(
        matches!(&result, Err(diesel::result::Error::DatabaseError(_, info)) if info.message().contains("one-sided")),
        "{result:?}"
    );
    // Two legs with the same document amount pass; then nothing can change them.
    let posting = uuid::Uuid::new_v4();
    diesel::sql_query(format!(
        "INSERT INTO ledger_entries (group_id, posting_id, company_id, counterparty_company_id, side, kind, \
         amount, currency, document_amount, document_currency, rate, date) VALUES \
         ('{group}', '{posting}', '{abc}', '{xyz}', 'seller', 'receivable', 10, 'USD', 10, 'USD', 1, '2026-03-01'), \
         ('{group}', '{posting}', '{xyz}', '{abc}', 'buyer', 'payable', 9, 'EUR', 10, 'USD', 0.9, '2026-03-01')",
        abc = t.abc,
        xyz = t.xyz
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    for statement in [
        "UPDATE ledger_entries SET amount = 0",
        "DELETE FROM ledger_entries",
        "TRUNCATE ledger_entries",
    ] {
        assert!(
            diesel::sql_query(statement)
                .execute(&mut conn)
                .await
                .is_err(),
            "{statement}"
        );
    }
}
