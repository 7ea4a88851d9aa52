//! Catalog and employee pricing over HTTP: tiers, overrides, eligibility, rounding, listing,
//! pagination, search, stock adjustments, and index use at 10 000 products.

mod amounts;
mod cache;
mod plans;

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
