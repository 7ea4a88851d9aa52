//! Intercompany fixtures shared by the trade and finance stories: a group with three
//! subsidiaries and a member for every role, and helpers that read like the API.

use serde_json::{json, Value};

use super::{Group, Reply, TestApp};

/// JKL (USD) with ABC (USD, the seller) and XYZ (EUR, the buyer), a purchaser for each,
/// finance, a plain employee, and a purchaser of a third company DEF.
pub struct Trade {
    pub group: Group,
    pub abc: String,
    pub xyz: String,
    pub abc_purchaser: String,
    pub xyz_purchaser: String,
    pub def_purchaser: String,
    pub finance: String,
    pub employee: String,
    pub category: Value,
    pub def: String,
}

pub async fn trade(app: &TestApp) -> Trade {
    let group = app.bootstrap().await;
    let company = |code: &'static str, currency: &'static str| {
        let root = group.root_id.clone();
        let admin = group.admin.clone();
        async move {
            app.create_company(&admin, code, Some(&root), currency)
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let abc = company("ABC", "USD").await;
    let xyz = company("XYZ", "EUR").await;
    let def = company("DEF", "USD").await;
    let person = |company: String, email: &'static str, roles: &'static [&'static str]| {
        let admin = group.admin.clone();
        async move { app.create_employee(&admin, &company, email, roles).await.1 }
    };
    let abc_purchaser = person(abc.clone(), "paul@abc.example", &["employee", "purchaser"]).await;
    let xyz_purchaser = person(xyz.clone(), "petra@xyz.example", &["employee", "purchaser"]).await;
    let def_purchaser = person(def.clone(), "dora@def.example", &["employee", "purchaser"]).await;
    let finance = person(
        group.root_id.clone(),
        "fiona@jkl.example",
        &["employee", "finance"],
    )
    .await;
    let employee = person(abc.clone(), "eve@abc.example", &["employee"]).await;
    let category = app.create_category(&group.admin, "parts").await;
    Trade {
        group,
        abc,
        xyz,
        abc_purchaser,
        xyz_purchaser,
        def_purchaser,
        finance,
        employee,
        category,
        def,
    }
}

impl Trade {
    /// A product ABC sells to its sister companies.
    pub async fn product(
        &self,
        app: &TestApp,
        sku: &str,
        cost: &str,
        list: &str,
        stock: i64,
    ) -> Value {
        app.create_product(
            &self.group.admin,
            sku,
            &self.category,
            &self.abc,
            list,
            json!({"unit_cost": cost, "stock_on_hand": stock}),
        )
        .await
    }

    pub async fn policy(&self, app: &TestApp, body: Value) -> Value {
        let mut body = body;
        body["seller_company_id"] = json!(self.abc);
        app.post("/api/v1/transfer-pricing-policies", &self.finance, body)
            .await
            .assert_status(201)
            .clone()
    }

    pub async fn rate(&self, app: &TestApp, base: &str, quote: &str, rate: &str, date: &str) {
        app.post(
            "/api/v1/fx-rates",
            &self.finance,
            json!({"base": base, "quote": quote, "rate": rate, "date": date}),
        )
        .await
        .assert_status(201);
    }

    pub fn order_body(&self, lines: &[(&Value, i64)]) -> Value {
        json!({
            "buyer_company_id": self.xyz,
            "seller_company_id": self.abc,
            "lines": lines.iter().map(|(p, q)| json!({"product_id": p["id"], "quantity": q})).collect::<Vec<_>>(),
        })
    }
}

pub async fn create(app: &TestApp, token: &str, key: &str, body: &Value) -> Reply {
    let response = app
        .client
        .post(app.url("/api/v1/intercompany-orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    TestApp::decode(response).await
}

pub async fn act(app: &TestApp, token: &str, order: &Value, action: &str, body: Value) -> Reply {
    app.post(
        &format!(
            "/api/v1/intercompany-orders/{}/{action}",
            order["id"].as_str().unwrap()
        ),
        token,
        body,
    )
    .await
}

pub fn day(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}
