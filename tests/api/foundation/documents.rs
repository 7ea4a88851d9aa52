//! Pooled connections, roles before bodies, NUL in bodies, enums and schemas as documented, /docs.

use super::*;

#[derive(diesel::QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The PostgreSQL backends serving the app's pool (everything on its database but this probe
/// and the listing cache's listener).
async fn pool_backends(app: &TestApp, probe: &mut diesel_async::AsyncPgConnection) -> Vec<i32> {
    let rows: Vec<Backend> = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
         AND application_name <> 'internal-store-listener' ORDER BY pid",
    )
    .bind::<diesel::sql_types::Text, _>(&app.db.name)
    .load(probe)
    .await
    .unwrap();
    rows.into_iter().map(|b| b.pid).collect()
}

#[tokio::test]
async fn pooled_connections_are_renewed_after_their_lifetime() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_LIFETIME_SECS", "1")]).await;
    let mut probe = app.db.connect().await;
    app.get("/health/ready", "").await.assert_status(200);
    let before = pool_backends(&app, &mut probe).await;
    assert!(!before.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..3 {
        app.get("/health/ready", "").await.assert_status(200);
    }
    let after = pool_backends(&app, &mut probe).await;
    assert!(
        !after.is_empty() && after.iter().all(|pid| !before.contains(pid)),
        "old connections were reused: before {before:?}, after {after:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The contract: the document and the server agree.

/// Every operation whose bearer requirement lists roles (the document's statement of who may
/// call it) answers 403 to an employee without them, before looking at the body: an incomplete
/// body, or one holding NUL, teaches such a caller nothing about the operation.
#[tokio::test]
async fn roles_are_checked_before_the_body_on_every_role_gated_operation() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let employee = group
        .employee("plain@jkl.example")
        .roles(&["employee"])
        .create()
        .await;
    let document = internal_store::openapi::document();
    let mut checked = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let roles: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if roles.is_empty() || roles.contains(&"employee") {
                continue;
            }
            let mut concrete = path
                .split('/')
                .map(|part| {
                    if part.starts_with('{') {
                        "00000000-0000-4000-8000-000000000000"
                    } else {
                        part
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            // Required query parameters get a valid value (this test is about bodies).
            let required: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| {
                    format!(
                        "{}={}",
                        p["name"].as_str().unwrap(),
                        p["schema"]["minimum"].as_i64().unwrap_or(1)
                    )
                })
                .collect();
            if !required.is_empty() {
                concrete = format!("{concrete}?{}", required.join("&"));
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for body in [
                None,
                Some(serde_json::json!({})),
                Some(serde_json::json!({"name": "\u{0}", "unknown": 1})),
            ] {
                if body.is_some() && operation.get("requestBody").is_none() {
                    continue;
                }
                let reply = app
                    .send(
                        method.clone(),
                        &concrete,
                        Some(&employee.token),
                        body.clone(),
                    )
                    .await;
                assert_eq!(
                    reply.status.as_u16(),
                    403,
                    "{method} {path} with {body:?}: {}",
                    reply.body
                );
                reply.assert_problem(403, "forbidden");
            }
            checked.push(format!("{method} {path}"));
        }
    }
    assert!(
        checked.iter().any(|c| c == "POST /api/v1/employees") && checked.len() >= 15,
        "role-gated operations found: {checked:?}"
    );
}

/// NUL cannot be stored by PostgreSQL: wherever it appears in a body (top level, nested,
/// in a login), it is a 422 naming the field; in a query parameter, a 400 naming it.
#[tokio::test]
async fn text_holding_nul_is_refused_naming_the_field_in_every_body() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let admin = &group.admin;
    let cases = [
        (
            "/api/v1/discount-tiers",
            serde_json::json!({"code": "T1", "name": "\u{0}", "discount_percent": "5"}),
            "name",
        ),
        (
            "/api/v1/categories",
            serde_json::json!({"code": "C\u{0}", "name": "x"}),
            "code",
        ),
        (
            "/api/v1/companies",
            serde_json::json!({"code": "X", "name": "X", "parent_id": group.root_id, "currency": "USD", "country": "US\u{0}"}),
            "country",
        ),
        (
            "/api/v1/orders/quote",
            serde_json::json!({"lines": [{"product_id": "\u{0}", "quantity": 1}]}),
            "lines[0].product_id",
        ),
    ];
    for (path, body, field) in cases {
        let reply = app.post(path, admin, body).await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(
            reply.body["errors"][0]["field"], field,
            "{path}: {}",
            reply.body
        );
    }
    let login = app.login("ada\u{0}@jkl.example", "whatever-password").await;
    login.assert_problem(422, "validation_failed");
    assert_eq!(login.body["errors"][0]["field"], "email");
    let query = app.get("/api/v1/products?q=a%00b", admin).await;
    query.assert_problem(400, "validation_failed");
    assert_eq!(query.body["errors"][0]["field"], "q");
    let cursor = internal_store::pagination::encode_cursor(&"a\u{0}".to_string());
    app.get(&format!("/api/v1/categories?cursor={cursor}"), admin)
        .await
        .assert_problem(400, "validation_failed");
}

/// What the server sends back can be sent again: every `benefit_tax_rule` is accepted as
/// input, read back with the same spelling, and the document lists exactly those spellings.
#[tokio::test]
async fn benefit_tax_rule_reads_back_as_it_is_written() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let rules = [
        "none",
        "us_irc_132",
        "de_estg_8_3",
        "uk_bik_cost",
        "fr_urssaf_30",
        "es_lirpf_ordinary",
    ];
    for (n, rule) in rules.iter().enumerate() {
        let created = app
            .post(
                "/api/v1/companies",
                &group.admin,
                serde_json::json!({"code": format!("C{n}"), "name": "C", "parent_id": group.root_id,
                    "currency": "EUR", "country": "DE", "benefit_tax_rule": rule,
                    "qualified_discount_gp_percent": "35"}),
            )
            .await;
        // The wire format is the point here: the value read is sent back as it is.
        let created = created.assert_status(201).clone();
        assert_eq!(created["benefit_tax_rule"], *rule);
        let id = created.id();
        let patched = app
            .patch(
                &format!("/api/v1/companies/{id}"),
                &group.admin,
                serde_json::json!({"benefit_tax_rule": created["benefit_tax_rule"]}),
            )
            .await;
        assert_eq!(patched.assert_status(200)["benefit_tax_rule"], *rule);
    }
    let document = internal_store::openapi::document();
    assert_eq!(
        document["components"]["schemas"]["BenefitTaxRule"]["enum"],
        serde_json::json!(rules)
    );
}

/// The listing's items validate against `ProductView` for an employee (no admin fields) and an
/// admin (with them): every required property present, no property the schema does not list.
#[tokio::test]
async fn product_items_match_the_documented_schema_for_employees_and_admins() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("TOOLS").await;
    let product = group
        .product("SKU-1", &category, "10.00")
        .with(serde_json::json!({}))
        .create()
        .await;
    let employee = group.employee("shop@jkl.example").create().await;
    let document = internal_store::openapi::document();
    let schema = &document["components"]["schemas"]["ProductView"];
    assert!(schema.get("allOf").is_none(), "{schema}");
    let conforms = |item: &Value| {
        let properties = schema["properties"].as_object().unwrap();
        for required in schema["required"].as_array().unwrap() {
            assert!(
                item.get(required.as_str().unwrap()).is_some(),
                "{required} missing: {item}"
            );
        }
        for key in item.as_object().unwrap().keys() {
            assert!(properties.contains_key(key), "{key} undocumented: {item}");
        }
    };
    let listing = app.get("/api/v1/products", &employee).await;
    let item = &listing.assert_status(200)["items"][0];
    assert!(item.get("unit_cost").is_none());
    conforms(item);
    let id = product.id;
    let admin_view = app
        .get(&format!("/api/v1/products/{id}"), &group.admin)
        .await;
    let admin_view = admin_view.assert_status(200);
    assert!(admin_view.get("unit_cost").is_some());
    conforms(admin_view);
}

/// `/docs` works without internet: the page and every file it loads (stylesheets, icons,
/// scripts, then the document the initializer names) are served by the service itself, and
/// neither the page nor the initializer refers to another origin.
#[tokio::test]
async fn docs_page_and_every_asset_it_loads_come_from_the_service() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            assets.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    assert!(assets.len() >= 4, "{html}");
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css"))
    );
    let mut scripts = String::new();
    for asset in &assets {
        assert!(asset.starts_with("/docs/"), "asset from elsewhere: {asset}");
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        let body = response.text().await.unwrap_or_default();
        if asset.ends_with("initializer.js") {
            scripts.push_str(&body);
        }
        if asset.ends_with(".css") {
            // Stylesheets may embed images as data: URIs but load nothing from elsewhere.
            for url in body.split("url(").skip(1) {
                let target = url.trim_start_matches(['"', '\'']);
                assert!(
                    target.starts_with("data:") || target.starts_with('/'),
                    "{asset}: {url:.60}"
                );
            }
        }
    }
    assert!(
        scripts.contains("\"url\": \"/api-docs/openapi.json\""),
        "{scripts}"
    );
    assert!(
        !scripts.contains("http://") && !scripts.contains("https://"),
        "{scripts}"
    );
    assert!(scripts.contains("\"validatorUrl\": \"none\""), "{scripts}");
    let document = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------------------------
// Hardening (§2): panics, headers, routing, metrics, CORS, client address, the real browser.
