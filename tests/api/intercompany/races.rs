//! Races: accepts on two instances, accepts against employee orders, one key.

use super::*;

#[tokio::test]
async fn racing_accepts_on_two_instances_never_oversell() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let scarce = t.product("SCARCE", "10.00", "20.00", 5).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    let mut orders = Vec::new();
    for n in 0..8 {
        let order = create(
            &t.xyz_purchaser,
            &format!("scarce-{n}"),
            &t.order_body([(&scarce, 1)]),
        )
        .await;
        orders.push(order.typed::<IcOrderView>(201).id);
    }
    let replies = race(orders.iter().enumerate().map(|(n, order)| {
        let seller = t
            .abc_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        let id = *order;
        async move {
            seller
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/intercompany-orders/{id}/accept"),
                    Some(&seller.token),
                    None,
                )
                .await
        }
    }))
    .await;
    let mut accepted = 0;
    let mut short = 0;
    for reply in replies {
        match reply.status.as_u16() {
            200 => accepted += 1,
            409 => {
                reply.assert_problem(409, "insufficient_stock");
                short += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((accepted, short), (5, 3));
    let product = app
        .get(&format!("/api/v1/products/{}", scarce.id), &t.group.admin)
        .await;
    assert_eq!(product.assert_status(200)["stock_on_hand"], 0);
}

#[tokio::test]
async fn accepts_racing_with_employee_orders_on_the_same_products_never_deadlock() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let first = t.product("FIRST", "10.00", "20.00", 1000).await;
    let second = t.product("SECOND", "10.00", "20.00", 1000).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    // Intercompany orders list the products in one order, employee orders in the other.
    let mut orders = Vec::new();
    for n in 0..12 {
        let order = create(
            &t.xyz_purchaser,
            &format!("ic-{n}"),
            &t.order_body([(&second, 2), (&first, 1)]),
        )
        .await;
        orders.push(order.typed::<IcOrderView>(201).id);
    }
    let mut shoppers = Vec::new();
    for n in 0..6 {
        let token = t
            .group
            .employee(&format!("shopper{n}@abc.example"))
            .company(t.abc)
            .roles(&["employee"])
            .create()
            .await;
        shoppers.push(token);
    }
    let mut jobs: Vec<Job<Reply>> = Vec::new();
    for (n, id) in orders.into_iter().enumerate() {
        let seller = t
            .abc_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        jobs.push(job(async move {
            seller
                .api
                .send(
                    Method::POST,
                    &format!("/api/v1/intercompany-orders/{id}/accept"),
                    Some(&seller.token),
                    None,
                )
                .await
        }));
    }
    for (n, shopper) in shoppers.iter().enumerate() {
        for round in 0..2 {
            let shopper = shopper
                .on(if (n + round) % 2 == 0 { &app } else { &other })
                .alone();
            let lines = [(first.id, 3), (second.id, 1)];
            jobs.push(job(async move {
                shopper.order(&format!("emp-{round}"), lines).await
            }));
        }
    }
    for reply in race(jobs).await {
        assert!(
            [200, 201].contains(&reply.status.as_u16()),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    // 12 accepts took 1 + 2 each; 12 employee orders took 3 + 1 each.
    let stock = |product: &ProductView| t.group.stock_on_hand(product.id);
    assert_eq!(stock(&first).await, 1000 - 12 - 36);
    assert_eq!(stock(&second).await, 1000 - 24 - 12);
}

#[tokio::test]
async fn ten_racing_creates_with_one_key_make_one_order() {
    let app = TestApp::spawn().await;
    let other = app.another_instance().await;
    let t = trade(&app).await;
    let widget = t.product("WIDGET", "50.00", "90.00", 100).await;
    t.policy(json!({"method": "cost_plus", "percent": "10", "valid_from": "2020-01-01"}))
        .await;
    let body = t.order_body([(&widget, 4)]);
    let replies = race((0..10).map(|n| {
        let buyer = t
            .xyz_purchaser
            .on(if n % 2 == 0 { &app } else { &other })
            .alone();
        let body = body.clone();
        async move { create(&buyer, "the-one", &body).await }
    }))
    .await;
    let mut created = Vec::new();
    for reply in replies {
        match reply.status.as_u16() {
            201 => created.push(reply.typed::<IcOrderView>(201).id),
            409 => reply.assert_problem(409, "request_in_progress"),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|id| *id == created[0]), "{created:?}");
    // A later retry replays the same order; another body under the key is refused.
    let replay = create(&t.xyz_purchaser, "the-one", &body).await;
    assert_eq!(replay.typed::<IcOrderView>(201).id, created[0]);
    assert_eq!(replay.headers["idempotency-replay"], "true");
    create(&t.xyz_purchaser, "the-one", &t.order_body([(&widget, 5)]))
        .await
        .assert_problem(422, "idempotency_key_reused");
    let listed = app.get("/api/v1/intercompany-orders", &t.finance).await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
}
