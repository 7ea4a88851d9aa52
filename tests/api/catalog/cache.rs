//! The listing cache (src/catalog/cache.rs) across instances.

use super::*;

/// Polls `path` as `token` until `check` holds (at most 5 s); returns how long that took.
async fn eventually(
    app: &TestApp,
    path: &str,
    who: &Actor,
    check: impl Fn(&Reply) -> bool,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let reply = app.get(path, who).await;
        if check(&reply) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{path} never changed: {:?}",
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn listed(reply: &Reply, sku: &str) -> ProductView {
    by_sku(&products(reply), sku).clone()
}

/// Two instances on one database, with a group, a `tools` category and a 10 % tier for direct
/// staff.
async fn two_instances_with_a_tier() -> (TestApp, TestApp, Group, CategoryView, TierView) {
    let a = TestApp::spawn().await;
    let b = a.another_instance().await;
    let group = a.bootstrap().await;
    let category = group.category("tools").await;
    let tier = group.tier("ops", "10").eligible(&["direct"]).create().await;
    (a, b, group, category, tier)
}

#[tokio::test]
async fn listing_changes_reach_every_instance() {
    let (a, b, group, category, tier) = two_instances_with_a_tier().await;
    let product = group.product("DRILL-1", &category, "100.00").create().await;
    let (shopper, token) = group
        .employee("s@jkl.example")
        .tier(&tier)
        .create_viewed()
        .await;
    let list = "/api/v1/products";
    for app in [&a, &b] {
        let reply = app.get(list, &token).await;
        assert_eq!(listed(&reply, "DRILL-1").employee_price, "90.00");
    }

    // A price change: the instance that made it shows it at once, the other one as soon as
    // the notification arrives.
    let product_path = format!("/api/v1/products/{}", product.id);
    a.patch(&product_path, &group.admin, json!({"list_price": "200.00"}))
        .await
        .assert_status(200);
    let reply = a.get(list, &token).await;
    assert_eq!(listed(&reply, "DRILL-1").employee_price, "180.00");
    eventually(&b, list, &token, |r| {
        listed(r, "DRILL-1").employee_price == "180.00"
    })
    .await;

    // A tier change reprices every page of that tier.
    let tier_path = format!("/api/v1/discount-tiers/{}", tier.id);
    a.patch(&tier_path, &group.admin, json!({"discount_percent": "20"}))
        .await
        .assert_status(200);
    eventually(&b, list, &token, |r| {
        listed(r, "DRILL-1").employee_price == "160.00"
    })
    .await;

    // A product withdrawn from employee sale disappears everywhere.
    a.patch(
        &product_path,
        &group.admin,
        json!({"employee_eligible": false}),
    )
    .await
    .assert_status(200);
    eventually(&b, list, &token, |r| items(&r.body).is_empty()).await;

    // A deactivated employee is turned away by every instance, cached or not.
    let employee_path = format!("/api/v1/employees/{}", shopper.id);
    a.patch(&employee_path, &group.admin, json!({"active": false}))
        .await
        .assert_status(200);
    a.get(list, &token)
        .await
        .assert_problem(401, "unauthorized");
    a.get(&product_path, &token)
        .await
        .assert_problem(401, "unauthorized");
    eventually(&b, list, &token, |r| r.status == 401).await;
    eventually(&b, &product_path, &token, |r| r.status == 401).await;
}

#[tokio::test]
async fn repeated_pages_come_from_the_cache_until_a_reconnected_listener_drops_them() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("tools").await;
    group.product("SAW-1", &category, "10.00").create().await;
    let token = group.employee("s@jkl.example").create().await;
    let list = "/api/v1/products";
    let reply = app.get(list, &token).await;
    assert_eq!(listed(&reply, "SAW-1").name, "Product SAW-1");

    // A change that sends no notification (triggers suppressed, as a replica would apply it)
    // stays invisible: the page is served from the cache, not read again.
    let mut probe = app.db.connect().await;
    diesel::sql_query("SET session_replication_role = replica")
        .execute(&mut probe)
        .await
        .unwrap();
    diesel::sql_query("UPDATE products SET name = 'Renamed saw' WHERE sku = 'SAW-1'")
        .execute(&mut probe)
        .await
        .unwrap();
    let reply = app.get(list, &token).await;
    assert_eq!(listed(&reply, "SAW-1").name, "Product SAW-1");
    // The metrics say so too (sampled once a second).
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let metrics = app.metrics().await;
    for line in [
        "internal_store_listing_pages_total{outcome=\"hit\"} 1",
        "internal_store_listing_pages_total{outcome=\"miss\"} 1",
        "internal_store_listing_cache_connected 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from {metrics}");
    }

    // Losing the listener means notifications may have been missed: the instance bypasses
    // the cache until it has subscribed again, then starts from an empty one.
    let terminated: Vec<Terminated> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = 'internal-store-listener'",
    )
    .bind::<diesel::sql_types::Text, _>(&app.db.name)
    .load(&mut probe)
    .await
    .unwrap();
    assert_eq!(terminated.len(), 1);
    assert!(terminated[0].done);
    eventually(&app, list, &token, |r| {
        listed(r, "SAW-1").name == "Renamed saw"
    })
    .await;
    app.until_listing_cache_is_connected().await;
    let reply = app.get(list, &token).await;
    assert_eq!(listed(&reply, "SAW-1").name, "Renamed saw");
}

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    done: bool,
}

#[tokio::test]
async fn cached_pages_keep_stock_fresh_and_limits_personal() {
    let (a, b, group, category, tier) = two_instances_with_a_tier().await;
    let hammer = group
        .product("HAMMER-1", &category, "10.00")
        .stock(50)
        .limit(5, "month")
        .create()
        .await;
    let mut tokens = Vec::new();
    for email in ["ann@jkl.example", "bob@jkl.example"] {
        let token = group.employee(email).tier(&tier).create().await;
        tokens.push(token);
    }
    let (ann, bob) = (&tokens[0], &tokens[1]);
    let list = "/api/v1/products";
    for token in [ann, bob] {
        let reply = a.get(list, token).await;
        assert_eq!(listed(&reply, "HAMMER-1").stock_available, 50);
        assert_eq!(
            listed(&reply, "HAMMER-1").purchase_limit.unwrap().remaining,
            5
        );
    }

    // An order through this instance shows at once: in the stock everyone sees, and in the
    // buyer's own remaining limit only (both share one cached page).
    ann.on(&a)
        .order("ann-1", [(&hammer, 2)])
        .await
        .assert_status(201);
    let reply = a.get(list, ann).await;
    assert_eq!(listed(&reply, "HAMMER-1").stock_available, 48);
    assert_eq!(
        listed(&reply, "HAMMER-1").purchase_limit.unwrap().remaining,
        3
    );
    let reply = a.get(list, bob).await;
    assert_eq!(listed(&reply, "HAMMER-1").stock_available, 48);
    assert_eq!(
        listed(&reply, "HAMMER-1").purchase_limit.unwrap().remaining,
        5
    );

    // An order through another instance shows within the cache's age limit (1 s here).
    bob.on(&b)
        .order("bob-1", [(&hammer, 1)])
        .await
        .assert_status(201);
    let waited = eventually(&a, list, bob, |r| {
        listed(r, "HAMMER-1").stock_available == 47
            && listed(r, "HAMMER-1").purchase_limit.unwrap().remaining == 4
    })
    .await;
    assert!(
        waited < std::time::Duration::from_millis(1_500),
        "{waited:?}"
    );
}
