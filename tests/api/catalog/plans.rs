//! The listing's query plans at ten thousand products.

use super::*;

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

#[tokio::test]
async fn the_listing_uses_indexes_at_ten_thousand_products() {
    let app = TestApp::spawn().await;
    let group = app.bootstrap().await;
    let category = group.category("bulk").await;
    let mut conn = app.db.connect().await;
    diesel::sql_query(format!(
        "INSERT INTO products (group_id, sku, name, category_id, seller_company_id, kind, list_price, unit_cost, stock_on_hand, active) \
         SELECT '{}', 'BULK-' || lpad(n::text, 5, '0'), 'Item ' || md5(n::text), '{}', '{}', 'goods', 10 + n % 90, 5, 100, n % 10 <> 0 \
         FROM generate_series(1, 10000) AS n",
        group.root_id,
        category.id,
        group.root_id
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE")
        .execute(&mut conn)
        .await
        .unwrap();

    #[derive(diesel::QueryableByName)]
    struct Needle {
        #[diesel(sql_type = diesel::sql_types::Text)]
        needle: String,
    }
    let needle: Vec<Needle> = diesel::sql_query("SELECT substr(md5('4321'), 3, 9) AS needle")
        .load(&mut conn)
        .await
        .unwrap();
    let needle = needle[0].needle.clone();
    let group_id = group.root_id;
    let tier = group
        .tier("bulk", "15")
        .eligible(&["direct"])
        .create()
        .await;
    let tier_id = tier.id;
    let category_id = category.id;
    let query = |category: Option<uuid::Uuid>, seller: Option<uuid::Uuid>, q: Option<&str>| {
        ProductListQuery {
            category_id: category,
            seller_company_id: seller,
            q: q.map(str::to_owned),
            limit: None,
            cursor: None,
        }
    };
    let cases: Vec<(ProductListQuery, Option<&str>, Vec<String>)> = vec![
        (query(None, None, None), None, vec![]),
        (query(None, None, None), Some("BULK-05000"), vec![]),
        (
            query(Some(category_id), None, None),
            None,
            vec![format!("'{category_id}'")],
        ),
        (
            query(None, Some(group_id), None),
            None,
            vec![format!("'{group_id}'")],
        ),
        // A selective search (part of one product's name) goes through the trigram indexes.
        (
            query(None, None, Some(&needle)),
            None,
            vec![format!("'%{needle}%'"), format!("'%{needle}%'")],
        ),
    ];
    for (list_query, after, extra) in cases {
        let sql = internal_store::catalog::queries::listing_sql(
            internal_store::ids::GroupId::from(group_id),
            Some(tier_id),
            &list_query,
            after,
            21,
        );
        let mut args = vec![
            format!("'{tier_id}'"),
            format!("'{group_id}'"),
            format!("'{}'", after.unwrap_or("")),
        ];
        args.extend(extra);
        args.push("21".into());
        diesel::sql_query("DEALLOCATE ALL")
            .execute(&mut conn)
            .await
            .unwrap();
        diesel::sql_query(format!("PREPARE listing AS {sql}"))
            .execute(&mut conn)
            .await
            .unwrap();
        // The server's connections use generic plans (src/db/mod.rs), except for searches,
        // which are planned for their pattern; custom plans too, for other connections.
        let modes: &[&str] = if list_query.q.is_some() {
            &["force_custom_plan"]
        } else {
            &["force_generic_plan", "force_custom_plan"]
        };
        for mode in modes {
            diesel::sql_query(format!("SET plan_cache_mode = {mode}"))
                .execute(&mut conn)
                .await
                .unwrap();
            let plan: Vec<PlanLine> =
                diesel::sql_query(format!("EXPLAIN EXECUTE listing({})", args.join(", ")))
                    .load(&mut conn)
                    .await
                    .unwrap();
            let text = plan
                .into_iter()
                .map(|p| p.line)
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                !text.contains("Seq Scan on products"),
                "sequential scan ({mode}) for {list_query:?}:\n{text}"
            );
            assert!(text.contains("products"), "{text}");
        }
        diesel::sql_query("RESET plan_cache_mode")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// The listing cache (src/catalog/cache.rs)
