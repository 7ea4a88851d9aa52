//! The demo group's employee orders: a dozen direct employees each buy one product of ABC or
//! XYZ over the last few days, placed, fulfilled and rated with the service's own functions
//! (`orders::queries::place`, `set_status`, the feedback queries), so that the employee side of
//! the internal-service KPIs shows something on day one.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{companies, employees, orders, products};
use crate::error::ApiError;
use crate::feedback::dto::OrderKind;
use crate::feedback::queries::{self as feedback, RatedOrder, RatedStatus};
use crate::idempotency::IdempotencyKey;
use crate::identity::auth::Subject;
use crate::ids::{GroupId, OrderId};
use crate::orders::dto::OrderStatus;
use crate::orders::placement::{self, Placed};
use crate::orders::queries as shop;
use crate::orders::validation::Requested;

/// What the n-th order's buyer says, if anything, and whether the seller answers.
const SAYINGS: &[(i16, Option<&str>, Option<&str>)] = &[
    (5, Some("Arrived the next morning."), Some("Enjoy it!")),
    (3, Some("Fine, but the box was open."), None),
    (4, None, Some("Thank you for the feedback.")),
    (2, Some("Took almost two days."), None),
];

/// Seeds the orders unless the group has employee orders already; returns how many orders
/// were placed and how many were rated.
pub async fn seed(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    now: DateTime<Utc>,
) -> Result<(usize, usize), ApiError> {
    let existing: i64 = orders::table
        .filter(orders::group_id.eq(group))
        .count()
        .get_result(conn)
        .await?;
    if existing > 0 {
        return Ok((0, 0));
    }
    // Direct staff with a tier (generated accounts), and goods ABC and XYZ sell to employees.
    let buyers: Vec<Uuid> = employees::table
        .filter(employees::group_id.eq(group))
        .filter(employees::employment_type.eq("direct"))
        .filter(employees::tier_id.is_not_null())
        .filter(employees::roles.eq(vec![Some("employee".to_owned())]))
        .order(employees::email)
        .limit(12)
        .select(employees::id)
        .load(conn)
        .await?;
    let goods: Vec<(Uuid, Uuid)> = products::table
        .inner_join(companies::table.on(companies::id.eq(products::seller_company_id)))
        .filter(products::group_id.eq(group))
        .filter(companies::code.eq_any(["ABC", "XYZ"]))
        .filter(products::active)
        .filter(products::employee_eligible)
        .filter(products::stock_on_hand.ge(10))
        .order(products::sku)
        .limit(40)
        .select((products::id, products::seller_company_id))
        .load(conn)
        .await?;
    let (mut placed, mut rated_count) = (0, 0);
    for (n, buyer) in buyers.into_iter().enumerate() {
        let Some(&(product, seller)) = goods.get((n * 7) % goods.len().max(1)) else {
            break;
        };
        let Some(id) = place_as(conn, buyer, product, n, now).await? else {
            continue;
        };
        placed += 1;
        let Some(done) = age_and_fulfil(conn, group, id, n, now).await? else {
            continue;
        };
        if rate(conn, group, (id.uuid(), seller, buyer), n, done).await? {
            rated_count += 1;
        }
    }
    Ok((placed, rated_count))
}

/// Places the `n`th demo order of one `product` as `buyer` would, under their current
/// credentials and a key of its own; answers its id (none when placement refused it).
async fn place_as(
    conn: &mut AsyncPgConnection,
    buyer: Uuid,
    product: Uuid,
    n: usize,
    now: DateTime<Utc>,
) -> Result<Option<OrderId>, ApiError> {
    // Placed as the buyer would place it: under their current credentials.
    let version: i32 = employees::table
        .find(buyer)
        .select(employees::credential_version)
        .first(conn)
        .await?;
    let subject = Subject {
        id: buyer.into(),
        version,
        request_id: None,
    };
    let key = IdempotencyKey(format!("demo-order-{n}"));
    let request = Requested {
        lines: vec![(product.into(), 1)],
        for_member: None,
        payroll: None,
    };
    let Placed::Created(body) = placement::place(
        conn,
        &subject,
        &request,
        &key,
        ("POST /orders", "demo"),
        now,
        // The demo loads alone: its orders never queue.
        std::time::Duration::from_secs(10),
    )
    .await?
    else {
        return Ok(None);
    };
    let id: OrderId = body
        .get("id")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<Uuid>().ok())
        .map(OrderId::from)
        .ok_or_else(|| ApiError::internal("placed order without an id"))?;
    Ok(Some(id))
}

/// Dates the `n`th order back 30–85 hours and, all but every fourth, fulfils it 4–37 hours
/// later as the fulfil endpoint would; answers when it was fulfilled.
async fn age_and_fulfil(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: OrderId,
    n: usize,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    // Placed 30–85 hours ago; all but every fourth fulfilled 4–37 hours later.
    let hours = i64::try_from(n).unwrap_or(0);
    let at = now - TimeDelta::hours(30 + 5 * hours);
    diesel::update(orders::table.find(id))
        .set((orders::created_at.eq(at), orders::updated_at.eq(at)))
        .execute(conn)
        .await?;
    if n % 4 == 3 {
        return Ok(None);
    }
    let done = at + TimeDelta::hours(4 + 3 * hours);
    let Some(order) = shop::find_for_update(conn, group, id).await? else {
        return Ok(None);
    };
    let lines = shop::lines_of(conn, id).await?;
    shop::set_status(conn, &order, OrderStatus::Fulfilled, Some(done), lines).await?;
    // As the fulfil endpoint does: the lines' benefit facts, fixed now.
    let day = crate::bookings::today(conn, group, done).await?;
    crate::orders::benefit_facts::record(conn, group, id, day, done).await?;
    Ok(Some(done))
}

/// Rates two in three fulfilled orders as their buyer; the seller's purchaser answers some.
/// Answers whether the order was rated.
async fn rate(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    (id, seller, buyer): (Uuid, Uuid, Uuid),
    n: usize,
    done: DateTime<Utc>,
) -> Result<bool, ApiError> {
    // Two in three fulfilled orders are rated; the seller's purchaser answers some.
    if n % 3 == 2 {
        return Ok(false);
    }
    let Some(&(rating, comment, answer)) = SAYINGS.get(n % SAYINGS.len()) else {
        return Ok(false);
    };
    let rated = RatedOrder {
        kind: OrderKind::Employee,
        id,
        seller_company_id: seller,
        employee_id: Some(buyer),
        buyer_company_id: None,
        status: RatedStatus::Employee(OrderStatus::Fulfilled),
    };
    let row = feedback::insert(
        conn,
        group,
        &rated,
        buyer.into(),
        rating,
        comment,
        done + TimeDelta::hours(1),
    )
    .await?;
    if let (Some(answer), Some(replier)) = (
        answer,
        super::feedback::purchaser_of(conn, group, seller).await?,
    ) {
        feedback::reply(
            conn,
            row.id,
            answer,
            replier.into(),
            done + TimeDelta::hours(2),
        )
        .await?;
    }
    Ok(true)
}
