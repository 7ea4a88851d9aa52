//! Each group is a sealed tenant. Two groups are created by `bootstrap` and filled with one of
//! every object; then every operation of the OpenAPI document, read at run time, is called by
//! every role of group B with group A's ids in its path, id-typed query parameters and body id
//! fields. Nothing may succeed, nothing may fail with a 5xx, no response may carry an id of
//! group A, and group A's rows must be exactly as they were. An operation added later is
//! walked the same way without editing this file.

mod database;
mod operations;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use internal_store::catalog::dto::ProductView;
use internal_store::feedback::dto::FeedbackView;
use internal_store::fx::dto::FxRateView;
use internal_store::intercompany::dto::{IcOrderView, PolicyView};
use internal_store::orders::dto::OrderView;

use crate::helpers::{Group, TestApp};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use reqwest::Method;
use serde_json::{json, Value};

/// One group with one object of every kind and a signed-in member for every role.
struct Tenant {
    group: Group,
    /// Object ids by kind: root, company, category, tier, product, employee, order, …
    ids: HashMap<&'static str, String>,
    /// (role, token) for every role, the group's first admin included.
    members: Vec<(&'static str, String)>,
}

impl Tenant {
    fn id(&self, kind: &str) -> &str {
        self.ids.get(kind).unwrap_or_else(|| panic!("no {kind} id"))
    }
}

/// Creates group `code` with the same codes (company `ABC`, category `gadgets`, tier `staff`,
/// sku `WIDGET-1`) in every group: codes are unique per group only.
async fn populate(app: &TestApp, code: &str, domain: &str) -> Tenant {
    let group = app
        .bootstrap_group(code, "USD", &format!("first.admin@{domain}"))
        .await;
    let company = group.company("ABC").create().await;
    let category = group.category("gadgets").await;
    let tier = group
        .tier("staff", "10")
        .allowance("1000.00")
        .eligible(&["direct", "outsourced"])
        .create()
        .await;
    app.send(
        Method::PUT,
        &format!(
            "/api/v1/discount-tiers/{}/categories/{}",
            tier.id, category.id
        ),
        Some(&group.admin.token),
        Some(json!({"discount_percent": "5"})),
    )
    .await
    .assert_status(200);
    let product = group
        .product("WIDGET-1", &category, "20.00")
        .seller(&company)
        .limit(50, "year")
        .create()
        .await;
    let shopper = group
        .employee(&format!("shopper@{domain}"))
        .company(&company)
        .tier(&tier)
        .create()
        .await;
    let order: OrderView = shopper.order("tenancy-1", [(&product, 1)]).await.typed(201);
    // Intercompany trade: XYZ buys from ABC under a policy; an FX rate is on record.
    let buyer = group.company("XYZ").create().await;
    let finance = group
        .employee(&format!("finance@{domain}"))
        .roles(&["employee", "finance"])
        .create()
        .await;
    let policy: PolicyView = finance
        .post(
            "/api/v1/transfer-pricing-policies",
            json!({"seller_company_id": company.id, "method": "cost_plus", "percent": "10",
                   "valid_from": "2020-01-01"}),
        )
        .await
        .typed(201);
    let rate: FxRateView = finance
        .post(
            "/api/v1/fx-rates",
            json!({"base": "EUR", "quote": "USD", "rate": "1.1", "date": "2025-01-01"}),
        )
        .await
        .typed(201);
    let purchaser = group
        .employee(&format!("buyer@{domain}"))
        .company(&buyer)
        .roles(&["employee", "purchaser"])
        .create()
        .await;
    let ic_order: IcOrderView = purchaser
        .post_keyed(
            "/api/v1/intercompany-orders",
            "tenancy-ic-1",
            json!({"buyer_company_id": buyer.id, "seller_company_id": company.id,
                   "lines": [{"product_id": product.id, "quantity": 1}]}),
        )
        .await
        .typed(201);
    // Feedback on both orders, once delivered (so that reading it has something to find).
    let order_path = format!("/api/v1/orders/{}", order.id);
    group
        .admin
        .order_action(&order, "fulfil")
        .await
        .assert_status(200);
    let feedback: FeedbackView = shopper
        .post(
            &format!("{order_path}/feedback"),
            json!({"rating": 4, "comment": "fine"}),
        )
        .await
        .typed(201);
    let ic_path = format!("/api/v1/intercompany-orders/{}", ic_order.id);
    for action in ["accept", "ship"] {
        group
            .admin
            .post(&format!("{ic_path}/{action}"), json!({}))
            .await
            .assert_status(200);
    }
    purchaser
        .post(&format!("{ic_path}/feedback"), json!({"rating": 5}))
        .await
        .assert_status(201);

    let mut members = vec![
        ("employee", shopper.token.clone()),
        ("finance", finance.token.clone()),
    ];
    for role in ["purchaser", "admin"] {
        let member = group
            .employee(&format!("{role}@{domain}"))
            .company(&company)
            .roles(&["employee", role])
            .create()
            .await;
        members.push((role, member.token));
    }
    members.push(("first_admin", group.admin.token.clone()));
    // Two members of the first admin's household: one to order for, one to remove.
    let mut household = Vec::new();
    for name in ["Kept Member", "Removed Member"] {
        let member = group
            .admin
            .post(
                "/api/v1/me/household",
                json!({"full_name": name, "relationship": "dependent_child"}),
            )
            .await;
        household.push(member.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    let ids = HashMap::from([
        ("root", group.root_id),
        ("company", company.id),
        ("category", category.id),
        ("tier", tier.id),
        ("product", product.id),
        ("employee", shopper.id),
        ("order", order.id),
        ("buyer", buyer.id),
        ("policy", policy.id),
        ("fx_rate", rate.id),
        ("ic_order", ic_order.id),
        ("feedback", feedback.id),
    ])
    .into_iter()
    .map(|(kind, id)| (kind, id.to_string()))
    .chain([
        ("member", household[0].clone()),
        ("removable_member", household[1].clone()),
    ])
    .collect();
    Tenant {
        group,
        ids,
        members,
    }
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

async fn texts(conn: &mut AsyncPgConnection, sql: &str) -> Vec<String> {
    let rows: Vec<Text> = diesel::sql_query(sql).load(conn).await.unwrap();
    rows.into_iter().map(|r| r.value).collect()
}

/// Tables that carry a group, found in the catalog (so a new table is covered too).
async fn grouped_tables(conn: &mut AsyncPgConnection) -> Vec<String> {
    texts(
        conn,
        "SELECT table_name::text AS value FROM information_schema.columns \
         WHERE table_schema = 'public' AND column_name = 'group_id' ORDER BY 1",
    )
    .await
}

/// Every row of `group`, table by table (and the allowance ledger, grouped through its
/// employee).
async fn snapshot(conn: &mut AsyncPgConnection, group: &str) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    for table in grouped_tables(conn).await {
        let all = texts(
            conn,
            &format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')::text AS value \
                 FROM {table} t WHERE group_id = '{group}'"
            ),
        )
        .await;
        rows.insert(table, all.concat());
    }
    let allowance = texts(
        conn,
        &format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY to_jsonb(a)::text), '[]')::text AS value \
             FROM allowance_usage a JOIN employees e ON e.id = a.employee_id WHERE e.group_id = '{group}'"
        ),
    )
    .await;
    rows.insert("allowance_usage".into(), allowance.concat());
    rows
}

/// Every id of a row of `group`.
async fn ids_of(conn: &mut AsyncPgConnection, group: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for table in grouped_tables(conn).await {
        let has_id = texts(
            conn,
            &format!(
                "SELECT column_name::text AS value FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{table}' AND column_name = 'id'"
            ),
        )
        .await;
        if !has_id.is_empty() {
            ids.extend(
                texts(
                    conn,
                    &format!("SELECT id::text AS value FROM {table} WHERE group_id = '{group}'"),
                )
                .await,
            );
        }
    }
    ids
}

/// The kind of object a path segment or field names, when it is a known one.
fn kind_named(name: &str) -> Option<&'static str> {
    Some(match name {
        "companies"
        | "company_id"
        | "seller_company_id"
        | "counterparty_company_id"
        | "from_company_id"
        | "to_company_id" => "company",
        "buyer_company_id" => "buyer",
        "transfer-pricing-policies" | "policy_id" => "policy",
        "fx-rates" => "fx_rate",
        "intercompany-orders" => "ic_order",
        "parent_id" | "group_id" => "root",
        "categories" | "category_id" => "category",
        "discount-tiers" | "tier_id" => "tier",
        "products" | "product_id" => "product",
        "employees" | "employee_id" | "actor_id" => "employee",
        "orders" | "order_id" => "order",
        "for_member_id" => "member",
        "household" => "removable_member",
        _ => return None,
    })
}

const KINDS: [&str; 11] = [
    "root", "company", "category", "tier", "product", "employee", "order", "buyer", "policy",
    "fx_rate", "ic_order",
];

/// Builds valid values from the document's schemas, putting `tenant`'s ids in every id field.
struct Generator<'a> {
    doc: &'a Value,
    tenant: &'a Tenant,
    counter: std::cell::Cell<u32>,
}

impl Generator<'_> {
    fn unique(&self) -> u32 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap();
                self.resolve(&self.doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// (value, whether an id of the tenant was put in it)
    fn value(&self, field: &str, schema: &Value) -> (Value, bool) {
        let schema = self.resolve(schema);
        for combinator in ["oneOf", "anyOf", "allOf"] {
            if let Some(options) = schema[combinator].as_array() {
                let chosen = options
                    .iter()
                    .find(|option| option["type"] != "null")
                    .unwrap_or(&Value::Null);
                return self.value(field, chosen);
            }
        }
        if let Some(options) = schema["enum"].as_array() {
            let first = options.iter().find(|v| !v.is_null()).cloned();
            return (first.unwrap_or(Value::Null), false);
        }
        let kind = match &schema["type"] {
            Value::Array(types) => types
                .iter()
                .find(|t| *t != "null")
                .and_then(Value::as_str)
                .unwrap_or("null"),
            Value::String(kind) => kind.as_str(),
            _ if schema["properties"].is_object() => "object",
            _ => "null",
        };
        match kind {
            "object" => {
                let mut object = serde_json::Map::new();
                let mut any = false;
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, property) in properties {
                        // The group's time zone is the root company's alone: a body that
                        // changes a company leaves it out.
                        if name == "time_zone" {
                            continue;
                        }
                        // Paying from wages needs the employer's offer, a tenure and a recorded
                        // pay: an order's body is paid at collection instead.
                        if name == "payment" {
                            continue;
                        }
                        let (value, has_id) = self.value(name, property);
                        any |= has_id;
                        object.insert(name.clone(), value);
                    }
                }
                (Value::Object(object), any)
            }
            "array" => {
                let (item, has_id) = self.value(field, &schema["items"]);
                (Value::Array(vec![item]), has_id)
            }
            "integer" | "number" if field == "year" => {
                (json!(chrono::Datelike::year(&chrono::Utc::now())), false)
            }
            "integer" | "number" => {
                let minimum = schema["minimum"].as_i64().unwrap_or(1).max(1);
                (json!(minimum), false)
            }
            "boolean" => (json!(true), false),
            "string" => self.string(field, schema),
            _ => (Value::Null, false),
        }
    }

    fn string(&self, field: &str, schema: &Value) -> (Value, bool) {
        if schema["format"] == "uuid" {
            let kind = kind_named(field).unwrap_or("company");
            return (json!(self.tenant.id(kind)), true);
        }
        let n = self.unique();
        let text = match field {
            "code" | "sku" => format!("ISO{n}"),
            "email" => format!("isolation{n}@nowhere.example"),
            "password" => "isolation-password-123".to_owned(),
            "currency" => "USD".to_owned(),
            "country" => "US".to_owned(),
            "list_price" | "unit_cost" | "annual_allowance" | "amount" => "10.00".to_owned(),
            "period" => chrono::Utc::now().format("%Y-%m").to_string(),
            // A new policy version starts after the orders its predecessor priced today.
            "valid_from" | "valid_to" => {
                (chrono::Utc::now().date_naive() + chrono::TimeDelta::days(1)).to_string()
            }
            name if name.ends_with("percent") => "10".to_owned(),
            _ => match schema["format"].as_str() {
                Some("date") => chrono::Utc::now().date_naive().to_string(),
                Some("date-time") => chrono::Utc::now().to_rfc3339(),
                // A field of a named string type carries its example in `examples` (OAS 3.1).
                _ => match schema["example"]
                    .as_str()
                    .or(schema["examples"][0].as_str())
                {
                    Some(example) => example.to_owned(),
                    None => format!("Isolation {n}"),
                },
            },
        };
        (json!(text), false)
    }
}

/// One request an operation is tried with.
struct Attempt {
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
    /// A path parameter or body field holds an id of the other tenant: must not succeed.
    targets_other: bool,
}

/// The requests to try `operation` at `template` with: `tenant`'s ids in every id slot.
fn attempts(
    generator: &Generator<'_>,
    template: &str,
    operation: &Value,
    tenant: &Tenant,
) -> Vec<Attempt> {
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Id-typed query parameters carry the tenant's ids; other required ones get a valid value.
    let query: Vec<(String, String)> = parameters
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| {
            let name = p["name"].as_str().unwrap();
            let schema = generator.resolve(&p["schema"]);
            if schema["format"] == "uuid" {
                let kind = kind_named(name).unwrap_or("company");
                return Some((name.to_owned(), tenant.id(kind).to_owned()));
            }
            if p["required"] != true {
                return None;
            }
            let value = match generator.value(name, schema).0 {
                Value::String(text) => text,
                other => other.to_string(),
            };
            Some((name.to_owned(), value))
        })
        .collect();
    let (body, body_has_id) =
        match operation["requestBody"]["content"]["application/json"].get("schema") {
            Some(schema) => {
                let (value, has_id) = generator.value("body", schema);
                (Some(value), has_id)
            }
            None => (None, false),
        };
    // Path parameters: the kind the segment before them names, else every kind in turn.
    let segments: Vec<&str> = template.split('/').collect();
    let mut slot_kinds: Vec<Vec<&'static str>> = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        if segment.starts_with('{') {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            let named = kind_named(name)
                .or_else(|| index.checked_sub(1).and_then(|i| kind_named(segments[i])));
            slot_kinds.push(named.map_or_else(|| KINDS.to_vec(), |k| vec![k]));
        }
    }
    if slot_kinds.is_empty() {
        return vec![Attempt {
            path: template.to_owned(),
            query,
            body,
            targets_other: body_has_id,
        }];
    }
    let choices = slot_kinds.iter().map(Vec::len).max().unwrap_or(1);
    (0..choices)
        .map(|choice| {
            let mut slot = 0;
            let path = segments
                .iter()
                .map(|segment| {
                    if segment.starts_with('{') {
                        let kinds = &slot_kinds[slot];
                        slot += 1;
                        tenant.id(kinds[choice.min(kinds.len() - 1)]).to_owned()
                    } else {
                        (*segment).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            Attempt {
                path,
                query: query.clone(),
                body: body.clone(),
                targets_other: true,
            }
        })
        .collect()
}

async fn call(
    app: &TestApp,
    method: &Method,
    attempt: &Attempt,
    token: &str,
    key: u32,
) -> (u16, String) {
    let mut url = url::Url::parse(&app.url(&attempt.path)).unwrap();
    for (name, value) in &attempt.query {
        url.query_pairs_mut().append_pair(name, value);
    }
    let mut request = app
        .client
        .request(method.clone(), url)
        .bearer_auth(token)
        .header("Idempotency-Key", format!("isolation-{key}"));
    if let Some(body) = &attempt.body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut found = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                if operation.is_object() {
                    found.push((method, template.clone(), operation.clone()));
                }
            }
        }
    }
    found
}
