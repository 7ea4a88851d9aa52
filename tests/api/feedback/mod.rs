//! Listening to internal clients (PRODUCT.md §8): an employee rates a fulfilled order, a
//! purchaser of XYZ rates what ABC shipped, ABC answers once; companies read what they
//! received; and the month's internal-service KPIs are worked out on a small hand-built month.

mod kpis;
mod received;

use internal_store::catalog::dto::ProductView;
use internal_store::feedback::dto::{FeedbackView, OrderKind};
use internal_store::intercompany::dto::IcOrderView;
use internal_store::orders::dto::OrderView;
use uuid::Uuid;

use crate::helpers::{Actor, Group, Reply, TestApp};
use diesel_async::RunQueryDsl;
use serde_json::{json, Value};

/// JKL (USD) with ABC (the seller) and XYZ (the buyer), both USD; ABC's purchaser and admin,
/// XYZ's purchaser, DEF's purchaser, finance, two shoppers, a product ABC sells and a
/// cost-plus policy for intercompany orders.
struct World {
    group: Group,
    abc: String,
    xyz: String,
    def: String,
    abc_purchaser: Actor,
    abc_admin: Actor,
    xyz_purchaser: Actor,
    def_purchaser: Actor,
    finance: Actor,
    alice: Actor,
    alice_id: String,
    bob: Actor,
    product: ProductView,
}

async fn world(app: &TestApp) -> World {
    let group = app.bootstrap().await;
    let abc = group.company("ABC").create().await.id;
    let xyz = group.company("XYZ").create().await.id;
    let def = group.company("DEF").create().await.id;
    let person = |company: Uuid, email: &str, roles: &[&str]| {
        group.employee(email).company(company).roles(roles).create()
    };
    let purchaser = ["employee", "purchaser"];
    let abc_purchaser = person(abc, "paul@abc.example", &purchaser).await;
    let abc_admin = person(abc, "ada@abc.example", &["employee", "admin"]).await;
    let xyz_purchaser = person(xyz, "petra@xyz.example", &purchaser).await;
    let def_purchaser = person(def, "dora@def.example", &purchaser).await;
    let finance = person(group.root_id, "fiona@jkl.example", &["employee", "finance"]).await;
    let alice = person(xyz, "alice@xyz.example", &["employee"]).await;
    let bob = person(xyz, "bob@xyz.example", &["employee"]).await;
    let category = group.category("parts").await;
    let product = group
        .product("BOLT", &category, "20.00")
        .seller(abc)
        .cost("10.00")
        .stock(1000)
        .create()
        .await;
    finance
        .post(
            "/api/v1/transfer-pricing-policies",
            json!({"seller_company_id": abc, "method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}),
        )
        .await
        .assert_status(201);
    World {
        group,
        abc: abc.to_string(),
        xyz: xyz.to_string(),
        def: def.to_string(),
        abc_purchaser,
        abc_admin,
        xyz_purchaser,
        def_purchaser,
        finance,
        alice_id: alice.id.to_string(),
        alice,
        bob,
        product,
    }
}

impl World {
    /// An employee order by `who` for one bolt; returns its id.
    async fn order(&self, who: &Actor, key: &str) -> String {
        let order = who.order(key, [(&self.product, 1)]).await;
        order.typed::<OrderView>(201).id.to_string()
    }

    async fn fulfil(&self, order: &str) {
        self.group
            .admin
            .post(&format!("/api/v1/orders/{order}/fulfil"), json!({}))
            .await
            .assert_status(200);
    }

    /// An intercompany order XYZ places with ABC for one bolt; returns its id.
    async fn ic_order(&self, key: &str) -> String {
        let body = json!({"buyer_company_id": self.xyz, "seller_company_id": self.abc,
                          "lines": [{"product_id": self.product.id, "quantity": 1}]});
        let reply = self
            .xyz_purchaser
            .post_keyed("/api/v1/intercompany-orders", key, body)
            .await;
        reply.typed::<IcOrderView>(201).id.to_string()
    }

    async fn act(&self, order: &str, action: &str, body: Value) {
        self.abc_purchaser
            .post(
                &format!("/api/v1/intercompany-orders/{order}/{action}"),
                body,
            )
            .await
            .assert_status(200);
    }
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

async fn audit_actions(app: &TestApp, feedback_id: Uuid) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Action {
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
    }
    let mut conn = app.db.connect().await;
    let rows: Vec<Action> = diesel::sql_query(format!(
        "SELECT action FROM audit_events WHERE entity_type = 'feedback' AND entity_id = '{feedback_id}' ORDER BY seq"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.action).collect()
}

async fn sql(app: &TestApp, statement: &str) {
    let mut conn = app.db.connect().await;
    diesel::sql_query(statement)
        .execute(&mut conn)
        .await
        .unwrap();
}

fn assert_field(reply: &Reply, status: u16, field: &str) {
    reply.assert_problem(status, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], field, "{}", reply.body);
}

#[tokio::test]
async fn an_employee_rates_a_fulfilled_order_once_edits_it_for_a_week_and_the_seller_answers_once()
{
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let order = w.order(&w.alice, "alice-1").await;
    let path = format!("/api/v1/orders/{order}/feedback");

    // Not yet fulfilled.
    app.post(&path, &w.alice, json!({"rating": 5}))
        .await
        .assert_problem(409, "invalid_state");
    w.fulfil(&order).await;

    // Another employee does not see the order at all; an admin sees it but is not the client.
    app.post(&path, &w.bob, json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    app.get(&path, &w.bob)
        .await
        .assert_problem(404, "not_found");
    app.post(&path, &w.group.admin, json!({"rating": 5}))
        .await
        .assert_problem(403, "forbidden");

    // Rating 1–5, comment at most 2000 characters.
    for rating in [0, 6, -1] {
        assert_field(
            &app.post(&path, &w.alice, json!({"rating": rating})).await,
            422,
            "rating",
        );
    }
    assert_field(
        &app.post(
            &path,
            &w.alice,
            json!({"rating": 4, "comment": "é".repeat(2001)}),
        )
        .await,
        422,
        "comment",
    );
    // The one body extractor: text PostgreSQL cannot store and input of the wrong type are 422
    // naming the field (never a 500, never the value).
    assert_field(
        &app.post(&path, &w.alice, json!({"rating": 4, "comment": "a\u{0}b"}))
            .await,
        422,
        "comment",
    );
    assert_field(
        &app.post(&path, &w.alice, json!({"rating": "five"})).await,
        422,
        "rating",
    );
    // Free text is never blank: a comment of spaces and a zero-width space is refused, not
    // dropped.
    assert_field(
        &app.post(
            &path,
            &w.alice,
            json!({"rating": 4, "comment": " \u{200b} "}),
        )
        .await,
        422,
        "comment",
    );

    let given = app
        .post(
            &path,
            &w.alice,
            json!({"rating": 4, "comment": "é".repeat(2000)}),
        )
        .await;
    let given: FeedbackView = given.typed(201);
    assert_eq!(given.order_kind, OrderKind::Employee);
    assert_eq!(given.order_id.to_string(), order);
    assert_eq!(given.seller_company_id.to_string(), w.abc);
    assert_eq!(given.author_id.to_string(), w.alice_id);
    assert_eq!(given.rating, 4);
    assert!(given.reply.is_none());
    let id = given.id;

    // One per order.
    app.post(&path, &w.alice, json!({"rating": 1}))
        .await
        .assert_problem(409, "conflict");

    // Editable for 7 days.
    app.clock
        .set_today(chrono::Utc::now().date_naive() + chrono::Days::new(6));
    let edited = app
        .patch(&path, &w.alice, json!({"rating": 2, "comment": null}))
        .await;
    assert_eq!(edited.assert_status(200)["rating"], 2);
    assert_eq!(edited.body["comment"], Value::Null);
    assert_field(
        &app.patch(&path, &w.alice, json!({"rating": 9})).await,
        422,
        "rating",
    );
    assert_field(
        &app.patch(&path, &w.alice, json!({"comment": "   "})).await,
        422,
        "comment",
    );
    app.clock
        .set_today(chrono::Utc::now().date_naive() + chrono::Days::new(8));
    app.patch(&path, &w.alice, json!({"rating": 5}))
        .await
        .assert_problem(409, "invalid_state");

    // The answer: the seller's purchasers or admins, once; not the client, not another company.
    app.post(
        &format!("{path}/reply"),
        &w.alice,
        json!({"comment": "Thanks"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("{path}/reply"),
        &w.xyz_purchaser,
        json!({"comment": "Thanks"}),
    )
    .await
    .assert_problem(404, "not_found");
    app.post(
        &format!("{path}/reply"),
        &w.group.admin,
        json!({"comment": "Thanks"}),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_field(
        &app.post(
            &format!("{path}/reply"),
            &w.abc_purchaser,
            json!({"comment": "  "}),
        )
        .await,
        422,
        "comment",
    );
    let replied = app
        .post(
            &format!("{path}/reply"),
            &w.abc_purchaser,
            json!({"comment": "Sorry, we will do better"}),
        )
        .await;
    assert_eq!(
        replied.assert_status(201)["reply"]["comment"],
        "Sorry, we will do better"
    );
    app.post(
        &format!("{path}/reply"),
        &w.abc_admin,
        json!({"comment": "Again"}),
    )
    .await
    .assert_problem(409, "conflict");

    // The client reads the answer.
    let seen = app.get(&path, &w.alice).await;
    assert_eq!(
        seen.assert_status(200)["reply"]["comment"],
        "Sorry, we will do better"
    );
    assert_eq!(seen.body["rating"], 2);

    // Every change is audited.
    assert_eq!(
        audit_actions(&app, id).await,
        ["feedback.given", "feedback.edited", "feedback.replied"]
    );
}
