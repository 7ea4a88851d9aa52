//! Intercompany fixtures shared by the trade and finance stories: a group with three
//! subsidiaries and a member for every role, and helpers that read like the API.

use internal_store::catalog::dto::{CategoryView, ProductView};
use internal_store::intercompany::dto::PolicyView;
use serde_json::{json, Value};
use uuid::Uuid;

use super::actors::lines;
use super::{Actor, Group, HasId, Reply, TestApp};

/// JKL (USD) with ABC (USD, the seller) and XYZ (EUR, the buyer), a purchaser for each,
/// finance, a plain employee, and a purchaser of a third company DEF.
pub struct Trade {
    pub group: Group,
    pub abc: Uuid,
    pub xyz: Uuid,
    pub def: Uuid,
    pub abc_purchaser: Actor,
    pub xyz_purchaser: Actor,
    pub def_purchaser: Actor,
    pub finance: Actor,
    pub employee: Actor,
    pub category: CategoryView,
}

pub async fn trade(app: &TestApp) -> Trade {
    let group = app.bootstrap().await;
    let abc = group.company("ABC").create().await.id;
    let xyz = group.company("XYZ").currency("EUR").create().await.id;
    let def = group.company("DEF").create().await.id;
    let person = |company: Uuid, email: &str, roles: &[&str]| {
        group.employee(email).company(company).roles(roles).create()
    };
    let purchaser = ["employee", "purchaser"];
    let abc_purchaser = person(abc, "paul@abc.example", &purchaser).await;
    let xyz_purchaser = person(xyz, "petra@xyz.example", &purchaser).await;
    let def_purchaser = person(def, "dora@def.example", &purchaser).await;
    let finance = person(group.root_id, "fiona@jkl.example", &["employee", "finance"]).await;
    let employee = person(abc, "eve@abc.example", &["employee"]).await;
    let category = group.category("parts").await;
    Trade {
        group,
        abc,
        xyz,
        def,
        abc_purchaser,
        xyz_purchaser,
        def_purchaser,
        finance,
        employee,
        category,
    }
}

impl Trade {
    /// A product ABC sells to its sister companies.
    pub async fn product(&self, sku: &str, cost: &str, list: &str, stock: i64) -> ProductView {
        self.group
            .product(sku, &self.category, list)
            .seller(self.abc)
            .cost(cost)
            .stock(stock)
            .create()
            .await
    }

    /// A transfer-pricing policy of ABC (`body` without the seller).
    pub async fn policy(&self, body: Value) -> PolicyView {
        let mut body = body;
        body["seller_company_id"] = json!(self.abc);
        self.finance
            .post("/api/v1/transfer-pricing-policies", body)
            .await
            .typed(201)
    }

    pub async fn rate(&self, base: &str, quote: &str, rate: &str, date: &str) {
        self.finance
            .post(
                "/api/v1/fx-rates",
                json!({"base": base, "quote": quote, "rate": rate, "date": date}),
            )
            .await
            .assert_status(201);
    }

    /// The body of an order XYZ places with ABC.
    pub fn order_body<P: HasId>(&self, order_lines: impl IntoIterator<Item = (P, i64)>) -> Value {
        json!({
            "buyer_company_id": self.xyz,
            "seller_company_id": self.abc,
            "lines": lines(order_lines),
        })
    }
}

/// `POST /intercompany-orders` by `who` under `key`.
pub async fn create(who: &Actor, key: &str, body: &Value) -> Reply {
    who.post_keyed("/api/v1/intercompany-orders", key, body.clone())
        .await
}

/// `POST /intercompany-orders/{id}/{action}` by `who`.
pub async fn act(who: &Actor, order: impl HasId, action: &str, body: Value) -> Reply {
    who.post(
        &format!("/api/v1/intercompany-orders/{}/{action}", order.id()),
        body,
    )
    .await
}

pub fn day(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}
