//! Payroll deduction (§5, §7): orders paid from wages over instalments that sum exactly, the
//! employer's rules (offer, tenure, counts, share of pay, also racing on two instances),
//! cancellation and the end of employment appended to append-only schedules, and the payroll
//! file finance hands to the payroll run.

use diesel_async::RunQueryDsl;
use internal_store::catalog::dto::{CategoryView, ProductView, TierView};
use internal_store::orders::dto::OrderView;
use serde_json::{json, Value};
use uuid::Uuid;

use super::dec;
use crate::helpers::trade::day;
use crate::helpers::{race, Actor, Group, Reply, TestApp};

/// A group on 2026-03-05 whose company `ACME` deducts orders from wages: 1, 6 or 12
/// instalments, after 6 months, up to 20 % of a period's pay, paid monthly at the month's end.
struct Payroll {
    app: TestApp,
    group: Group,
    finance: Actor,
    acme: Uuid,
    category: CategoryView,
    tier: TierView,
}

fn offer() -> Value {
    json!({"enabled": true, "min_tenure_months": 6, "instalments": [12, 1, 6, 6],
           "max_share_of_pay": "20",
           "pay_calendar": {"frequency": "monthly", "first_pay_date": "2026-01-31"}})
}

impl Payroll {
    async fn open(app: TestApp) -> Self {
        app.clock.set_today(day("2026-03-05"));
        let group = app
            .bootstrap_group("GPAY", "USD", "admin@pay.example")
            .await;
        let finance = group
            .employee("fin@pay.example")
            .roles(&["employee", "finance"])
            .create()
            .await;
        let company = group
            .admin
            .post(
                "/api/v1/companies",
                json!({"code": "ACME", "name": "Acme", "parent_id": group.root_id,
                       "currency": "USD", "country": "US", "payroll_deduction": offer()}),
            )
            .await;
        let company = company.assert_status(201);
        // Stored sorted, once each.
        assert_eq!(
            company["payroll_deduction"]["instalments"],
            json!([1, 6, 12])
        );
        let acme = company["id"].as_str().unwrap().parse().unwrap();
        let category = group.category("things").await;
        let tier = group.tier("staff", "20").create().await;
        Self {
            app,
            group,
            finance,
            acme,
            category,
            tier,
        }
    }

    /// An employee of ACME hired on `hired_on` and paid `pay` a month, both set by finance.
    async fn employee(&self, email: &str, hired_on: &str, pay: &str) -> Actor {
        let who = self
            .group
            .employee(email)
            .company(self.acme)
            .tier(&self.tier)
            .create()
            .await;
        let set = self
            .finance
            .patch(
                &format!("/api/v1/employees/{}", who.id),
                json!({"hired_on": hired_on, "pay_per_period": pay}),
            )
            .await;
        let set = set.assert_status(200);
        assert_eq!(set["hired_on"], hired_on);
        assert_eq!(set["pay_per_period"], pay);
        who
    }

    /// A product of ACME at `price` (20 % off for the tier).
    async fn product(&self, sku: &str, price: &str) -> ProductView {
        self.group
            .product(sku, &self.category, price)
            .seller(self.acme)
            .stock(1000)
            .create()
            .await
    }

    /// `who` orders one `product` paid over `instalments` pay dates.
    async fn order(&self, who: &Actor, product: &ProductView, instalments: i64) -> Reply {
        let key = Uuid::new_v4().to_string();
        who.post_keyed("/api/v1/orders", &key, paid(product, instalments))
            .await
    }

    async fn file(&self, pay_date: &str) -> Vec<Value> {
        let page = self
            .finance
            .get(&format!(
                "/api/v1/finance/payroll-deductions?pay_date={pay_date}&limit=100"
            ))
            .await;
        page.assert_status(200)["items"].as_array().unwrap().clone()
    }
}

fn paid(product: &ProductView, instalments: i64) -> Value {
    json!({"lines": [{"product_id": product.id, "quantity": 1}],
           "payment": {"method": "payroll", "instalments": instalments}})
}

/// (pay date, amount, status) of each schedule line.
fn schedule(order: &OrderView) -> Vec<(String, String, String)> {
    order
        .priced
        .schedule
        .iter()
        .map(|l| {
            (
                l.pay_date.to_string(),
                l.amount.clone(),
                l.status.to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn instalments_sum_exactly_and_each_rule_refuses_by_name() {
    let p = Payroll::open(TestApp::spawn().await).await;
    let ada = p.employee("ada@pay.example", "2025-01-15", "5000.00").await;
    let tv = p.product("TV", "1500.00").await;
    let sofa = p.product("SOFA", "1250.00").await;
    let bike = p.product("BIKE", "1125.00").await;

    // 1,200.00 over 12 → 12 × 100.00 on the next twelve month ends; the quote shows it first.
    let quote = ada.post("/api/v1/orders/quote", paid(&tv, 12)).await;
    let quote = quote.assert_status(200);
    assert_eq!(quote["schedule"].as_array().unwrap().len(), 12);
    let tv_order: OrderView = p.order(&ada, &tv, 12).await.typed(201);
    assert_eq!(tv_order.priced.total, "1200.00");
    let lines = schedule(&tv_order);
    assert!(lines
        .iter()
        .all(|(_, amount, status)| amount == "100.00" && status == "due"));
    assert_eq!(lines[0].0, "2026-03-31");
    assert_eq!(lines[1].0, "2026-04-30");
    assert_eq!(lines[11].0, "2027-02-28");
    assert_eq!(
        serde_json::to_value(tv_order.priced.payment).unwrap(),
        json!({"method": "payroll", "instalments": 12})
    );

    // 1,000.00 over 12 → four of 83.34 and eight of 83.33, summing exactly.
    let sofa_order: OrderView = p.order(&ada, &sofa, 12).await.typed(201);
    let amounts: Vec<String> = schedule(&sofa_order).into_iter().map(|l| l.1).collect();
    assert_eq!(amounts.iter().filter(|a| *a == "83.34").count(), 4);
    assert_eq!(amounts.iter().filter(|a| *a == "83.33").count(), 8);
    assert_eq!(
        amounts
            .iter()
            .map(|a| dec(a))
            .sum::<rust_decimal::Decimal>(),
        dec("1000.00")
    );
    // Read back, the order shows the same schedule.
    let read: OrderView = ada
        .get(&format!("/api/v1/orders/{}", sofa_order.id))
        .await
        .typed(200);
    assert_eq!(schedule(&read), schedule(&sofa_order));

    // 183.34 stands due on 2026-03-31; 900.00 at once would make it 1,083.34, above 20 % of
    // 5,000.00: refused, and nothing changed. Over 6 pay dates it fits.
    let stock = p.group.stock_on_hand(&bike).await;
    p.order(&ada, &bike, 1)
        .await
        .assert_problem(422, "deduction_share_exceeded");
    ada.post("/api/v1/orders/quote", paid(&bike, 1))
        .await
        .assert_problem(422, "deduction_share_exceeded");
    assert_eq!(p.group.stock_on_hand(&bike).await, stock);
    let orders = ada.get("/api/v1/orders").await;
    assert_eq!(
        orders.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
    let bike_order: OrderView = p.order(&ada, &bike, 6).await.typed(201);
    assert_eq!(schedule(&bike_order)[0].1, "150.00");

    // A count the employer does not offer.
    p.order(&ada, &tv, 7)
        .await
        .assert_problem(422, "instalments_not_allowed");
    // Hired two months ago: tenure too short.
    let new_hire = p.employee("new@pay.example", "2026-01-10", "5000.00").await;
    let short = p.order(&new_hire, &tv, 12).await;
    short.assert_problem(422, "tenure_too_short");
    assert!(short.body["detail"]
        .as_str()
        .unwrap()
        .contains("2026-07-10"));
    // An employer that offers nothing, and an employee whose pay is not recorded.
    let elsewhere = p
        .group
        .employee("root@pay.example")
        .tier(&p.tier)
        .create()
        .await;
    p.order(&elsewhere, &tv, 12)
        .await
        .assert_problem(422, "payroll_deduction_unavailable");
    let unpaid = p
        .group
        .employee("unpaid@pay.example")
        .company(p.acme)
        .tier(&p.tier)
        .create()
        .await;
    p.order(&unpaid, &tv, 12)
        .await
        .assert_problem(422, "payroll_deduction_unavailable");
    // Switched off, no new order; the schedules made run on.
    let mut off = offer();
    off["enabled"] = json!(false);
    p.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", p.acme),
            json!({"payroll_deduction": off}),
        )
        .await
        .assert_status(200);
    p.order(&ada, &tv, 12)
        .await
        .assert_problem(422, "payroll_deduction_unavailable");
    assert_eq!(p.file("2026-03-31").await.len(), 3);
    // Only admin and finance set pay.
    ada.patch(
        &format!("/api/v1/employees/{}", ada.id),
        json!({"pay_per_period": "9000.00"}),
    )
    .await
    .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn racing_orders_on_two_instances_cannot_together_pass_the_share() {
    let app = TestApp::spawn_with(&[("DB_POOL_MAX_SIZE", "20")]).await;
    let second = app.another_instance().await;
    second.clock.set_today(day("2026-03-05"));
    let p = Payroll::open(app).await;
    // 20 % of 1,000.00: at most 200.00 due on one pay date; each order takes 150.00.
    let ada = p.employee("ada@pay.example", "2024-05-01", "1000.00").await;
    let lamp = p.product("LAMP", "187.50").await;
    let jobs = (0..8).map(|n| {
        let who = if n % 2 == 0 {
            ada.alone()
        } else {
            ada.on(&second).alone()
        };
        let body = paid(&lamp, 1);
        async move {
            who.post_keyed("/api/v1/orders", &format!("race-{n}"), body)
                .await
        }
    });
    let replies = race(jobs).await;
    let placed = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(placed, 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_problem(422, "deduction_share_exceeded");
    }
    let file = p.file("2026-03-31").await;
    assert_eq!(file.len(), 1);
    assert_eq!(file[0]["amount"], "150.00");
}

#[tokio::test]
async fn cancelling_refunds_what_was_deducted_and_leaving_brings_the_rest_forward() {
    let p = Payroll::open(TestApp::spawn().await).await;
    let ada = p.employee("ada@pay.example", "2020-01-01", "9000.00").await;
    let tv = p.product("TV", "1500.00").await;

    // Cancelled before the first pay date: the whole schedule is cancelled.
    let early: OrderView = p.order(&ada, &tv, 12).await.typed(201);
    let cancelled: OrderView = ada.order_action(&early, "cancel").await.typed(200);
    assert_eq!(cancelled.priced.schedule.len(), 12);
    assert!(schedule(&cancelled).iter().all(|l| l.2 == "cancelled"));

    // Cancelled after two pay dates: two deducted, ten cancelled, 200.00 refunded on the next.
    let later: OrderView = p.order(&ada, &tv, 12).await.typed(201);
    p.app.clock.set_today(day("2026-05-10"));
    let cancelled: OrderView = ada.order_action(&later, "cancel").await.typed(200);
    let lines = schedule(&cancelled);
    assert_eq!(lines.iter().filter(|l| l.2 == "deducted").count(), 2);
    assert_eq!(lines.iter().filter(|l| l.2 == "cancelled").count(), 10);
    assert!(lines.contains(&("2026-05-31".into(), "-200.00".into(), "due".into())));
    let refund = p.file("2026-05-31").await;
    assert_eq!(refund.len(), 1);
    assert_eq!(refund[0]["deduction_code"], "STORE-REFUND");
    assert_eq!(refund[0]["amount"], "-200.00");

    // Placed on 2026-05-10, five pay dates later employment ends with seven to go: 700.00
    // falls due on the final pay date, none of it dropped.
    let kept: OrderView = p.order(&ada, &tv, 12).await.typed(201);
    assert_eq!(schedule(&kept)[0].0, "2026-05-31");
    p.app.clock.set_today(day("2026-10-05"));
    p.group
        .admin
        .patch(
            &format!("/api/v1/employees/{}", ada.id),
            json!({"active": false}),
        )
        .await
        .assert_status(200);
    let read: OrderView = p
        .finance
        .get(&format!("/api/v1/orders/{}", kept.id))
        .await
        .typed(200);
    let lines = schedule(&read);
    assert_eq!(lines.iter().filter(|l| l.2 == "deducted").count(), 5);
    assert_eq!(lines.iter().filter(|l| l.2 == "cancelled").count(), 7);
    assert!(lines.contains(&("2026-10-31".into(), "700.00".into(), "due".into())));
    let last = p.file("2026-10-31").await;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["deduction_code"], "STORE-BAL");
    assert_eq!(last[0]["amount"], "700.00");
    assert_eq!(
        (
            last[0]["start_date"].as_str(),
            last[0]["stop_date"].as_str()
        ),
        (Some("2026-10-31"), Some("2026-10-31"))
    );
    assert!(p.file("2026-11-30").await.is_empty());
    let audit = p
        .group
        .admin
        .get(&format!("/api/v1/audit-events?entity_id={}", kept.id))
        .await;
    let actions: Vec<&str> = audit.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"order.schedule_accelerated"),
        "{actions:?}"
    );

    // The schedules are append-only, and they always sum to what is owed.
    let mut conn = p.app.db.connect().await;
    for statement in [
        "UPDATE payroll_deductions SET amount = 0",
        "DELETE FROM payroll_deductions",
        "TRUNCATE payroll_deductions CASCADE",
    ] {
        let refused = diesel::sql_query(statement).execute(&mut conn).await;
        assert!(refused.is_err(), "{statement} must be refused");
    }
    let unbalanced = diesel::sql_query(format!(
        "INSERT INTO payroll_deductions (order_id, line_no, group_id, employee_id, company_id, \
         pay_date, amount, currency, kind, status, created_at) \
         SELECT order_id, 100, group_id, employee_id, company_id, pay_date, 1, currency, \
         'instalment', 'due', now() FROM payroll_deductions WHERE order_id = '{}' LIMIT 1",
        kept.id
    ))
    .execute(&mut conn)
    .await;
    assert!(
        unbalanced.is_err(),
        "a schedule that no longer sums is refused"
    );
}

#[tokio::test]
async fn the_payroll_file_pages_and_streams_with_names_a_spreadsheet_cannot_run() {
    let p = Payroll::open(TestApp::spawn().await).await;
    let ada = p.employee("ada@pay.example", "2020-01-01", "9000.00").await;
    let eve = p.employee("eve@pay.example", "2020-01-01", "9000.00").await;
    p.finance
        .patch(
            &format!("/api/v1/employees/{}", eve.id),
            json!({"full_name": "=HYPERLINK(\"http://x\")"}),
        )
        .await
        .assert_status(403);
    p.group
        .admin
        .patch(
            &format!("/api/v1/employees/{}", eve.id),
            json!({"full_name": "=HYPERLINK(\"http://x\")"}),
        )
        .await
        .assert_status(200);
    let tv = p.product("TV", "1500.00").await;
    for who in [&ada, &eve, &ada] {
        p.order(who, &tv, 6).await.assert_status(201);
    }
    // Pages of one, in (employee, order) order, until the last.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = p
            .finance
            .get(&format!(
                "/api/v1/finance/payroll-deductions?pay_date=2026-04-30&limit=1{query}"
            ))
            .await;
        let page = page.assert_status(200).clone();
        seen.extend(page["items"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|i| i["amount"] == "200.00"
        && i["deduction_code"] == "STORE-INST"
        && i["start_date"] == "2026-03-31"
        && i["stop_date"] == "2026-08-31"));
    ada.get("/api/v1/finance/payroll-deductions?pay_date=2026-04-30")
        .await
        .assert_problem(403, "forbidden");

    let csv = p
        .app
        .client
        .get(
            p.app
                .url("/api/v1/finance/payroll-deductions?pay_date=2026-04-30"),
        )
        .bearer_auth(&p.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some(
            "employee_id,employee_name,company_id,order_id,deduction_code,amount,currency,\
             start_date,stop_date,pay_date"
        )
    );
    assert_eq!(rows.clone().count(), 3);
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
        "{text}"
    );
    assert!(rows.all(|r| r.contains(",STORE-INST,200.00,USD,2026-03-31,2026-08-31,2026-04-30")));

    // A name that looks like a signed amount is still text: only amount columns keep a sign.
    p.group
        .admin
        .patch(
            &format!("/api/v1/employees/{}", eve.id),
            json!({"full_name": "-12.50"}),
        )
        .await
        .assert_status(200);
    let text = p
        .app
        .client
        .get(
            p.app
                .url("/api/v1/finance/payroll-deductions?pay_date=2026-04-30"),
        )
        .bearer_auth(&p.finance.token)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(&format!("{},'-12.50,", eve.id)), "{text}");
}

#[tokio::test]
async fn an_orders_pay_dates_and_limit_period_are_the_groups_business_days() {
    let p = Payroll::open(TestApp::spawn().await).await;
    // Auckland runs 13 hours ahead of UTC in March (daylight saving).
    p.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", p.group.root_id),
            json!({"time_zone": "Pacific/Auckland"}),
        )
        .await
        .assert_status(200);
    let ann = p.employee("ann@pay.example", "2020-01-01", "9000.00").await;
    let tv = p.product("TV", "1200.00").await;
    let monthly = p
        .group
        .product("ONE-A-MONTH", &p.category, "10.00")
        .seller(p.acme)
        .stock(100)
        .limit(1, "month")
        .create()
        .await;
    let at = |text: &str| text.parse::<chrono::DateTime<chrono::Utc>>().unwrap();

    // 00:30 on 31 March in Auckland, still the 30th in UTC: today is the 31st, a pay date, so
    // the first instalment falls on the next one.
    p.app.clock.set_now(at("2026-03-30T11:30:00Z"));
    let order: OrderView = p.order(&ann, &tv, 1).await.typed(201);
    assert_eq!(
        schedule(&order),
        vec![("2026-04-30".into(), "960.00".into(), "due".into())]
    );

    // 23:30 on 31 March in Auckland buys March's one unit; an hour later it is April there
    // (still 31 March in UTC), and April's unit may be bought.
    let one = json!({"lines": [{"product_id": monthly.id, "quantity": 1}]});
    p.app.clock.set_now(at("2026-03-31T10:30:00Z"));
    ann.post_keyed("/api/v1/orders", "march", one.clone())
        .await
        .assert_status(201);
    ann.post_keyed("/api/v1/orders", "march-again", one.clone())
        .await
        .assert_problem(409, "purchase_limit_exceeded");
    p.app.clock.set_now(at("2026-03-31T11:30:00Z"));
    ann.post_keyed("/api/v1/orders", "april", one)
        .await
        .assert_status(201);

    // 00:30 on 30 April in Auckland, 12 hours ahead since daylight saving ended (29 April in
    // UTC): the instalment of the 30th is deducted.
    p.app.clock.set_now(at("2026-04-29T12:30:00Z"));
    let shown: OrderView = ann
        .get(&format!("/api/v1/orders/{}", order.id))
        .await
        .typed(200);
    assert_eq!(
        schedule(&shown),
        vec![("2026-04-30".into(), "960.00".into(), "deducted".into())]
    );
    // The list's months are Auckland's too: the TV and March's unit in March, April's in April.
    for (period, count) in [("2026-03", 2), ("2026-04", 1)] {
        let page = ann.get(&format!("/api/v1/orders?period={period}")).await;
        let page = page.assert_status(200);
        assert_eq!(page["items"].as_array().unwrap().len(), count, "{period}");
    }
}

#[tokio::test]
async fn recorded_pay_keeps_its_currency() {
    let p = Payroll::open(TestApp::spawn().await).await;
    let ann = p.employee("ann@pay.example", "2020-01-01", "3000.00").await;
    let euro = p
        .group
        .admin
        .post(
            "/api/v1/companies",
            json!({"code": "EURO", "name": "Acme Europe", "parent_id": p.group.root_id,
                   "currency": "EUR", "country": "DE"}),
        )
        .await;
    let euro = euro.assert_status(201)["id"].clone();
    let path = format!("/api/v1/employees/{}", ann.id);

    // ACME pays Ann in USD: its currency can no longer change under her recorded pay.
    p.group
        .admin
        .patch(
            &format!("/api/v1/companies/{}", p.acme),
            json!({"currency": "EUR"}),
        )
        .await
        .assert_problem(409, "conflict");
    // Moving to a company that pays in EUR restates the pay, or the move is refused.
    let refused = p
        .group
        .admin
        .patch(&path, json!({"company_id": euro}))
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.field(), "pay_per_period");
    let moved = p
        .group
        .admin
        .patch(
            &path,
            json!({"company_id": euro, "pay_per_period": "2800.00"}),
        )
        .await;
    let moved = moved.assert_status(200);
    assert_eq!(moved["company_id"], euro);
    assert_eq!(moved["pay_per_period"], "2800.00");
    // Back to ACME with the pay cleared: nothing to restate.
    let back = p
        .group
        .admin
        .patch(&path, json!({"company_id": p.acme, "pay_per_period": null}))
        .await;
    assert_eq!(back.assert_status(200)["pay_per_period"], Value::Null);
}
