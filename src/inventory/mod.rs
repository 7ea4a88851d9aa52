//! Stock: taking it for a sale and giving it back. Products are locked in id order (the order
//! employee-order placement locks them in too, so two sales never wait on each other in a
//! cycle) and decremented only where enough is on hand; the `stock_on_hand >= 0` CHECK is the
//! last line. Call inside the transaction that records the sale.

use diesel::sql_types::{Array, Integer, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::statement::statement;
use crate::error::ApiError;
use crate::ids::GroupId;

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Integer)]
    taken: i32,
    #[diesel(sql_type = Nullable<Text>)]
    short_sku: Option<String>,
}

/// Takes `quantity` of each product (all of `group`) or nothing: 409 `insufficient_stock`
/// naming the first product that is short. `lines` may come in any order; each product once.
pub async fn take(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    lines: &[(Uuid, i32)],
) -> Result<(), ApiError> {
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    let ids: Vec<Uuid> = sorted.iter().map(|(id, _)| *id).collect();
    let quantities: Vec<i32> = sorted.iter().map(|(_, q)| *q).collect();
    let outcome: Taken = statement(
        "WITH wanted AS (SELECT * FROM unnest($1::uuid[], $2::int4[]) AS w(id, quantity)), \
         locked AS ( \
             SELECT p.id, p.sku, p.stock_on_hand FROM products p \
             WHERE p.id = ANY($1) AND p.group_id = $3 \
             ORDER BY p.id \
             FOR NO KEY UPDATE), \
         short AS ( \
             SELECT min(l.sku) AS sku FROM locked l JOIN wanted w ON w.id = l.id \
             WHERE l.stock_on_hand < w.quantity), \
         taken AS ( \
             UPDATE products p SET stock_on_hand = p.stock_on_hand - w.quantity, updated_at = now() \
             FROM wanted w, short \
             WHERE p.id = w.id AND short.sku IS NULL \
                 AND (SELECT count(*) FROM locked) = cardinality($1::uuid[]) \
             RETURNING p.id) \
         SELECT (SELECT count(*) FROM taken)::int4 AS taken, \
                coalesce((SELECT sku FROM short), \
                         CASE WHEN (SELECT count(*) FROM locked) <> cardinality($1::uuid[]) \
                              THEN '' END) AS short_sku",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Integer>, _>(&quantities)
    .bind::<SqlUuid, _>(group)
    .get_result(conn)
    .await?;
    match outcome.short_sku {
        None if usize::try_from(outcome.taken).ok() == Some(ids.len()) => Ok(()),
        Some(sku) if !sku.is_empty() => Err(ApiError::conflict(
            "insufficient_stock",
            format!("not enough stock of {sku}"),
        )),
        _ => Err(ApiError::conflict(
            "insufficient_stock",
            "a product of this order is no longer sold",
        )),
    }
}

/// Gives back `quantity` of each product of `group` (a cancelled sale), locking them in id
/// order as `take` does; one statement.
pub async fn give_back(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    lines: &[(Uuid, i32)],
) -> Result<(), ApiError> {
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|(id, _)| *id);
    let ids: Vec<Uuid> = sorted.iter().map(|(id, _)| *id).collect();
    let quantities: Vec<i32> = sorted.iter().map(|(_, q)| *q).collect();
    statement(
        "WITH locked AS ( \
             SELECT p.id FROM products p WHERE p.id = ANY($1) AND p.group_id = $3 \
             ORDER BY p.id FOR NO KEY UPDATE) \
         UPDATE products p SET stock_on_hand = p.stock_on_hand + w.quantity \
         FROM unnest($1::uuid[], $2::int4[]) AS w(id, quantity), locked l \
         WHERE p.id = w.id AND l.id = w.id",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Integer>, _>(&quantities)
    .bind::<SqlUuid, _>(group)
    .execute(conn)
    .await?;
    Ok(())
}
