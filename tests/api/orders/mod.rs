//! Employee orders over HTTP against a real PostgreSQL: races for stock across two instances,
//! allowance races, largest-remainder caps, idempotency, lifecycle and object-level access.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{Group, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn dec(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

struct Shop {
    group: Group,
    category: Value,
    tier: Value,
}

async fn shop(app: &TestApp, percent: &str, allowance: Option<&str>) -> Shop {
    let group = app.bootstrap().await;
    let category = app.create_category(&group.admin, "goods").await;
    let tier = app
        .create_tier(
            &group.admin,
            "staff",
            percent,
            allowance,
            &["direct", "outsourced"],
        )
        .await;
    Shop {
        group,
        category,
        tier,
    }
}

fn assert_lines_add_up(order: &Value) {
    let lines = order["lines"].as_array().unwrap();
    let sum = |field: &str| lines.iter().map(|l| dec(&l[field])).sum::<Decimal>();
    assert_eq!(sum("line_list_total"), dec(&order["list_total"]));
    assert_eq!(sum("line_discount"), dec(&order["discount_total"]));
    assert_eq!(sum("line_total"), dec(&order["total"]));
    assert_eq!(
        dec(&order["list_total"]) - dec(&order["discount_total"]),
        dec(&order["total"])
    );
    for line in lines {
        assert_eq!(
            dec(&line["line_list_total"]) - dec(&line["line_discount"]),
            dec(&line["line_total"])
        );
    }
}

#[tokio::test]
async fn forty_employees_on_two_instances_race_for_ten_units() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let second = app.another_instance().await;
    let s = shop(&app, "10", None).await;
    let product = app
        .create_product(
            &s.group.admin,
            "HOT",
            &s.category,
            &s.group.root_id,
            "25.00",
            json!({"stock_on_hand": 10}),
        )
        .await;
    let mut tokens = Vec::new();
    for n in 0..40 {
        let (_, token) = app
            .create_shopper(
                &s.group.admin,
                &s.group.root_id,
                &format!("racer{n}@jkl.example"),
                Some(&s.tier),
                "direct",
            )
            .await;
        tokens.push(token);
    }
    let mut tasks = Vec::new();
    for (n, token) in tokens.into_iter().enumerate() {
        let instance = if n % 2 == 0 {
            app.address.clone()
        } else {
            second.address.clone()
        };
        let product = product.clone();
        tasks.push(tokio::spawn(async move {
            let lines = json!([{"product_id": product["id"], "quantity": 1}]);
            let reply = common::post_order(&instance, &token, &format!("race-{n}"), lines).await;
            (reply.status.as_u16(), reply.body)
        }));
    }
    let mut placed = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => placed += 1,
            409 => {
                assert_eq!(body["code"], "insufficient_stock", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((placed, refused), (10, 30));
    let after = app
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            &s.group.admin,
        )
        .await;
    assert_eq!(after.assert_status(200)["stock_on_hand"], 0);
}

#[tokio::test]
async fn racing_orders_never_exceed_the_allowance() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "12")]).await;
    let s = shop(&app, "15", Some("100.00")).await;
    let product = app
        .create_product(
            &s.group.admin,
            "BIKE",
            &s.category,
            &s.group.root_id,
            "100.00",
            json!({}),
        )
        .await;
    let (employee, token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "spender@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let address = app.address.clone();
        let token = token.clone();
        let product = product.clone();
        tasks.push(tokio::spawn(async move {
            let lines = json!([{"product_id": product["id"], "quantity": 1}]);
            let reply =
                common::post_order(&address, &token, &format!("allowance-{n}"), lines).await;
            reply.assert_status(201).clone()
        }));
    }
    let mut applied = Vec::new();
    for task in tasks {
        let order = task.await.unwrap();
        assert_lines_add_up(&order);
        assert_eq!(order["allowance_applied"], order["discount_total"]);
        applied.push(dec(&order["allowance_applied"]));
    }
    applied.sort();
    let expected: Vec<Decimal> = [
        "0.00", "0.00", "0.00", "10.00", "15.00", "15.00", "15.00", "15.00", "15.00", "15.00",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(applied, expected);
    assert_eq!(applied.iter().sum::<Decimal>(), Decimal::new(10000, 2));
    let me = app.get("/api/v1/me", &token).await;
    let allowance = &me.assert_status(200)["allowance"];
    assert_eq!(
        (
            allowance["cap"].as_str(),
            allowance["used"].as_str(),
            allowance["remaining"].as_str()
        ),
        (Some("100.00"), Some("100.00"), Some("0.00"))
    );
    assert_eq!(employee["tier_id"], s.tier["id"]);
}

#[tokio::test]
async fn a_capped_discount_is_spread_by_largest_remainder_and_quoted_the_same() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "20", Some("5.00")).await;
    let mut products = Vec::new();
    for sku in ["A", "B", "C"] {
        products.push(
            app.create_product(
                &s.group.admin,
                sku,
                &s.category,
                &s.group.root_id,
                "50.00",
                json!({}),
            )
            .await,
        );
    }
    let (_, token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "capped@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let body = json!({"lines": products.iter().map(|p| json!({"product_id": p["id"], "quantity": 1})).collect::<Vec<_>>()});
    let quote = app
        .post("/api/v1/orders/quote", &token, body)
        .await
        .assert_status(200)
        .clone();
    let order = app
        .place_order(
            &token,
            "capped-1",
            &[(&products[0], 1), (&products[1], 1), (&products[2], 1)],
        )
        .await;
    let order = order.assert_status(201).clone();
    let discounts: Vec<&str> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line_discount"].as_str().unwrap())
        .collect();
    assert_eq!(discounts, vec!["1.67", "1.67", "1.66"]);
    assert_eq!(
        (
            order["discount_total"].as_str(),
            order["total"].as_str(),
            order["allowance_applied"].as_str()
        ),
        (Some("5.00"), Some("145.00"), Some("5.00"))
    );
    assert_eq!(order["allowance_currency"], "USD");
    assert_eq!(order["fx_rate"], "1");
    assert_eq!(order["status"], "placed");
    assert!(order["number"].as_str().unwrap().starts_with("EO-"));
    for field in [
        "lines",
        "list_total",
        "discount_total",
        "total",
        "allowance_applied",
        "currency",
    ] {
        assert_eq!(
            quote[field], order[field],
            "quote and order differ in {field}"
        );
    }
    assert!(
        quote.get("id").is_none() && quote.get("status").is_none() && quote.get("number").is_none()
    );
    assert_lines_add_up(&order);
}

#[tokio::test]
async fn one_key_one_order_even_when_racing() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let product = app
        .create_product(
            &s.group.admin,
            "ONCE",
            &s.category,
            &s.group.root_id,
            "10.00",
            json!({}),
        )
        .await;
    let (employee, token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "twice@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let address = app.address.clone();
        let token = token.clone();
        let product = product.clone();
        tasks.push(tokio::spawn(async move {
            let lines = json!([{"product_id": product["id"], "quantity": 2}]);
            let reply = common::post_order(&address, &token, "same-key", lines).await;
            let replay = reply.headers.get("idempotency-replay").is_some();
            (reply.status.as_u16(), replay, reply.body)
        }));
    }
    let mut ids = HashSet::new();
    let mut fresh = 0;
    let mut first = serde_json::Value::Null;
    for task in tasks {
        let (status, replay, body) = task.await.unwrap();
        match status {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_owned());
                if !replay {
                    fresh += 1;
                    first = body;
                }
            }
            409 => assert_eq!(body["code"], "request_in_progress", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((fresh, ids.len()), (1, 1));
    // After it finished: a replay with the same key and body, flagged.
    let replay = app.place_order(&token, "same-key", &[(&product, 2)]).await;
    assert_eq!(
        replay.assert_status(201)["id"].as_str().unwrap(),
        ids.iter().next().unwrap()
    );
    assert_eq!(
        replay
            .headers
            .get("idempotency-replay")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    // The replay, a later read and the audit event all carry exactly the first response.
    assert_eq!(replay.body, first);
    assert!(first["number"].as_str().unwrap().starts_with("EO-"));
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/orders/{id}"), &token)
            .await
            .assert_status(200),
        &first
    );
    let events = app
        .get(
            &format!("/api/v1/audit-events?entity_type=order&entity_id={id}"),
            &s.group.admin,
        )
        .await;
    assert_eq!(events.assert_status(200)["items"][0]["after"], first);
    // Same key, another body.
    app.place_order(&token, "same-key", &[(&product, 3)])
        .await
        .assert_problem(422, "idempotency_key_reused");
    let list = app
        .get(
            &format!(
                "/api/v1/orders?employee_id={}",
                employee["id"].as_str().unwrap()
            ),
            &s.group.admin,
        )
        .await;
    assert_eq!(
        list.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
    let stock = app
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            &s.group.admin,
        )
        .await;
    assert_eq!(stock.assert_status(200)["stock_on_hand"], 98);
    // No key at all.
    let missing = app
        .post(
            "/api/v1/orders",
            &token,
            json!({"lines": [{"product_id": product["id"], "quantity": 1}]}),
        )
        .await;
    missing.assert_problem(400, "validation_failed");
    assert_eq!(missing.body["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn cancelling_gives_back_stock_allowance_and_limits_and_only_once() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", Some("50.00")).await;
    let product = app
        .create_product(
            &s.group.admin,
            "LIMITED",
            &s.category,
            &s.group.root_id,
            "40.00",
            json!({"stock_on_hand": 5, "purchase_limit": {"max_quantity": 2, "period": "month"}}),
        )
        .await;
    let (_, alice) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "alice@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let (_, bob) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "bob@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let product_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    assert_eq!(
        app.get(&product_path, &alice).await.assert_status(200)["purchase_limit"]["remaining"],
        2
    );

    let order = app
        .place_order(&alice, "a-1", &[(&product, 2)])
        .await
        .assert_status(201)
        .clone();
    assert_eq!(order["discount_total"], "8.00");
    let id = order["id"].as_str().unwrap();
    let seen = app
        .get(&product_path, &alice)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (
            seen["purchase_limit"]["remaining"].as_i64(),
            seen["stock_available"].as_i64()
        ),
        (Some(0), Some(3))
    );
    app.place_order(&alice, "a-2", &[(&product, 1)])
        .await
        .assert_problem(409, "purchase_limit_exceeded");
    assert_eq!(
        app.get("/api/v1/me", &alice).await.assert_status(200)["allowance"]["used"],
        "8.00"
    );

    // Bob can neither read nor cancel Alice's order.
    app.get(&format!("/api/v1/orders/{id}"), &bob)
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("/api/v1/orders/{id}/cancel"), &bob, json!({}))
        .await
        .assert_problem(404, "not_found");
    assert!(
        app.get("/api/v1/orders", &bob).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.get(
        &format!(
            "/api/v1/orders?employee_id={}",
            order["employee_id"].as_str().unwrap()
        ),
        &bob,
    )
    .await
    .assert_problem(403, "forbidden");

    let cancelled = app
        .post(&format!("/api/v1/orders/{id}/cancel"), &alice, json!({}))
        .await;
    assert_eq!(cancelled.assert_status(200)["status"], "cancelled");
    app.post(&format!("/api/v1/orders/{id}/cancel"), &alice, json!({}))
        .await
        .assert_problem(409, "invalid_state");
    let seen = app
        .get(&product_path, &alice)
        .await
        .assert_status(200)
        .clone();
    assert_eq!(
        (
            seen["purchase_limit"]["remaining"].as_i64(),
            seen["stock_available"].as_i64()
        ),
        (Some(2), Some(5))
    );
    let allowance = app.get("/api/v1/me", &alice).await.assert_status(200)["allowance"].clone();
    assert_eq!(
        (allowance["used"].as_str(), allowance["remaining"].as_str()),
        (Some("0.00"), Some("50.00"))
    );

    // Fulfilment: admin only, placed orders only.
    let second = app
        .place_order(&alice, "a-3", &[(&product, 1)])
        .await
        .assert_status(201)
        .clone();
    let second_id = second["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/orders/{second_id}/fulfil"),
        &alice,
        json!({}),
    )
    .await
    .assert_problem(403, "forbidden");
    let fulfilled = app
        .post(
            &format!("/api/v1/orders/{second_id}/fulfil"),
            &s.group.admin,
            json!({}),
        )
        .await;
    assert_eq!(fulfilled.assert_status(200)["status"], "fulfilled");
    app.post(
        &format!("/api/v1/orders/{second_id}/cancel"),
        &alice,
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_state");
    app.post(
        &format!("/api/v1/orders/{id}/fulfil"),
        &s.group.admin,
        json!({}),
    )
    .await
    .assert_problem(409, "invalid_state");

    let events = app
        .get(
            &format!("/api/v1/audit-events?entity_type=order&entity_id={id}"),
            &s.group.admin,
        )
        .await;
    let actions: Vec<String> = events.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, vec!["order.cancelled", "order.placed"]);
}

#[tokio::test]
async fn crossing_product_sets_never_deadlock() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let s = shop(&app, "5", None).await;
    let a = app
        .create_product(
            &s.group.admin,
            "X-A",
            &s.category,
            &s.group.root_id,
            "3.00",
            json!({"stock_on_hand": 1000}),
        )
        .await;
    let b = app
        .create_product(
            &s.group.admin,
            "X-B",
            &s.category,
            &s.group.root_id,
            "4.00",
            json!({"stock_on_hand": 1000}),
        )
        .await;
    let mut tokens = Vec::new();
    for n in 0..12 {
        tokens.push(
            app.create_shopper(
                &s.group.admin,
                &s.group.root_id,
                &format!("x{n}@jkl.example"),
                Some(&s.tier),
                "direct",
            )
            .await
            .1,
        );
    }
    let mut tasks = Vec::new();
    for round in 0..3 {
        for (n, token) in tokens.iter().enumerate() {
            let lines = if n % 2 == 0 {
                json!([{"product_id": a["id"], "quantity": 1}, {"product_id": b["id"], "quantity": 1}])
            } else {
                json!([{"product_id": b["id"], "quantity": 1}, {"product_id": a["id"], "quantity": 1}])
            };
            let address = app.address.clone();
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let reply =
                    common::post_order(&address, &token, &format!("cross-{round}-{n}"), lines)
                        .await;
                reply.status.as_u16()
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 201);
    }
    for product in [&a, &b] {
        let after = app
            .get(
                &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
                &s.group.admin,
            )
            .await;
        assert_eq!(after.assert_status(200)["stock_on_hand"], 1000 - 36);
    }
}

#[tokio::test]
async fn cancels_racing_with_new_orders_on_the_same_products_never_deadlock() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let s = shop(&app, "5", Some("1000")).await;
    let a = app
        .create_product(
            &s.group.admin,
            "C-A",
            &s.category,
            &s.group.root_id,
            "3.00",
            json!({"stock_on_hand": 1000, "purchase_limit": {"max_quantity": 100, "period": "month"}}),
        )
        .await;
    let b = app
        .create_product(
            &s.group.admin,
            "C-B",
            &s.category,
            &s.group.root_id,
            "4.00",
            json!({"stock_on_hand": 1000}),
        )
        .await;
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let (_, token) = app
            .create_shopper(
                &s.group.admin,
                &s.group.root_id,
                &format!("c{n}@jkl.example"),
                Some(&s.tier),
                "direct",
            )
            .await;
        let mut placed = Vec::new();
        for k in 0..2 {
            let order = app
                .place_order(&token, &format!("first-{n}-{k}"), &[(&a, 1), (&b, 1)])
                .await;
            placed.push(order.assert_status(201)["id"].as_str().unwrap().to_owned());
        }
        shoppers.push((token, placed));
    }
    // At once, for every shopper: they cancel their first order, an admin cancels their second,
    // and they place two more with the products listed the other way round.
    let mut tasks = Vec::new();
    for (n, (token, placed)) in shoppers.iter().enumerate() {
        let jobs: Vec<(String, String, Option<Value>)> = vec![
            (
                token.clone(),
                format!("/api/v1/orders/{}/cancel", placed[0]),
                None,
            ),
            (
                s.group.admin.clone(),
                format!("/api/v1/orders/{}/cancel", placed[1]),
                None,
            ),
            (
                token.clone(),
                format!("again-{n}-0"),
                Some(
                    json!([{"product_id": b["id"], "quantity": 1}, {"product_id": a["id"], "quantity": 1}]),
                ),
            ),
            (
                token.clone(),
                format!("again-{n}-1"),
                Some(
                    json!([{"product_id": b["id"], "quantity": 1}, {"product_id": a["id"], "quantity": 1}]),
                ),
            ),
        ];
        for (token, target, lines) in jobs {
            let address = app.address.clone();
            tasks.push(tokio::spawn(async move {
                match lines {
                    Some(lines) => common::post_order(&address, &token, &target, lines).await,
                    None => {
                        let reply = reqwest::Client::new()
                            .post(format!("{address}{target}"))
                            .bearer_auth(&token)
                            .json(&json!({}))
                            .send()
                            .await
                            .unwrap();
                        TestApp::decode(reply).await
                    }
                }
            }));
        }
    }
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(
            reply.status.as_u16() == 200 || reply.status.as_u16() == 201,
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    // Each shopper: four placed, two cancelled → two orders of one A and one B each.
    for product in [&a, &b] {
        let after = app
            .get(
                &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
                &s.group.admin,
            )
            .await;
        assert_eq!(after.assert_status(200)["stock_on_hand"], 1000 - 12);
    }
    for (token, _) in &shoppers {
        let me = app.get("/api/v1/me", token).await;
        assert_eq!(me.assert_status(200)["allowance"]["used"], "0.70");
        let listed = app
            .get(
                &format!("/api/v1/products/{}", a["id"].as_str().unwrap()),
                token,
            )
            .await;
        assert_eq!(listed.assert_status(200)["purchase_limit"]["remaining"], 98);
    }
}

#[tokio::test]
async fn bad_orders_are_refused_with_the_field_named_and_change_nothing() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let product = app
        .create_product(
            &s.group.admin,
            "OK",
            &s.category,
            &s.group.root_id,
            "10.00",
            json!({"stock_on_hand": 3}),
        )
        .await;
    let hidden = app
        .create_product(
            &s.group.admin,
            "OFF",
            &s.category,
            &s.group.root_id,
            "10.00",
            json!({"active": false}),
        )
        .await;
    let abc = app
        .create_company(&s.group.admin, "ABC", Some(&s.group.root_id), "USD")
        .await;
    let other_seller = app
        .create_product(
            &s.group.admin,
            "ABC-1",
            &s.category,
            abc["id"].as_str().unwrap(),
            "10.00",
            json!({}),
        )
        .await;
    let xyz = app
        .create_company(&s.group.admin, "XYZ", Some(&s.group.root_id), "EUR")
        .await;
    let euro = app
        .create_product(
            &s.group.admin,
            "XYZ-1",
            &s.category,
            xyz["id"].as_str().unwrap(),
            "10.00",
            json!({}),
        )
        .await;
    let (careful, token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "careful@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;

    app.place_order(&token, "k1", &[])
        .await
        .assert_problem(422, "validation_failed");
    let too_many = app.place_order(&token, "k2", &[(&product, 1001)]).await;
    too_many.assert_problem(422, "validation_failed");
    assert_eq!(too_many.body["errors"][0]["field"], "lines[0].quantity");
    let mixed = app
        .place_order(&token, "k3", &[(&product, 1), (&other_seller, 1)])
        .await;
    mixed.assert_problem(422, "validation_failed");
    assert_eq!(mixed.body["errors"][0]["field"], "lines[1].product_id");
    app.place_order(&token, "k4", &[(&hidden, 1)])
        .await
        .assert_problem(422, "not_eligible");
    app.place_order(&token, "k5", &[(&euro, 1)])
        .await
        .assert_problem(422, "fx_rate_missing");
    app.place_order(&token, "k6", &[(&product, 4)])
        .await
        .assert_problem(409, "insufficient_stock");
    let priced = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "k7")
        .json(
            &json!({"lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "0.01"}]}),
        )
        .send()
        .await
        .unwrap();
    let priced = TestApp::decode(priced).await;
    priced.assert_problem(422, "validation_failed");
    assert_eq!(priced.body["errors"][0]["field"], "lines[0].unit_price");

    // Nothing happened: stock intact, no orders, no allowance used.
    let after = app
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            &s.group.admin,
        )
        .await;
    assert_eq!(after.assert_status(200)["stock_on_hand"], 3);
    assert!(
        app.get("/api/v1/orders", &token).await.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A refused request did not consume its key: the same key works once the cause is fixed.
    app.post(
        &format!("/api/v1/products/{}/stock", product["id"].as_str().unwrap()),
        &s.group.admin,
        json!({"delta": 1, "reason": "restock"}),
    )
    .await
    .assert_status(200);
    app.place_order(&token, "k6", &[(&product, 4)])
        .await
        .assert_status(201);

    // A deactivated employee's token places nothing, at once; a forged token neither.
    app.patch(
        &format!("/api/v1/employees/{}", careful["id"].as_str().unwrap()),
        &s.group.admin,
        json!({"active": false}),
    )
    .await
    .assert_status(200);
    app.place_order(&token, "k8", &[(&product, 1)])
        .await
        .assert_problem(401, "unauthorized");
    app.place_order("not-a-token", "k9", &[(&product, 1)])
        .await
        .assert_problem(401, "unauthorized");
    let after = app
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            &s.group.admin,
        )
        .await;
    assert_eq!(after.assert_status(200)["stock_on_hand"], 0);
}

#[tokio::test]
async fn finance_lists_all_orders_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let s = shop(&app, "10", None).await;
    let product = app
        .create_product(
            &s.group.admin,
            "P",
            &s.category,
            &s.group.root_id,
            "10.00",
            json!({}),
        )
        .await;
    let (alice, alice_token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "alice@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let (_, bob_token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "bob@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    let (_, finance) = app
        .create_employee(
            &s.group.admin,
            &s.group.root_id,
            "fin@jkl.example",
            &["employee", "finance"],
        )
        .await;
    for n in 0..3 {
        app.place_order(&alice_token, &format!("a{n}"), &[(&product, 1)])
            .await
            .assert_status(201);
    }
    let bobs = app
        .place_order(&bob_token, "b0", &[(&product, 1)])
        .await
        .assert_status(201)
        .clone();
    app.post(
        &format!("/api/v1/orders/{}/cancel", bobs["id"].as_str().unwrap()),
        &bob_token,
        json!({}),
    )
    .await
    .assert_status(200);

    let mut seen = Vec::new();
    let mut path = "/api/v1/orders?limit=3".to_owned();
    loop {
        let page = app.get(&path, &finance).await.assert_status(200).clone();
        for order in page["items"].as_array().unwrap() {
            assert_lines_add_up(order);
            seen.push(order["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/orders?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);
    let count = |reply: &common::Reply| reply.body["items"].as_array().unwrap().len();
    assert_eq!(
        count(
            &app.get(
                &format!(
                    "/api/v1/orders?employee_id={}",
                    alice["id"].as_str().unwrap()
                ),
                &finance
            )
            .await
        ),
        3
    );
    assert_eq!(
        count(&app.get("/api/v1/orders?status=cancelled", &finance).await),
        1
    );
    assert_eq!(
        count(
            &app.get(
                &format!("/api/v1/orders?company_id={}", s.group.root_id),
                &finance
            )
            .await
        ),
        4
    );
    let period = chrono::Utc::now().format("%Y-%m").to_string();
    assert_eq!(
        count(
            &app.get(&format!("/api/v1/orders?period={period}"), &finance)
                .await
        ),
        4
    );
    assert_eq!(
        count(&app.get("/api/v1/orders?period=2001-01", &finance).await),
        0
    );
    app.get("/api/v1/orders?period=2026-13", &finance)
        .await
        .assert_problem(400, "validation_failed");
    app.get("/api/v1/orders?status=lost", &finance)
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(count(&app.get("/api/v1/orders", &alice_token).await), 3);
    let one = app
        .get(
            &format!("/api/v1/orders/{}", bobs["id"].as_str().unwrap()),
            &finance,
        )
        .await;
    assert_eq!(one.assert_status(200)["status"], "cancelled");
}

#[tokio::test]
async fn a_request_blocked_by_a_stuck_transaction_gives_up_with_503() {
    use diesel_async::SimpleAsyncConnection as _;
    let app = TestApp::spawn_with(&[("DB_STATEMENT_TIMEOUT_MS", "300")]).await;
    let s = shop(&app, "10", None).await;
    let product = app
        .create_product(
            &s.group.admin,
            "STUCK",
            &s.category,
            &s.group.root_id,
            "10.00",
            json!({}),
        )
        .await;
    let (employee, token) = app
        .create_shopper(
            &s.group.admin,
            &s.group.root_id,
            "stuck@jkl.example",
            Some(&s.tier),
            "direct",
        )
        .await;
    app.place_order(&token, "first", &[(&product, 1)])
        .await
        .assert_status(201);

    // Another session holds the employee's allowance row and does not let go.
    let mut blocker = app.db.connect().await;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    blocker
        .batch_execute(&format!(
            "BEGIN; SELECT * FROM allowance_usage WHERE employee_id = '{}' AND year = {year} FOR UPDATE;",
            employee["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let reply = app.place_order(&token, "second", &[(&product, 1)]).await;
    reply.assert_problem(503, "unavailable");
    assert!(reply.headers.get("retry-after").is_some());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    blocker.batch_execute("ROLLBACK").await.unwrap();

    // Nothing of the refused attempt remains, and the same key works now.
    let order = app.place_order(&token, "second", &[(&product, 1)]).await;
    order.assert_status(201);
    let stock = app
        .get(
            &format!("/api/v1/products/{}", product["id"].as_str().unwrap()),
            &s.group.admin,
        )
        .await;
    assert_eq!(stock.assert_status(200)["stock_on_hand"], 98);
}

/// The API process killed (SIGKILL) while orders are in flight: no order is left half written
/// (each has its lines and totals), the stock, allowance and purchase-limit ledgers still
/// equal what the orders re-derive, and retrying every key on another instance yields exactly
/// one order per key.
#[tokio::test]
async fn sigkill_with_orders_in_flight_leaves_whole_orders_and_matching_ledgers() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = app.create_category(&group.admin, "KILL").await;
    let tier = app
        .create_tier(&group.admin, "KT", "10", Some("100000.00"), &["direct"])
        .await;
    let product = app
        .create_product(
            &group.admin,
            "KILL-1",
            &category,
            &group.root_id,
            "10.00",
            json!({"stock_on_hand": 100000, "purchase_limit": {"max_quantity": 100000, "period": "year"}}),
        )
        .await;
    let mut shoppers = Vec::new();
    for n in 0..4 {
        let (_, token) = app
            .create_shopper(
                &group.admin,
                &group.root_id,
                &format!("k{n}@jkl.example"),
                Some(&tier),
                "direct",
            )
            .await;
        shoppers.push(token);
    }
    // A second instance, as its own process, on the same database.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_internal-store"))
        .arg("serve")
        .env("DATABASE_URL", &app.db.url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", common::JWT_SECRET)
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();
    let victim = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{victim}/health/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let lines = json!([{"product_id": product["id"], "quantity": 3}]);
    let mut in_flight = Vec::new();
    for (n, token) in shoppers.iter().enumerate() {
        for k in 0..10 {
            let (victim, token, lines) = (victim.clone(), token.clone(), lines.clone());
            in_flight.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{victim}/api/v1/orders"))
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("kill-{n}-{k}"))
                    .json(&json!({"lines": lines}))
                    .send()
                    .await
                    .map(|response| response.status().as_u16())
            }));
        }
    }
    // Kill as soon as the first orders are committed, with the rest still in flight.
    #[derive(diesel::QueryableByName)]
    struct Placed {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut watch = app.db.connect().await;
    for _ in 0..500 {
        let placed: Placed = diesel::sql_query("SELECT count(*) AS n FROM orders")
            .get_result(&mut watch)
            .await
            .unwrap();
        if placed.n >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let mut answered = 0;
    for request in in_flight {
        // Answered or cut off: both are fine.
        if matches!(request.await, Ok(Ok(201))) {
            answered += 1;
        }
    }
    eprintln!("{answered} of 40 orders were answered before the kill");
    // Retry every key on the surviving instance: one order per key, whatever happened before.
    let mut ids = HashSet::new();
    for (n, token) in shoppers.iter().enumerate() {
        for k in 0..10 {
            let reply =
                common::post_order(&app.address, token, &format!("kill-{n}-{k}"), lines.clone())
                    .await;
            let body = reply.assert_status(201);
            ids.insert(body["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids.len(), 40);
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect().await;
    let count = |sql: &'static str| diesel::sql_query(sql);
    let orders: Count = count("SELECT count(*) AS n FROM orders")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(orders.n, 40, "one order per key");
    for (what, sql) in [
        ("orders without lines or with totals that differ from their lines",
         "SELECT count(*) AS n FROM orders o LEFT JOIN (SELECT order_id, sum(line_total) t, sum(line_discount) d, count(*) c FROM order_lines GROUP BY 1) l ON l.order_id = o.id WHERE l.c IS NULL OR l.t <> o.total OR l.d <> o.discount_total"),
        ("stock that differs from the orders",
         "SELECT count(*) AS n FROM products p WHERE p.stock_on_hand + coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.product_id = p.id AND o.status <> 'cancelled'), 0) <> 100000"),
        ("allowance usage that differs from the orders",
         "SELECT count(*) AS n FROM employees e WHERE coalesce((SELECT sum(used) FROM allowance_usage a WHERE a.employee_id = e.id), 0) <> coalesce((SELECT sum(allowance_applied) FROM orders o WHERE o.employee_id = e.id AND o.status <> 'cancelled'), 0)"),
        ("purchase-limit usage that differs from the orders",
         "SELECT count(*) AS n FROM employees e WHERE coalesce((SELECT sum(quantity) FROM purchase_limit_usage u WHERE u.employee_id = e.id), 0) <> coalesce((SELECT sum(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.employee_id = e.id AND o.status <> 'cancelled'), 0)"),
    ] {
        let bad: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
        assert_eq!(bad.n, 0, "{what}");
    }
}
