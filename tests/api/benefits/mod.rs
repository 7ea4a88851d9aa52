//! The taxable part of employee discounts (§7), through the API: orders placed and fulfilled,
//! the report read. Every figure is a worked example of the rule it tests.

mod facts;
mod household;
mod imputed;
mod rules;

use internal_store::catalog::dto::TierView;
use internal_store::catalog::dto::{CategoryView, ProductView};
use internal_store::orders::dto::OrderView;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::trade::day;
use crate::helpers::{Actor, Group, TestApp};

/// A group on 2026-03-05 with its finance officer and one category.
struct Shop {
    app: TestApp,
    group: Group,
    finance: Actor,
    category: CategoryView,
}

impl Shop {
    async fn open(currency: &str) -> Self {
        let app = TestApp::spawn().await;
        app.clock.set_today(day("2026-03-05"));
        let group = app
            .bootstrap_group(&format!("G{currency}"), currency, "admin@group.example")
            .await;
        let finance = group
            .employee("fin@group.example")
            .roles(&["employee", "finance"])
            .create()
            .await;
        let category = group.category("things").await;
        Self {
            app,
            group,
            finance,
            category,
        }
    }

    /// A company of the group: `fields` on top of a code, name and parent.
    async fn company(&self, code: &str, fields: Value) -> Uuid {
        let mut body = json!({"code": code, "name": code, "parent_id": self.group.root_id,
                              "currency": "USD", "country": "US"});
        for (key, value) in fields.as_object().unwrap() {
            body[key] = value.clone();
        }
        let reply = self.group.admin.post("/api/v1/companies", body).await;
        Uuid::parse_str(reply.assert_status(201)["id"].as_str().unwrap()).unwrap()
    }

    async fn product(&self, sku: &str, seller: Uuid, price: &str, extra: Value) -> ProductView {
        self.group
            .product(sku, &self.category, price)
            .seller(seller)
            .with(extra)
            .create()
            .await
    }

    async fn tier(&self, code: &str, percent: &str) -> TierView {
        self.group.tier(code, percent).create().await
    }

    /// An employee of `company` in `tier`, signed in.
    async fn employee(&self, email: &str, company: Uuid, tier: &TierView) -> Actor {
        self.group
            .employee(email)
            .company(company)
            .tier(tier)
            .create()
            .await
    }

    /// `who` orders `quantity` × `product`, and the admin fulfils it.
    async fn fulfilled(&self, who: &Actor, product: &ProductView, quantity: i64) -> OrderView {
        let key = Uuid::new_v4().to_string();
        let order: OrderView = who.order(&key, [(product, quantity)]).await.typed(201);
        self.group
            .admin
            .order_action(&order, "fulfil")
            .await
            .assert_status(200);
        order
    }

    async fn rate(&self, base: &str, quote: &str, rate: &str) {
        self.finance
            .post(
                "/api/v1/fx-rates",
                json!({"base": base, "quote": quote, "rate": rate, "date": "2026-03-01"}),
            )
            .await
            .assert_status(201);
    }

    async fn report(&self, query: &str) -> Value {
        self.finance
            .get(&format!(
                "/api/v1/finance/employee-benefits?year=2026{query}"
            ))
            .await
            .assert_status(200)
            .clone()
    }

    /// The report's item for `who`.
    async fn item(&self, who: &Actor) -> Value {
        let report = self.report("&limit=100").await;
        let items = report["items"].as_array().unwrap();
        let mine: Vec<&Value> = items
            .iter()
            .filter(|i| i["employee_id"] == who.id.to_string())
            .collect();
        assert_eq!(mine.len(), 1, "one item for {}: {report}", who.id);
        mine[0].clone()
    }
}

/// The amounts of an item: (discount_total, qualified_discount, taxable_excess).
fn split(item: &Value) -> (&str, &str, &str) {
    (
        item["discount_total"].as_str().unwrap(),
        item["qualified_discount"].as_str().unwrap(),
        item["taxable_excess"].as_str().unwrap(),
    )
}
