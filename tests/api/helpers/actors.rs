//! Actors (a signed-in employee with their token) and builders for what a test sets up, e.g.
//! `let alice = g.employee("alice@jkl.example").tier(&t).create().await;` and
//! `let order = alice.place_order([(&widget, 2)]).await;`. Answers are read into the crate's DTOs.

use std::sync::atomic::{AtomicU64, Ordering};

use internal_store::catalog::dto::{CategoryView, ProductView, TierView};
use internal_store::identity::dto::{CompanyView, EmployeeView, MeView};
use internal_store::orders::dto::OrderView;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{Reply, TestApp};

/// Whatever carries a bearer token: a token itself or an actor.
pub trait Bearer {
    fn bearer(&self) -> &str;
}

impl Bearer for str {
    fn bearer(&self) -> &str {
        self
    }
}

impl Bearer for String {
    fn bearer(&self) -> &str {
        self
    }
}

impl Bearer for Actor {
    fn bearer(&self) -> &str {
        &self.token
    }
}

/// Whatever has an id an order line or a body can name.
pub trait HasId {
    fn id(&self) -> Uuid;
}

impl HasId for Uuid {
    fn id(&self) -> Uuid {
        *self
    }
}

impl<T: HasId + ?Sized> HasId for &T {
    fn id(&self) -> Uuid {
        (**self).id()
    }
}

macro_rules! has_id {
    ($($view:ty),*) => {$(
        impl HasId for $view {
            fn id(&self) -> Uuid {
                self.id
            }
        }
    )*};
}

has_id!(
    ProductView,
    CategoryView,
    TierView,
    CompanyView,
    EmployeeView,
    OrderView,
    internal_store::intercompany::dto::IcOrderView,
    Actor
);

/// Order lines as the API takes them.
pub fn lines<P: HasId>(lines: impl IntoIterator<Item = (P, i64)>) -> Value {
    lines
        .into_iter()
        .map(|(p, q)| json!({"product_id": p.id(), "quantity": q}))
        .collect()
}

/// An instance's address and an HTTP client.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(address: &str, client: reqwest::Client) -> Self {
        Self {
            address: address.to_owned(),
            client,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.request(method, path, token, body, None).await
    }

    /// A request with an optional `Idempotency-Key`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        TestApp::decode(request.send().await.unwrap()).await
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let reply = self
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        reply.assert_status(200)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

static KEYS: AtomicU64 = AtomicU64::new(0);

/// A signed-in employee.
#[derive(Clone)]
pub struct Actor {
    pub id: Uuid,
    pub token: String,
    pub api: Api,
}

impl Actor {
    pub fn new(api: Api, id: Uuid, token: String) -> Self {
        Self { id, token, api }
    }

    /// The same employee calling another instance.
    pub fn on(&self, app: &TestApp) -> Self {
        Self {
            api: app.api(),
            ..self.clone()
        }
    }

    /// The same employee with an HTTP client (and connections) of their own, so that calls
    /// from racing tasks really race.
    pub fn alone(&self) -> Self {
        Self {
            api: Api::new(&self.api.address, reqwest::Client::new()),
            ..self.clone()
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.api
            .send(Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.api
            .send(Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.api
            .send(Method::PATCH, path, Some(&self.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.api
            .send(Method::DELETE, path, Some(&self.token), None)
            .await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.api
            .send(Method::PUT, path, Some(&self.token), Some(body))
            .await
    }

    /// `POST path` with an `Idempotency-Key`.
    pub async fn post_keyed(&self, path: &str, key: &str, body: Value) -> Reply {
        self.api
            .request(Method::POST, path, Some(&self.token), Some(body), Some(key))
            .await
    }

    pub async fn me(&self) -> MeView {
        self.get("/api/v1/me").await.typed(200)
    }

    pub async fn product(&self, product: impl HasId) -> ProductView {
        self.get(&format!("/api/v1/products/{}", product.id()))
            .await
            .typed(200)
    }

    /// `POST /orders` with this key and these lines, as answered.
    pub async fn order<P: HasId>(
        &self,
        key: &str,
        order_lines: impl IntoIterator<Item = (P, i64)>,
    ) -> Reply {
        self.post_keyed("/api/v1/orders", key, json!({"lines": lines(order_lines)}))
            .await
    }

    /// Places an order under a fresh key; it must be placed.
    pub async fn place_order<P: HasId>(
        &self,
        order_lines: impl IntoIterator<Item = (P, i64)>,
    ) -> OrderView {
        let key = format!("order-{}", KEYS.fetch_add(1, Ordering::Relaxed));
        self.order(&key, order_lines).await.typed(201)
    }

    /// `POST /orders/{id}/{action}` (`cancel`, `fulfil`) with an empty body.
    pub async fn order_action(&self, order: impl HasId, action: &str) -> Reply {
        self.post(
            &format!("/api/v1/orders/{}/{action}", order.id()),
            json!({}),
        )
        .await
    }
}

/// A group: its root company and its first admin, who builds what tests need.
pub struct Group {
    pub root_id: Uuid,
    pub admin: Actor,
}

impl Group {
    pub fn company(&self, code: &str) -> CompanyBuilder<'_> {
        CompanyBuilder {
            group: self,
            body: json!({"code": code, "name": format!("{code} Inc."), "parent_id": self.root_id,
                         "currency": "USD", "country": "US"}),
        }
    }

    pub async fn category(&self, code: &str) -> CategoryView {
        self.admin
            .post(
                "/api/v1/categories",
                json!({"code": code, "name": format!("{code} goods")}),
            )
            .await
            .typed(201)
    }

    /// A tier with `discount_percent` `percent`, no allowance, open to direct staff.
    pub fn tier(&self, code: &str, percent: &str) -> TierBuilder<'_> {
        TierBuilder {
            group: self,
            body: json!({"code": code, "name": format!("{code} tier"), "discount_percent": percent,
                         "annual_allowance": null, "eligible_employment_types": ["direct"]}),
        }
    }

    /// A product of the root company at `price`, 100 in stock, costing 0.
    pub fn product(&self, sku: &str, category: &CategoryView, price: &str) -> ProductBuilder<'_> {
        ProductBuilder {
            group: self,
            body: json!({
                "sku": sku, "name": format!("Product {sku}"), "category_id": category.id,
                "seller_company_id": self.root_id, "kind": "goods", "list_price": price,
                "unit_cost": "0", "stock_on_hand": 100
            }),
        }
    }

    /// A direct, operational employee of the root company with the role `employee` only.
    pub fn employee(&self, email: &str) -> EmployeeBuilder<'_> {
        EmployeeBuilder {
            group: self,
            body: json!({
                "email": email, "full_name": "Test Person", "company_id": self.root_id,
                "employment_type": "direct", "client_type": "operational",
                "password": EMPLOYEE_PASSWORD
            }),
        }
    }
}

pub const EMPLOYEE_PASSWORD: &str = "employee-password-1";

/// Sets or overrides the fields of `body` with those of `extra` (an object).
fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        for (key, value) in extra {
            body[key] = value;
        }
    }
}

pub struct CompanyBuilder<'a> {
    group: &'a Group,
    body: Value,
}

impl CompanyBuilder<'_> {
    pub fn currency(mut self, currency: &str) -> Self {
        self.body["currency"] = json!(currency);
        self
    }

    pub fn parent(mut self, parent: impl HasId) -> Self {
        self.body["parent_id"] = json!(parent.id());
        self
    }

    pub async fn send(self) -> Reply {
        self.group.admin.post("/api/v1/companies", self.body).await
    }

    pub async fn create(self) -> CompanyView {
        self.send().await.typed(201)
    }
}

pub struct TierBuilder<'a> {
    group: &'a Group,
    body: Value,
}

impl TierBuilder<'_> {
    pub fn allowance(mut self, allowance: &str) -> Self {
        self.body["annual_allowance"] = json!(allowance);
        self
    }

    pub fn eligible(mut self, types: &[&str]) -> Self {
        self.body["eligible_employment_types"] = json!(types);
        self
    }

    pub async fn create(self) -> TierView {
        self.group
            .admin
            .post("/api/v1/discount-tiers", self.body)
            .await
            .typed(201)
    }
}

pub struct ProductBuilder<'a> {
    group: &'a Group,
    body: Value,
}

impl ProductBuilder<'_> {
    pub fn seller(mut self, seller: impl HasId) -> Self {
        self.body["seller_company_id"] = json!(seller.id());
        self
    }

    pub fn stock(mut self, stock: i64) -> Self {
        self.body["stock_on_hand"] = json!(stock);
        self
    }

    pub fn cost(mut self, cost: &str) -> Self {
        self.body["unit_cost"] = json!(cost);
        self
    }

    /// A purchase limit of `max` per `period` (`month` or `year`).
    pub fn limit(mut self, max: i64, period: &str) -> Self {
        self.body["purchase_limit"] = json!({"max_quantity": max, "period": period});
        self
    }

    /// Any other fields (`active`, `employee_eligible`, `kind`, …).
    pub fn with(mut self, extra: Value) -> Self {
        merge(&mut self.body, extra);
        self
    }

    pub async fn send(self) -> Reply {
        self.group.admin.post("/api/v1/products", self.body).await
    }

    pub async fn create(self) -> ProductView {
        self.send().await.typed(201)
    }
}

pub struct EmployeeBuilder<'a> {
    group: &'a Group,
    body: Value,
}

impl EmployeeBuilder<'_> {
    pub fn company(mut self, company: impl HasId) -> Self {
        self.body["company_id"] = json!(company.id());
        self
    }

    pub fn tier(mut self, tier: &TierView) -> Self {
        self.body["tier_id"] = json!(tier.id);
        self
    }

    pub fn roles(mut self, roles: &[&str]) -> Self {
        self.body["roles"] = json!(roles);
        self
    }

    /// `direct` or `outsourced`.
    pub fn employment(mut self, employment: &str) -> Self {
        self.body["employment_type"] = json!(employment);
        self
    }

    /// Creates the employee and signs them in.
    pub async fn create(self) -> Actor {
        self.create_viewed().await.1
    }

    /// [`EmployeeBuilder::create`], with the created employee as answered.
    pub async fn create_viewed(self) -> (EmployeeView, Actor) {
        let admin = &self.group.admin;
        let email = self.body["email"].as_str().unwrap().to_owned();
        let password = self.body["password"].as_str().unwrap().to_owned();
        let view: EmployeeView = admin.post("/api/v1/employees", self.body).await.typed(201);
        let token = admin.api.token(&email, &password).await;
        (view.clone(), Actor::new(admin.api.clone(), view.id, token))
    }
}

impl Group {
    /// A product's `stock_on_hand`, as its admin reads it.
    pub async fn stock_on_hand(&self, product: impl HasId) -> i32 {
        let view = self.admin.product(product).await;
        view.admin
            .expect("an admin sees the admin fields")
            .stock_on_hand
    }
}

/// A body as answered (kept as JSON where a test inspects the wire format): its `id`.
impl HasId for Value {
    fn id(&self) -> Uuid {
        self["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no id in {self}"))
    }
}
