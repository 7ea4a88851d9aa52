//! Listening to internal clients (PRODUCT.md §8): an employee rates a fulfilled order, a
//! purchaser of XYZ rates what ABC shipped, ABC answers once; companies read what they
//! received; and the month's internal-service KPIs are worked out on a small hand-built month.

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

#[tokio::test]
async fn a_purchaser_of_the_buyer_rates_a_shipped_intercompany_order() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let order = w.ic_order("ic-1").await;
    let path = format!("/api/v1/intercompany-orders/{order}/feedback");
    w.act(&order, "accept", json!({})).await;
    app.post(&path, &w.xyz_purchaser, json!({"rating": 5}))
        .await
        .assert_problem(409, "invalid_state");
    w.act(&order, "ship", json!({})).await;

    // DEF's purchaser does not see the order; the seller and finance see it but do not rate it;
    // an employee of the buyer without the purchaser role does not see it.
    app.post(&path, &w.def_purchaser, json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    app.post(&path, &w.alice, json!({"rating": 5}))
        .await
        .assert_problem(404, "not_found");
    for token in [&w.abc_purchaser, &w.finance, &w.group.admin] {
        app.post(&path, token, json!({"rating": 5}))
            .await
            .assert_problem(403, "forbidden");
    }
    assert_field(
        &app.post(&path, &w.xyz_purchaser, json!({"rating": 0}))
            .await,
        422,
        "rating",
    );
    let given = app
        .post(
            &path,
            &w.xyz_purchaser,
            json!({"rating": 3, "comment": "Late"}),
        )
        .await;
    let given: FeedbackView = given.typed(201);
    assert_eq!(given.order_kind, OrderKind::Intercompany);
    assert_eq!(given.comment.as_deref(), Some("Late"));
    app.post(&path, &w.xyz_purchaser, json!({"rating": 4}))
        .await
        .assert_problem(409, "conflict");

    // The buyer does not answer its own feedback; the seller's admin does, once.
    app.post(
        &format!("{path}/reply"),
        &w.xyz_purchaser,
        json!({"comment": "?"}),
    )
    .await
    .assert_problem(403, "forbidden");
    app.post(
        &format!("{path}/reply"),
        &w.abc_admin,
        json!({"comment": "The carrier was late"}),
    )
    .await
    .assert_status(201);
    app.post(
        &format!("{path}/reply"),
        &w.abc_purchaser,
        json!({"comment": "Again"}),
    )
    .await
    .assert_problem(409, "conflict");
    let seen = app.get(&path, &w.def_purchaser).await;
    seen.assert_problem(404, "not_found");
    let seen = app.get(&path, &w.finance).await;
    let seen: FeedbackView = seen.typed(200);
    assert_eq!(
        seen.reply.map(|r| r.comment).as_deref(),
        Some("The carrier was late")
    );
    let id = given.id;
    assert_eq!(
        audit_actions(&app, id).await,
        ["feedback.given", "feedback.replied"]
    );

    // The database keeps one feedback per order even if the handler's check were raced past.
    let mut conn = app.db.connect().await;
    let second = diesel::sql_query(format!(
        "INSERT INTO feedback (group_id, intercompany_order_id, seller_company_id, author_id, rating) \
         SELECT group_id, intercompany_order_id, seller_company_id, author_id, 2 FROM feedback WHERE id = '{id}'"
    ))
    .execute(&mut conn)
    .await;
    assert!(second.is_err(), "a second feedback row was accepted");
    let out_of_range =
        diesel::sql_query(format!("UPDATE feedback SET rating = 6 WHERE id = '{id}'"))
            .execute(&mut conn)
            .await;
    assert!(out_of_range.is_err(), "a rating of 6 was stored");
}

#[tokio::test]
async fn a_company_lists_the_feedback_it_received_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut given = Vec::new();
    for (n, rating) in [5, 2, 4].into_iter().enumerate() {
        let order = w.order(&w.alice, &format!("list-{n}")).await;
        w.fulfil(&order).await;
        let reply = app
            .post(
                &format!("/api/v1/orders/{order}/feedback"),
                &w.alice,
                json!({"rating": rating}),
            )
            .await;
        given.push(reply.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    let ic = w.ic_order("list-ic").await;
    w.act(&ic, "accept", json!({})).await;
    w.act(&ic, "ship", json!({})).await;
    app.post(
        &format!("/api/v1/intercompany-orders/{ic}/feedback"),
        &w.xyz_purchaser,
        json!({"rating": 1}),
    )
    .await
    .assert_status(201);

    let ids = |reply: &Reply| -> Vec<i64> {
        reply.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rating"].as_i64().unwrap())
            .collect()
    };
    // ABC's purchaser: ABC's feedback (the default), newest first.
    let own = app.get("/api/v1/feedback", &w.abc_purchaser).await;
    assert_eq!(ids(&own), [1, 4, 2, 5]);
    let own = app
        .get(
            &format!("/api/v1/feedback?company_id={}", w.abc),
            &w.abc_purchaser,
        )
        .await;
    assert_eq!(ids(&own), [1, 4, 2, 5]);
    // XYZ received nothing; ABC's purchaser may not look at it; plain employees list nothing.
    let xyz = app.get("/api/v1/feedback", &w.xyz_purchaser).await;
    assert_eq!(ids(&xyz), Vec::<i64>::new());
    app.get(
        &format!("/api/v1/feedback?company_id={}", w.xyz),
        &w.abc_purchaser,
    )
    .await
    .assert_problem(403, "forbidden");
    app.get("/api/v1/feedback", &w.alice)
        .await
        .assert_problem(403, "forbidden");
    // Finance: the whole group, with rating filters.
    let all = app.get("/api/v1/feedback", &w.finance).await;
    assert_eq!(ids(&all), [1, 4, 2, 5]);
    let some = app
        .get("/api/v1/feedback?min_rating=2&max_rating=4", &w.finance)
        .await;
    assert_eq!(ids(&some), [4, 2]);
    let today = chrono::Utc::now().date_naive();
    let this_month = today.format("%Y-%m").to_string();
    let earlier = (today - chrono::Months::new(1)).format("%Y-%m").to_string();
    let now = app
        .get(&format!("/api/v1/feedback?period={this_month}"), &w.finance)
        .await;
    assert_eq!(ids(&now).len(), 4);
    let before = app
        .get(&format!("/api/v1/feedback?period={earlier}"), &w.finance)
        .await;
    assert_eq!(ids(&before), Vec::<i64>::new());
    for bad in [
        "min_rating=0",
        "max_rating=6",
        "min_rating=4&max_rating=2",
        "period=2026-13",
        "limit=101",
    ] {
        app.get(&format!("/api/v1/feedback?{bad}"), &w.finance)
            .await
            .assert_problem(400, "validation_failed");
    }
    // Keyset pages: three pages of one and a last one, no repeats.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/feedback?limit=1&cursor={c}"),
            None => "/api/v1/feedback?limit=1".to_owned(),
        };
        let page = app.get(&path, &w.finance).await;
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [1, 4, 2, 5]);
    assert_eq!(given.len(), 3);
}

/// Sets an employee order's placing and fulfilment times.
async fn employee_times(app: &TestApp, order: &str, created: &str, fulfilled: Option<&str>) {
    let fulfilled = fulfilled.map_or("fulfilled_at".to_owned(), |f| format!("'{f}'"));
    sql(
        app,
        &format!(
            "UPDATE orders SET created_at = '{created}', fulfilled_at = {fulfilled} WHERE id = '{order}'"
        ),
    )
    .await;
}

/// Sets an intercompany order's request, acceptance and shipping times and dates.
async fn ic_times(
    app: &TestApp,
    order: &str,
    created: &str,
    accepted: Option<&str>,
    shipped: Option<(&str, &str)>,
    promised: Option<&str>,
) {
    let quoted = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
    let mut set = format!(
        "created_at = '{created}', accepted_at = {}, promised_date = {}",
        quoted(accepted),
        quoted(promised)
    );
    if let Some((at, date)) = shipped {
        set.push_str(&format!(", shipped_at = '{at}', ship_date = '{date}'"));
    }
    sql(
        app,
        &format!("UPDATE intercompany_orders SET {set} WHERE id = '{order}'"),
    )
    .await;
}

fn item<'a>(report: &'a Value, company: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["company_id"] == company)
        .unwrap_or_else(|| panic!("no item for {company} in {report}"))
}

#[tokio::test]
async fn the_internal_service_kpis_of_a_hand_built_month() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;

    // Employee orders with ABC in October 2026: four fulfilled after 10, 20, 40 and 41 hours
    // (median 30), one still placed; two rated (5 and 3), one of them answered.
    let fulfil_hours = [10, 20, 40, 41];
    let mut fulfilled = Vec::new();
    for (n, hours) in fulfil_hours.iter().enumerate() {
        let order = w.order(&w.alice, &format!("kpi-{n}")).await;
        w.fulfil(&order).await;
        let created = chrono::DateTime::parse_from_rfc3339("2026-10-05T08:00:00Z").unwrap()
            + chrono::TimeDelta::days(n as i64);
        let done = created + chrono::TimeDelta::hours(*hours);
        employee_times(
            &app,
            &order,
            &created.to_rfc3339(),
            Some(&done.to_rfc3339()),
        )
        .await;
        fulfilled.push(order);
    }
    let placed = w.order(&w.alice, "kpi-placed").await;
    employee_times(&app, &placed, "2026-10-20T08:00:00Z", None).await;
    // September's fulfilled order counts in September only.
    let september = w.order(&w.bob, "kpi-sept").await;
    w.fulfil(&september).await;
    employee_times(
        &app,
        &september,
        "2026-09-30T23:00:00Z",
        Some("2026-10-01T23:00:00Z"),
    )
    .await;
    for (order, rating) in [(&fulfilled[0], 5), (&fulfilled[1], 3)] {
        app.post(
            &format!("/api/v1/orders/{order}/feedback"),
            &w.alice,
            json!({"rating": rating}),
        )
        .await
        .assert_status(201);
    }
    app.post(
        &format!("/api/v1/orders/{}/feedback/reply", fulfilled[0]),
        &w.abc_purchaser,
        json!({"comment": "Thank you"}),
    )
    .await
    .assert_status(201);

    // Intercompany orders XYZ requested from ABC in October:
    //   A accepted after 2 h, shipped 24 h later on the 9th, promised for the 10th (on time)
    //   B accepted after 4 h, shipped 48 h later on the 12th, promised for the 10th (late)
    //   C accepted after 6 h, shipped 30 h later, no promised date (not counted for on-time)
    //   D rejected; E still requested (not answered, so not in the rejection rate)
    // Acceptance median 4 h, shipping median 30 h, on time 1/2, rejected 1/4.
    // A rated 4 and answered, B rated 1.
    let a = w.ic_order("kpi-a").await;
    let b = w.ic_order("kpi-b").await;
    let c = w.ic_order("kpi-c").await;
    let d = w.ic_order("kpi-d").await;
    let e = w.ic_order("kpi-e").await;
    for order in [&a, &b, &c] {
        w.act(order, "accept", json!({})).await;
        w.act(order, "ship", json!({})).await;
    }
    app.post(
        &format!("/api/v1/intercompany-orders/{d}/reject"),
        &w.abc_purchaser,
        json!({}),
    )
    .await
    .assert_status(200);
    ic_times(
        &app,
        &a,
        "2026-10-07T10:00:00Z",
        Some("2026-10-07T12:00:00Z"),
        Some(("2026-10-08T12:00:00Z", "2026-10-09")),
        Some("2026-10-10"),
    )
    .await;
    ic_times(
        &app,
        &b,
        "2026-10-08T10:00:00Z",
        Some("2026-10-08T14:00:00Z"),
        Some(("2026-10-10T14:00:00Z", "2026-10-12")),
        Some("2026-10-10"),
    )
    .await;
    ic_times(
        &app,
        &c,
        "2026-10-09T10:00:00Z",
        Some("2026-10-09T16:00:00Z"),
        Some(("2026-10-10T22:00:00Z", "2026-10-10")),
        None,
    )
    .await;
    ic_times(&app, &d, "2026-10-10T10:00:00Z", None, None, None).await;
    ic_times(&app, &e, "2026-10-11T10:00:00Z", None, None, None).await;
    for (order, rating) in [(&a, 4), (&b, 1)] {
        app.post(
            &format!("/api/v1/intercompany-orders/{order}/feedback"),
            &w.xyz_purchaser,
            json!({"rating": rating}),
        )
        .await
        .assert_status(201);
    }
    app.post(
        &format!("/api/v1/intercompany-orders/{a}/feedback/reply"),
        &w.abc_admin,
        json!({"comment": "Glad it helped"}),
    )
    .await
    .assert_status(201);

    let report = app
        .get("/api/v1/kpis/internal-service?period=2026-10", &w.finance)
        .await;
    let report = report.assert_status(200).clone();
    assert_eq!(report["period"], "2026-10");
    assert_eq!(
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["company_id"].as_str().unwrap())
            .collect::<std::collections::BTreeSet<_>>(),
        [w.group.root_id.to_string().as_str(), &w.abc, &w.xyz, &w.def]
            .into_iter()
            .collect(),
        "every company of the group (JKL, ABC, XYZ, DEF) and no other"
    );
    assert_eq!(
        item(&report, &w.abc),
        &json!({
            "company_id": w.abc,
            "employee_orders": 5,
            "employee_fulfilment_hours_p50": "30",
            "intercompany_orders": 5,
            "acceptance_hours_p50": "4",
            "shipping_hours_p50": "30",
            "on_time_rate": "0.5",
            "rejection_rate": "0.25",
            "feedback_count": 4,
            "average_rating": "3.25",
            // 4 rated among 4 fulfilled and 3 shipped.
            "response_rate": "0.5714",
            "replied_rate": "0.5",
        })
    );
    // Nothing sold by XYZ: counts are zero and every figure null.
    assert_eq!(
        item(&report, &w.xyz),
        &json!({
            "company_id": w.xyz, "employee_orders": 0, "employee_fulfilment_hours_p50": null,
            "intercompany_orders": 0, "acceptance_hours_p50": null, "shipping_hours_p50": null,
            "on_time_rate": null, "rejection_rate": null, "feedback_count": 0,
            "average_rating": null, "response_rate": null, "replied_rate": null,
        })
    );

    // September: the one order placed on the 30th, fulfilled after 24 h, not rated.
    let september_report = app
        .get(
            "/api/v1/kpis/internal-service?period=2026-09",
            &w.group.admin,
        )
        .await;
    let abc_september = item(september_report.assert_status(200), &w.abc);
    assert_eq!(abc_september["employee_orders"], 1);
    assert_eq!(abc_september["employee_fulfilment_hours_p50"], "24");
    assert_eq!(abc_september["response_rate"], "0");
    assert_eq!(abc_september["average_rating"], Value::Null);
    assert_eq!(abc_september["replied_rate"], Value::Null);
    assert_eq!(abc_september["intercompany_orders"], 0);
    assert_eq!(abc_september["on_time_rate"], Value::Null);

    // A purchaser sees their own company only; a plain employee nothing.
    let own = app
        .get(
            "/api/v1/kpis/internal-service?period=2026-10",
            &w.abc_purchaser,
        )
        .await;
    let own = own.assert_status(200);
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_eq!(own["items"][0]["company_id"], w.abc.as_str());
    assert_eq!(own["items"][0]["average_rating"], "3.25");
    app.get("/api/v1/kpis/internal-service?period=2026-10", &w.alice)
        .await
        .assert_problem(403, "forbidden");
    for bad in ["2026-13", "2026-1", "october"] {
        app.get(
            &format!("/api/v1/kpis/internal-service?period={bad}"),
            &w.finance,
        )
        .await
        .assert_problem(400, "validation_failed");
    }

    // CSV with Accept: text/csv, the same figures, null as an empty field.
    let response = app
        .client
        .get(app.url("/api/v1/kpis/internal-service?period=2026-10"))
        .bearer_auth(&w.abc_purchaser.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        format!(
            "company_id,employee_orders,employee_fulfilment_hours_p50,intercompany_orders,\
             acceptance_hours_p50,shipping_hours_p50,on_time_rate,rejection_rate,feedback_count,\
             average_rating,response_rate,replied_rate\n\
             {},5,30,5,4,30,0.5,0.25,4,3.25,0.5714,0.5\n",
            w.abc
        )
    );
    let response = app
        .client
        .get(app.url("/api/v1/kpis/internal-service?period=2026-09"))
        .bearer_auth(&w.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!("\n{},0,,0,,,,,0,,,\n", w.xyz)),
        "{text}"
    );
}

#[tokio::test]
async fn fulfilling_an_order_records_when() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    app.clock.set_today(day("2026-10-05"));
    let order = w.order(&w.alice, "when-1").await;
    w.fulfil(&order).await;
    #[derive(diesel::QueryableByName)]
    struct When {
        #[diesel(sql_type = diesel::sql_types::Text)]
        at: String,
    }
    let mut conn = app.db.connect().await;
    let when: When = diesel::sql_query(format!(
        "SELECT to_char(fulfilled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS at FROM orders WHERE id = '{order}'"
    ))
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(when.at, "2026-10-05");
}
