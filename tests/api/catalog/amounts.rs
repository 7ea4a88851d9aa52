//! Planner statistics for a fresh catalog; amounts and stock at their bounds.

use super::*;

/// A catalog created through the API gets planner statistics within seconds (the server's
/// statistics keeper), not when autovacuum comes by: plans are never left made for an empty
/// table. `last_analyze` is set only by an explicit ANALYZE (autovacuum sets
/// `last_autoanalyze`), so this fails without the keeper.
#[tokio::test]
async fn a_catalog_created_through_the_api_is_analysed_within_seconds() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("BULK").await;
    let count = usize::try_from(internal_store::db::statistics::MIN_CHANGES).unwrap() + 20;
    let mut pending = futures_util::stream::FuturesUnordered::new();
    for n in 0..count {
        let (group, category) = (&group, &category);
        pending.push(async move {
            group
                .product(&format!("BULK-{n:05}"), category, "1.00")
                .create()
                .await
        });
        if pending.len() >= 8 {
            futures_util::StreamExt::next(&mut pending).await;
        }
    }
    while futures_util::StreamExt::next(&mut pending).await.is_some() {}
    #[derive(diesel::QueryableByName)]
    struct Analysed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        analysed: bool,
    }
    let mut conn = app.db.connect().await;
    let started = std::time::Instant::now();
    loop {
        let Analysed { analysed } = diesel::sql_query(
            "SELECT last_analyze IS NOT NULL AND n_mod_since_analyze < 500 AS analysed \
             FROM pg_stat_user_tables WHERE relname = 'products' AND schemaname = current_schema()",
        )
        .get_result(&mut conn)
        .await
        .unwrap();
        if analysed {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "products not analysed 20 s after {count} were created"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// The statistics keeper analyses a table whose size moved, and nothing else: not an empty
/// table, not a table whose rows were only updated (stock and allowance rows change on every
/// order), and not the same table twice within a minute. Called directly on a database no
/// server runs on, so no other keeper interferes.
#[tokio::test]
async fn the_statistics_keeper_analyses_growth_not_updates_nor_empty_tables() {
    use internal_store::db::statistics::analyze_stale;
    let db = crate::helpers::TestDatabase::create().await;
    let mut conn = db.connect().await;
    let run = |sql: &'static str| diesel::sql_query(sql);
    let flush = || tokio::time::sleep(std::time::Duration::from_millis(1200));
    run(
        "INSERT INTO companies (id, code, name, group_id, currency, country) VALUES \
         ('00000000-0000-0000-0000-0000000000aa', 'G', 'G', \
          '00000000-0000-0000-0000-0000000000aa', 'USD', 'US')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    run("INSERT INTO categories (group_id, code, name) VALUES \
         ('00000000-0000-0000-0000-0000000000aa', 'c', 'C')")
    .execute(&mut conn)
    .await
    .unwrap();
    // Empty: nothing to learn.
    assert!(!analyze_stale(&mut conn)
        .await
        .unwrap()
        .contains(&"products".to_owned()));
    run(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, \
         list_price, unit_cost, stock_on_hand) \
         SELECT '00000000-0000-0000-0000-0000000000aa', 'S' || n, 'P', \
                (SELECT id FROM categories), '00000000-0000-0000-0000-0000000000aa', 'goods', \
                1, 1, 100 FROM generate_series(1, 600) n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    flush().await;
    // Grown from nothing: analysed at once.
    assert!(analyze_stale(&mut conn)
        .await
        .unwrap()
        .contains(&"products".to_owned()));
    // Every row updated twice (1 200 changes): the size did not move, nothing to analyse.
    for _ in 0..2 {
        run("UPDATE products SET stock_on_hand = stock_on_hand - 1")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    flush().await;
    assert!(!analyze_stale(&mut conn)
        .await
        .unwrap()
        .contains(&"products".to_owned()));
    // Grown again fivefold, but analysed a moment ago: it waits out the minute.
    run(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, \
         list_price, unit_cost, stock_on_hand) \
         SELECT '00000000-0000-0000-0000-0000000000aa', 'T' || n, 'P', \
                (SELECT id FROM categories), '00000000-0000-0000-0000-0000000000aa', 'goods', \
                1, 1, 100 FROM generate_series(1, 3000) n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    flush().await;
    assert!(!analyze_stale(&mut conn)
        .await
        .unwrap()
        .contains(&"products".to_owned()));
}

/// §2: amounts are plain decimals with at most 13 integer digits and the currency's decimals,
/// percentages at most 4 + 4 digits; anything else is a 422 naming the field (never its value),
/// and the server keeps answering. Before, `"1e28"` or a 28-digit price was stored and every
/// quote of it crashed the worker (a dropped connection).
#[tokio::test]
async fn malformed_and_huge_amounts_are_422_with_the_field_path() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    let product = |price: Value| {
        json!({"sku": "BAD", "name": "Bad", "category_id": category.id,
               "seller_company_id": group.root_id, "kind": "goods",
               "list_price": price, "unit_cost": "0"})
    };
    for bad in [
        json!("1000000000000000000000000000"),
        json!("1e28"),
        json!("1e3"),
        json!("1_000.00"),
        json!("+5.00"),
        json!(" 5.00"),
        json!("1.000000000000000000000000000001"),
        json!("10.505"),
        json!("12.500"),
        json!("10000000000000"),
        json!("-1.00"),
        json!("NaN"),
        json!(12.5),
    ] {
        let reply = app
            .post("/api/v1/products", &group.admin, product(bad.clone()))
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.body["errors"][0]["field"], "list_price",
            "{bad}: {}",
            reply.body
        );
    }
    let mut cost = product(json!("1.00"));
    cost["unit_cost"] = json!("0.001");
    let reply = app.post("/api/v1/products", &group.admin, cost).await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "unit_cost");

    let created = group
        .product("OK", &category, "9999999999999.99")
        .create()
        .await;
    assert_eq!(created.list_price, "9999999999999.99");
    let path = format!("/api/v1/products/{}", created.id);
    for bad in ["1e28", "10000000000000.00", "0.001"] {
        let reply = app
            .patch(&path, &group.admin, json!({"list_price": bad}))
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], "list_price");
    }

    // Tiers: the allowance is an amount in the group currency (USD: 2 decimals), the
    // discount a percentage.
    let tier = |percent: &str, allowance: &str| json!({"code": "T", "name": "T", "discount_percent": percent, "annual_allowance": allowance});
    for (body, field) in [
        (tier("10", "1.001"), "annual_allowance"),
        (tier("10", "1e3"), "annual_allowance"),
        (tier("1e1", "100.00"), "discount_percent"),
        (tier("10.00001", "100.00"), "discount_percent"),
        (tier("10000", "100.00"), "discount_percent"),
        (tier("+10", "100.00"), "discount_percent"),
    ] {
        let reply = app.post("/api/v1/discount-tiers", &group.admin, body).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
    }
    let staff = group
        .tier("staff", "12.5")
        .allowance("1000.00")
        .eligible(&["direct"])
        .create()
        .await;
    let reply = app
        .patch(
            &format!("/api/v1/discount-tiers/{}", staff.id),
            &group.admin,
            json!({"annual_allowance": "1.001"}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "annual_allowance");
    // A whole amount is answered in the currency's minor units, with the currency beside it.
    let reply = app
        .patch(
            &format!("/api/v1/discount-tiers/{}", staff.id),
            &group.admin,
            json!({"annual_allowance": "500"}),
        )
        .await;
    let reply = reply.assert_status(200);
    assert_eq!(reply["annual_allowance"], "500.00");
    assert_eq!(reply["currency"], "USD");
    let reply = app
        .send(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/discount-tiers/{}/categories/{}",
                staff.id, category.id
            ),
            Some(&group.admin.token),
            Some(json!({"discount_percent": "15%"})),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "discount_percent");

    // Nothing malformed was stored, and the server still answers.
    let listed = app.get("/api/v1/products?limit=100", &group.admin).await;
    assert_eq!(items(listed.assert_status(200)).len(), 1);
}

/// §2: stock and deltas within ±1 000 000 000, stock after an adjustment within 0..=1e9; the
/// largest allowed price times the largest quantity is quoted and ordered without error.
#[tokio::test]
async fn stock_is_bounded_and_the_largest_order_prices_without_overflow() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    let body = |stock: i64| {
        json!({"sku": "S", "name": "S", "category_id": category.id,
               "seller_company_id": group.root_id, "kind": "goods",
               "list_price": "1.00", "unit_cost": "0", "stock_on_hand": stock})
    };
    let reply = app
        .post("/api/v1/products", &group.admin, body(1_000_000_001))
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "stock_on_hand");
    let full = group
        .product("FULL", &category, "1.00")
        .stock(1_000_000_000)
        .create()
        .await;
    let stock = format!("/api/v1/products/{}/stock", full.id);
    for delta in [2_147_483_647i64, 1_000_000_001, -1_000_000_001, 1] {
        let reply = app
            .post(
                &stock,
                &group.admin,
                json!({"delta": delta, "reason": "probe"}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.body["errors"][0]["field"], "delta",
            "{delta}: {}",
            reply.body
        );
    }
    let emptied = app
        .post(
            &stock,
            &group.admin,
            json!({"delta": -1_000_000_000, "reason": "count"}),
        )
        .await;
    assert_eq!(
        emptied
            .typed::<ProductView>(200)
            .admin
            .unwrap()
            .stock_on_hand,
        0
    );
    app.post(
        &stock,
        &group.admin,
        json!({"delta": -1, "reason": "count"}),
    )
    .await
    .assert_problem(409, "insufficient_stock");

    // The largest price, the largest quantity, the largest percentage.
    let tier = group
        .tier("all", "100")
        .eligible(&["direct"])
        .create()
        .await;
    let dear = group
        .product("DEAR", &category, "9999999999999.99")
        .stock(1000)
        .create()
        .await;
    let token = group
        .employee("rich@jkl.example")
        .tier(&tier)
        .create()
        .await;
    let lines = json!({"lines": [{"product_id": dear.id, "quantity": 1000}]});
    let quote = app.post("/api/v1/orders/quote", &token, lines).await;
    let quote: QuoteView = quote.typed(200);
    assert_eq!(quote.priced.list_total, "9999999999999990.00");
    assert_eq!(quote.priced.discount_total, "9999999999999990.00");
    assert_eq!(quote.priced.total, "0.00");
    let placed = token.order("largest", [(&dear, 1000)]).await;
    assert_eq!(
        placed.typed::<OrderView>(201).priced.list_total,
        "9999999999999990.00"
    );
}
