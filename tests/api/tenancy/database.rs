//! PostgreSQL itself refuses a reference into another group.

use super::*;

/// Runs `sql` as the application's own database user and returns the error kind, if any.
async fn refused(conn: &mut AsyncPgConnection, sql: &str) -> Option<DatabaseErrorKind> {
    match diesel::sql_query(sql).execute(conn).await {
        Ok(_) => None,
        Err(DieselError::DatabaseError(kind, _)) => Some(kind),
        Err(other) => panic!("{sql}: {other}"),
    }
}

#[tokio::test]
async fn the_database_refuses_a_row_that_points_into_another_group() {
    let app = TestApp::spawn().await;
    let a = populate(&app, "JKL", "jkl.example").await;
    let b = populate(&app, "MNO", "mno.example").await;
    // The same connection settings as the application's pool: its user, its database.
    let mut conn = internal_store::db::connect(&app.db.url).await.unwrap();
    let fk = Some(DatabaseErrorKind::ForeignKeyViolation);
    let (ag, bg) = (&a.group.root_id, &b.group.root_id);
    let cases = [
        // Tiers: an employee of A on B's tier.
        format!(
            "UPDATE employees SET tier_id = '{}' WHERE id = '{}'",
            b.id("tier"),
            a.id("employee")
        ),
        format!(
            "INSERT INTO employees (group_id, email, full_name, company_id, employment_type, client_type, tier_id, roles, password_hash) \
             VALUES ('{ag}', 'x@jkl.example', 'X', '{}', 'direct', 'operational', '{}', ARRAY['employee'], 'x')",
            a.id("company"),
            b.id("tier")
        ),
        // Categories: A's product in B's category; an override of A's tier for B's category.
        format!(
            "UPDATE products SET category_id = '{}' WHERE id = '{}'",
            b.id("category"),
            a.id("product")
        ),
        format!(
            "INSERT INTO tier_category_discounts (group_id, tier_id, category_id, discount_percent) \
             VALUES ('{ag}', '{}', '{}', 1)",
            a.id("tier"),
            b.id("category")
        ),
        // Companies: a company of A under B's root, or claiming A's group under B's root.
        format!(
            "UPDATE companies SET parent_id = '{bg}' WHERE id = '{}'",
            a.id("company")
        ),
        format!(
            "INSERT INTO companies (code, name, parent_id, group_id, currency, country) \
             VALUES ('SNEAK', 'Sneak', '{bg}', '{ag}', 'USD', 'US')"
        ),
        format!(
            "UPDATE employees SET company_id = '{}' WHERE id = '{}'",
            b.id("company"),
            a.id("employee")
        ),
        // Orders: A's order sold by B's company or bought by B's employee; a line of A's order
        // for B's product.
        format!(
            "UPDATE orders SET seller_company_id = '{}' WHERE id = '{}'",
            b.id("company"),
            a.id("order")
        ),
        format!(
            "UPDATE orders SET employee_id = '{}' WHERE id = '{}'",
            b.id("employee"),
            a.id("order")
        ),
        format!(
            "INSERT INTO order_lines (group_id, order_id, line_no, product_id, quantity, unit_list_price, \
             discount_percent, line_list_total, line_discount, line_total) \
             VALUES ('{ag}', '{}', 9, '{}', 1, 1, 0, 1, 0, 1)",
            a.id("order"),
            b.id("product")
        ),
        // Feedback: A's feedback said to be about B's company, given or answered by B's
        // employee. (B's orders already have feedback, so pointing at them would meet the
        // one-per-order key before the group's foreign key.)
        format!(
            "UPDATE feedback SET seller_company_id = '{}' WHERE id = '{}'",
            b.id("company"),
            a.id("feedback")
        ),
        format!(
            "UPDATE feedback SET author_id = '{}' WHERE id = '{}'",
            b.id("employee"),
            a.id("feedback")
        ),
        format!(
            "UPDATE feedback SET replied_by = '{}', reply = 'x', replied_at = now() WHERE id = '{}'",
            b.id("employee"),
            a.id("feedback")
        ),
        // Moving a row to another group while it still points at its own group's rows.
        format!("UPDATE products SET group_id = '{bg}', sku = 'MOVED-1' WHERE id = '{}'", a.id("product")),
        format!("UPDATE orders SET group_id = '{bg}' WHERE id = '{}'", a.id("order")),
    ];
    for sql in &cases {
        assert_eq!(refused(&mut conn, sql).await, fk, "{sql}");
    }
    // A company never changes group, even with its references in order.
    let moved = refused(
        &mut conn,
        &format!(
            "UPDATE companies SET group_id = '{bg}' WHERE id = '{}'",
            a.id("company")
        ),
    )
    .await;
    assert!(moved.is_some(), "a company moved to another group");
    // The same statements within one group pass (the refusals are about the group only).
    assert_eq!(
        refused(
            &mut conn,
            &format!(
                "UPDATE products SET category_id = '{}' WHERE id = '{}'",
                a.id("category"),
                a.id("product")
            )
        )
        .await,
        None
    );
}
