//! Catalog and employee pricing over HTTP: tiers, overrides, eligibility, rounding, listing,
//! pagination, search, stock adjustments, and index use at 10 000 products.

use diesel_async::RunQueryDsl;
use internal_store::catalog::dto::{CategoryView, ProductListQuery, ProductView, TierView};
use internal_store::orders::dto::{OrderView, QuoteView};
use serde_json::{json, Value};

use crate::helpers::{Actor, Group, Reply, TestApp};

fn items(reply: &Value) -> Vec<Value> {
    reply["items"].as_array().cloned().unwrap_or_default()
}

/// A product listing's items.
fn products(reply: &Reply) -> Vec<ProductView> {
    reply.items()
}

fn by_sku<'a>(list: &'a [ProductView], sku: &str) -> &'a ProductView {
    list.iter()
        .find(|p| p.sku == sku)
        .unwrap_or_else(|| panic!("{sku} not listed"))
}

/// `(discount_percent, employee_price)` of an item.
fn price(product: &ProductView) -> (&str, &str) {
    (&product.discount_percent, &product.employee_price)
}

#[tokio::test]
async fn each_employee_sees_their_own_discount_and_price() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let electronics = group.category("electronics").await;
    let apparel = group.category("apparel").await;
    let commercial = group
        .tier("commercial", "20")
        .allowance("1500.00")
        .eligible(&["direct", "outsourced"])
        .create()
        .await;
    let executive = group
        .tier("executive", "25")
        .eligible(&["direct"])
        .create()
        .await;
    let override_reply = app
        .send(
            reqwest::Method::PUT,
            &format!(
                "/api/v1/discount-tiers/{}/categories/{}",
                commercial.id, electronics.id
            ),
            Some(&group.admin.token),
            Some(json!({"discount_percent": "10"})),
        )
        .await;
    assert_eq!(
        override_reply.assert_status(200)["category_discounts"][0]["discount_percent"],
        "10"
    );

    group.product("TV-1", &electronics, "999.99").create().await;
    group.product("SHIRT-1", &apparel, "19.99").create().await;
    group.product("CHEAP-1", &apparel, "0.30").create().await;

    let commercial_token = group
        .employee("c@jkl.example")
        .tier(&commercial)
        .create()
        .await;
    let executive_direct = group
        .employee("e@jkl.example")
        .tier(&executive)
        .create()
        .await;
    let executive_outsourced = group
        .employee("o@jkl.example")
        .tier(&executive)
        .employment("outsourced")
        .create()
        .await;
    let no_tier = group.employee("n@jkl.example").create().await;

    let reply = commercial_token.get("/api/v1/products").await;
    let list = products(&reply);
    // Category override (10 %) beats the tier default (20 %).
    let tv = by_sku(&list, "TV-1");
    assert_eq!(price(tv), ("10", "899.99"));
    assert_eq!(tv.list_price, "999.99");
    assert_eq!(tv.currency, "USD");
    let shirt = by_sku(&list, "SHIRT-1");
    assert_eq!(price(shirt), ("20", "15.99"));
    // Admin-only fields are not shown to employees (on the wire).
    let wire = items(&reply.body);
    let tv_wire = wire.iter().find(|p| p["sku"] == "TV-1").unwrap();
    assert!(tv_wire.get("unit_cost").is_none() && tv_wire.get("stock_on_hand").is_none());
    assert!(tv.admin.is_none());
    assert_eq!(tv.stock_available, 100);

    let list = products(&executive_direct.get("/api/v1/products").await);
    // 15 % would be 0.045 → 0.05 (half away from zero); 25 % of 0.30 = 0.075 → 0.08.
    assert_eq!(by_sku(&list, "CHEAP-1").employee_price, "0.22");
    assert_eq!(by_sku(&list, "TV-1").employee_price, "749.99");

    // The executive tier is closed to outsourced staff, and no tier means no discount.
    for who in [&executive_outsourced, &no_tier] {
        let list = products(&who.get("/api/v1/products").await);
        assert_eq!(price(by_sku(&list, "TV-1")), ("0", "999.99"));
    }
}

#[tokio::test]
async fn half_up_rounding_and_zero_decimal_currencies() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    let tier = group
        .tier("operational", "15")
        .eligible(&["direct", "outsourced"])
        .create()
        .await;
    let japan = group.company("JKL-JP").currency("JPY").create().await;
    group.product("PEN-1", &category, "0.30").create().await;
    group
        .product("TEA-JP", &category, "1250")
        .seller(&japan)
        .create()
        .await;
    let shopper = group.employee("s@jkl.example").tier(&tier).create().await;
    let list = products(&shopper.get("/api/v1/products").await);
    // 15 % of 0.30 = 0.045 → discount 0.05 (banker's rounding would say 0.04).
    assert_eq!(by_sku(&list, "PEN-1").employee_price, "0.25");
    let tea = by_sku(&list, "TEA-JP");
    assert_eq!(
        (
            tea.currency.as_str(),
            tea.list_price.as_str(),
            tea.employee_price.as_str()
        ),
        ("JPY", "1250", "1062")
    );
    // A JPY price with decimals is refused.
    let reply = app
        .post(
            "/api/v1/products",
            &group.admin,
            json!({"sku": "BAD-JP", "name": "Bad", "category_id": category.id, "seller_company_id": japan.id,
                   "kind": "goods", "list_price": "10.5", "unit_cost": "1"}),
        )
        .await;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "list_price");
}

#[tokio::test]
async fn hidden_products_are_invisible_to_employees_but_not_to_admins() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    let visible = group.product("VISIBLE", &category, "10.00").create().await;
    let inactive = group
        .product("INACTIVE", &category, "10.00")
        .with(json!({"active": false}))
        .create()
        .await;
    let internal = group
        .product("IC-ONLY", &category, "10.00")
        .with(json!({"employee_eligible": false}))
        .create()
        .await;
    // Another group's product, even visible there, never shows to this group.
    let other_group = app
        .bootstrap_group("OTHERCO", "USD", "admin@otherco.example")
        .await;
    let other_category = other_group.category("misc").await;
    let foreign = other_group
        .product("FOREIGN", &other_category, "10.00")
        .create()
        .await;
    let token = group.employee("s@jkl.example").create().await;

    let skus: Vec<String> = products(&token.get("/api/v1/products").await)
        .into_iter()
        .map(|p| p.sku)
        .collect();
    assert_eq!(skus, vec!["VISIBLE"]);
    for hidden in [&inactive, &internal, &foreign] {
        app.get(&format!("/api/v1/products/{}", hidden.id), &token)
            .await
            .assert_problem(404, "not_found");
    }
    let mine = app
        .get(&format!("/api/v1/products/{}", visible.id), &token)
        .await;
    assert_eq!(mine.typed::<ProductView>(200).sku, "VISIBLE");
    let admin_view = group.admin.product(&inactive).await.admin.unwrap();
    assert!(!admin_view.active);
    assert_eq!(admin_view.unit_cost, "0.00");
    // Not even this group's admin sees another group's product.
    app.get(&format!("/api/v1/products/{}", foreign.id), &group.admin)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn walking_the_cursor_visits_every_product_once_and_filters_work() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let tools = group.category("tools").await;
    let toys = group.category("toys").await;
    let abc = group.company("ABC").create().await;
    let mut expected = Vec::new();
    for n in 0..7 {
        let category = if n % 2 == 0 { &tools } else { &toys };
        let seller = if n < 4 { group.root_id } else { abc.id };
        let sku = format!("SKU-{n:02}");
        group
            .product(&sku, category, "5.00")
            .seller(seller)
            .with(json!({"name": format!("Item {n} 50%_off")}))
            .create()
            .await;
        expected.push(sku);
    }
    group
        .product("HIDDEN", &tools, "5.00")
        .with(json!({"active": false}))
        .create()
        .await;
    let token = group.employee("s@jkl.example").create().await;

    let mut seen = Vec::new();
    let mut path = "/api/v1/products?limit=2".to_owned();
    loop {
        let page = token.get(&path).await;
        let listed = products(&page);
        assert!(listed.len() <= 2);
        seen.extend(listed.into_iter().map(|p| p.sku));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/products?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let count = |reply: &Value| items(reply).len();
    let by_category = app
        .get(
            &format!("/api/v1/products?category_id={}", tools.id),
            &token,
        )
        .await;
    assert_eq!(count(by_category.assert_status(200)), 4);
    let by_seller = app
        .get(
            &format!("/api/v1/products?seller_company_id={}", abc.id),
            &token,
        )
        .await;
    assert_eq!(count(by_seller.assert_status(200)), 3);
    let by_name = app.get("/api/v1/products?q=item%203", &token).await;
    assert_eq!(products(&by_name)[0].sku, "SKU-03");
    let by_sku = app.get("/api/v1/products?q=sku-0", &token).await;
    assert_eq!(count(by_sku.assert_status(200)), 7);
    // `%` and `_` are literal, not wildcards.
    assert_eq!(
        count(
            app.get("/api/v1/products?q=50%25_off", &token)
                .await
                .assert_status(200)
        ),
        7
    );
    assert_eq!(
        count(
            app.get("/api/v1/products?q=5_%25", &token)
                .await
                .assert_status(200)
        ),
        0
    );

    app.get("/api/v1/products?limit=101", &token)
        .await
        .assert_problem(400, "validation_failed");
    app.get("/api/v1/products?cursor=%%%", &token)
        .await
        .assert_problem(400, "validation_failed");
    app.get("/api/v1/products?cursor=bm90LWpzb24", &token)
        .await
        .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn stock_adjustments_never_go_below_zero_and_are_audited() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    let product = group
        .product("WIDGET", &category, "1.00")
        .stock(2)
        .create()
        .await;
    let id = product.id;
    let path = format!("/api/v1/products/{id}/stock");
    let added = app
        .post(
            &path,
            &group.admin,
            json!({"delta": 5, "reason": "delivery 4711"}),
        )
        .await;
    let added = added.typed::<ProductView>(200).admin.unwrap();
    assert_eq!(added.stock_on_hand, 7);
    let removed = app
        .post(
            &path,
            &group.admin,
            json!({"delta": -7, "reason": "stocktake"}),
        )
        .await;
    assert_eq!(removed.typed::<ProductView>(200).stock_available, 0);
    app.post(
        &path,
        &group.admin,
        json!({"delta": -1, "reason": "breakage"}),
    )
    .await
    .assert_problem(409, "insufficient_stock");
    app.post(&path, &group.admin, json!({"delta": 1, "reason": " "}))
        .await
        .assert_problem(422, "validation_failed");
    let token = group.employee("s@jkl.example").create().await;
    app.post(&path, &token, json!({"delta": 1, "reason": "mine"}))
        .await
        .assert_problem(403, "forbidden");
    // Stock cannot be set through PATCH.
    app.patch(
        &format!("/api/v1/products/{id}"),
        &group.admin,
        json!({"stock_on_hand": 99}),
    )
    .await
    .assert_problem(422, "validation_failed");

    let events = app
        .get(
            &format!("/api/v1/audit-events?entity_type=product&entity_id={id}"),
            &group.admin,
        )
        .await;
    let events = items(events.assert_status(200));
    let adjustments: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "product.stock_adjusted")
        .collect();
    assert_eq!(adjustments.len(), 2);
    assert_eq!(adjustments[0]["after"]["reason"], "stocktake");
    assert_eq!(adjustments[0]["before"]["stock_on_hand"], 7);
    assert_eq!(adjustments[0]["after"]["stock_on_hand"], 0);
}

#[tokio::test]
async fn product_and_tier_rules() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("misc").await;
    group.product("DUP", &category, "1.00").create().await;
    let dup = app
        .post(
            "/api/v1/products",
            &group.admin,
            json!({"sku": "DUP", "name": "Again", "category_id": category.id, "seller_company_id": group.root_id,
                   "kind": "goods", "list_price": "1.00", "unit_cost": "0.50"}),
        )
        .await;
    dup.assert_problem(409, "conflict");
    let bad = app
        .post(
            "/api/v1/products",
            &group.admin,
            json!({"sku": "BAD", "name": "Bad", "category_id": category.id, "seller_company_id": group.root_id,
                   "kind": "goods", "list_price": "1.005", "unit_cost": "-1", "purchase_limit": {"max_quantity": 0, "period": "month"}}),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let fields: Vec<&str> = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"list_price")
            && fields.contains(&"unit_cost")
            && fields.contains(&"purchase_limit.max_quantity"),
        "{fields:?}"
    );
    app.post(
        "/api/v1/discount-tiers",
        &group.admin,
        json!({"code": "T", "name": "T", "discount_percent": "101"}),
    )
    .await
    .assert_problem(422, "validation_failed");
    let tier = group
        .tier("T1", "12.5")
        .allowance("100.00")
        .eligible(&["direct"])
        .create()
        .await;
    assert_eq!(tier.discount_percent, "12.5");
    assert_eq!(tier.annual_allowance.as_deref(), Some("100.00"));
    let patched = app
        .patch(
            &format!("/api/v1/discount-tiers/{}", tier.id),
            &group.admin,
            json!({"annual_allowance": null}),
        )
        .await;
    assert!(patched.typed::<TierView>(200).annual_allowance.is_none());
    let token = group.employee("s@jkl.example").create().await;
    app.get("/api/v1/discount-tiers", &token)
        .await
        .assert_problem(403, "forbidden");
    let categories: Vec<CategoryView> = token.get("/api/v1/categories").await.items();
    assert_eq!(categories.len(), 1);
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

#[tokio::test]
async fn the_listing_uses_indexes_at_ten_thousand_products() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("bulk").await;
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand, active) \
         SELECT '{}', 'BULK-' || lpad(n::text, 5, '0'), 'Item ' || md5(n::text), '{}', '{}', 'goods', 10 + n % 90, 5, 100, n % 10 <> 0 \
         FROM generate_series(1, 10000) AS n",
        group.root_id,
        category.id,
        group.root_id
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();

    #[derive(diesel::QueryableByName)]
    struct Needle {
        #[diesel(sql_type = diesel::sql_types::Text)]
        needle: String,
    }
    let needle: Vec<Needle> = diesel::sql_query("SELECT substr(md5('4321'), 3, 9) AS needle")
        .load(&mut conn)
        .await
        .unwrap();
    let needle = needle[0].needle.clone();
    let group_id = group.root_id;
    let tier = group
        .tier("bulk", "15")
        .eligible(&["direct"])
        .create()
        .await;
    let tier_id = tier.id;
    let category_id = category.id;
    let query = |category: Option<uuid::Uuid>, seller: Option<uuid::Uuid>, q: Option<&str>| {
        ProductListQuery {
            category_id: category,
            seller_company_id: seller,
            q: q.map(str::to_owned),
            limit: None,
            cursor: None,
        }
    };
    let cases: Vec<(ProductListQuery, Option<&str>, Vec<String>)> = vec![
        (query(None, None, None), None, vec![]),
        (query(None, None, None), Some("BULK-05000"), vec![]),
        (
            query(Some(category_id), None, None),
            None,
            vec![format!("'{category_id}'")],
        ),
        (
            query(None, Some(group_id), None),
            None,
            vec![format!("'{group_id}'")],
        ),
        // A selective search (part of one product's name) goes through the trigram indexes.
        (
            query(None, None, Some(&needle)),
            None,
            vec![format!("'%{needle}%'"), format!("'%{needle}%'")],
        ),
    ];
    for (list_query, after, extra) in cases {
        let sql = internal_store::catalog::queries::listing_sql(
            group_id,
            Some(tier_id),
            &list_query,
            after,
            21,
        );
        let mut args = vec![
            format!("'{tier_id}'"),
            format!("'{group_id}'"),
            format!("'{}'", after.unwrap_or("")),
        ];
        args.extend(extra);
        args.push("21".into());
        diesel::sql_query("DEALLOCATE ALL")
            .execute(&mut conn)
            .await
            .unwrap();
        diesel::sql_query(format!("PREPARE listing AS {sql}"))
            .execute(&mut conn)
            .await
            .unwrap();
        // The server's connections use generic plans (src/db/mod.rs), except for searches,
        // which are planned for their pattern; custom plans too, for other connections.
        let modes: &[&str] = if list_query.q.is_some() {
            &["force_custom_plan"]
        } else {
            &["force_generic_plan", "force_custom_plan"]
        };
        for mode in modes {
            diesel::sql_query(format!("SET plan_cache_mode = {mode}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let plan: Vec<PlanLine> =
                diesel::sql_query(format!("EXPLAIN EXECUTE listing({})", args.join(", ")))
                    .load(&mut conn)
                    .await
                    .unwrap();
            let text = plan
                .into_iter()
                .map(|p| p.line)
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                !text.contains("Seq Scan on products"),
                "sequential scan ({mode}) for {list_query:?}:\n{text}"
            );
            assert!(text.contains("products"), "{text}");
        }
        diesel::sql_query("RESET plan_cache_mode")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The listing cache (src/catalog/cache.rs)

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
    assert_eq!(quote.list_total, "9999999999999990.00");
    assert_eq!(quote.discount_total, "9999999999999990.00");
    assert_eq!(quote.total, "0.00");
    let placed = token.order("largest", [(&dear, 1000)]).await;
    assert_eq!(
        placed.typed::<OrderView>(201).list_total,
        "9999999999999990.00"
    );
}
