//! Placing an employee order: two autocommit statements, no transaction held open across
//! the network.
//!
//! 1. Read, without locks: the signed-in employee (as the `CurrentUser` extractor would; no
//!    row → 401), the response stored under the idempotency key, the allowance used this year,
//!    the group currency and the requested products (and, only when the seller's currency is
//!    not the group's, the exchange rate). Replays, key reuse, eligibility, pricing and obvious
//!    shortages are decided here.
//! 2. Write, once through the process's per-product queue (`super::gate`), in one statement
//!    (`placement.sql`, cut and bound by `super::statement`): claim the key, charge the allowance (with a cap, on condition that it
//!    is still what was read; without one, outright), insert the order, its lines, the audit
//!    event and the idempotency record, and only then lock the products in id order and take
//!    their stock, so that a product's row is held for the end of the statement and its
//!    commit alone (a flash sale serialises on it); purchase-limit quantities and, for an order
//!    paid from wages, what stands due per pay date and its schedule come last, its employer's
//!    terms read once before the first attempt. Locks are always taken key → allowance row →
//!    products → limit rows → pay-date rows, the order the cancellation follows too. A step
//!    that falls short raises (`abort_statement` or the stock CHECK) and the statement rolls
//!    back; an allowance or stock that moved is read and priced again.

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, Utc};
use diesel::sql_types::Uuid as SqlUuid;

use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Numeric, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::pricing::{self, Context};
use super::statement::{AbortReason, Write};
use super::validation::Requested;
use super::views;
use crate::catalog::queries::{PricedRow, ProductRow};
use crate::db::statement::statement;
use crate::domain::allowance;
use crate::domain::codes::CurrencyCode;
use crate::domain::payroll::Plan;
use crate::domain::period;
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyKey, Stored};
use crate::identity::auth::{CurrentUser, Subject, UserRecord};
use crate::ids::{GroupId, OrderId, ProductId};
use crate::payroll::terms::Standing;

/// `for_member_id` names no current member of the caller's household.
pub fn not_a_member() -> ApiError {
    ApiError::invalid_field(
        "for_member_id",
        "is not a current member of your household (GET /api/v1/me/household)",
    )
}

/// What the read of a placement found: the employee, the response stored under the key, the
/// allowance used this year and the group currency — repeated on each row of a found product.
#[derive(QueryableByName)]
struct Head {
    #[diesel(embed)]
    user: UserRecord,
    #[diesel(sql_type = Nullable<Text>)]
    scope: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    request_hash: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    response_status: Option<i32>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    response_body: Option<serde_json::Value>,
    #[diesel(sql_type = Numeric)]
    used: Decimal,
    #[diesel(sql_type = Text)]
    group_currency: CurrencyCode,
    /// No member named, or one of the employee's current household.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    member_ok: bool,
}

#[derive(QueryableByName)]
struct Read {
    #[diesel(embed)]
    head: Head,
    /// None when no requested product exists.
    #[diesel(embed)]
    found: Option<FoundRow>,
}

/// A requested product with what pricing needs.
#[derive(QueryableByName)]
struct FoundRow {
    #[diesel(embed)]
    product: ProductRow,
    #[diesel(sql_type = Text)]
    currency: CurrencyCode,
    #[diesel(sql_type = SqlUuid)]
    seller_group_id: GroupId,
    #[diesel(sql_type = Nullable<Numeric>)]
    category_override: Option<Decimal>,
}

/// The outcome of `place`.
pub enum Placed {
    /// The key already holds this request's response: replay it.
    Replay(Stored),
    /// A new order; the response body, as stored under the key.
    Created(serde_json::Value),
}

enum Attempt {
    Done(Placed),
    /// What the read saw changed before the write (the allowance, the stock, a product, or the
    /// key was stored by a request that finished meanwhile): read and price again.
    Again,
}

/// How often a placement is re-read and re-priced when what it read moved under it (the
/// employee's allowance by their own concurrent orders, the stock by other buyers) before
/// giving up with 409.
const ATTEMPTS: usize = 20;

/// Places an order at `now` (the service clock), waiting at most `patience` for its turn at
/// the gate (as long as the database lets a statement wait on a lock); see the module comment.
pub async fn place(
    conn: &mut AsyncPgConnection,
    subject: &Subject,
    request: &Requested,
    key: &IdempotencyKey,
    (scope, hash): (&str, &str),
    now: DateTime<Utc>,
    patience: std::time::Duration,
) -> Result<Placed, ApiError> {
    // Microseconds: what PostgreSQL stores, so the response equals a later read.
    let now = now.trunc_subsecs(6);
    let standing = match request.payroll {
        Some(_) => Some(crate::payroll::terms::standing(conn, subject.id).await?),
        None => None,
    };
    for _ in 0..ATTEMPTS {
        let attempt = attempt(
            conn,
            subject,
            (request, standing.as_ref()),
            key,
            (scope, hash),
            now,
            patience,
        );
        if let Attempt::Done(placed) = attempt.await? {
            return Ok(placed);
        }
    }
    Err(ApiError::conflict(
        "conflict",
        "your allowance or the stock kept changing while this order was placed; retry",
    ))
}

/// What the read found, decided: the employee, or a stored response to replay.
struct Found {
    user: CurrentUser,
    used: Decimal,
    group_currency: CurrencyCode,
    products: Vec<FoundRow>,
}

async fn read(
    conn: &mut AsyncPgConnection,
    subject: &Subject,
    request: &Requested,
    key: &IdempotencyKey,
    (scope, hash): (&str, &str),
    allowance_year: i32,
) -> Result<Result<Found, Stored>, ApiError> {
    let rows: Vec<Read> = statement(concat!(
        "WITH employee AS (SELECT e.tier_id, e.group_id FROM employees e WHERE e.id = $1 AND e.active), \
         head AS ( \
             SELECT ",
        crate::user_columns!(),
        ", k.scope, k.request_hash, k.response_status, k.response_body, \
                    coalesce((SELECT a.used FROM allowance_usage a \
                              WHERE a.employee_id = e.id AND a.year = $2), 0) AS used, \
                    grp.currency AS group_currency, \
                    CASE WHEN $5::uuid IS NULL THEN true ELSE EXISTS ( \
                        SELECT 1 FROM household_members m WHERE m.id = $5 \
                            AND m.employee_id = e.id AND m.removed_at IS NULL) END AS member_ok \
             FROM ",
        crate::signed_in_from!(),
        " LEFT JOIN idempotency_keys k ON k.employee_id = e.id AND k.key = $3 \
             WHERE e.id = $1 AND e.active), \
         found AS ( \
             SELECT p.*, c.currency, c.group_id AS seller_group_id, \
                    t.discount_percent AS category_override \
             FROM products p \
             JOIN companies c ON c.id = p.seller_company_id \
             LEFT JOIN tier_category_discounts t ON t.category_id = p.category_id \
                 AND t.tier_id = (SELECT tier_id FROM employee) \
             WHERE p.id = ANY($4) AND p.group_id = (SELECT group_id FROM employee)) \
         SELECT head.*, found.* FROM head LEFT JOIN found ON true"
    ))
    .bind::<SqlUuid, _>(subject.id)
    .bind::<Integer, _>(allowance_year)
    .bind::<Text, _>(&key.0)
    .bind::<Array<SqlUuid>, _>(request.product_ids())
    .bind::<Nullable<SqlUuid>, _>(request.for_member)
    .load(conn)
    .await?;
    let mut rows = rows.into_iter();
    let first = rows.next().ok_or(ApiError::Unauthorized)?;
    let Head {
        user,
        scope: stored_scope,
        request_hash,
        response_status,
        response_body,
        used,
        group_currency,
        member_ok,
    } = first.head;
    let user = subject.admit(user.into_user(subject.request_id.clone()))?;
    let existing = match (stored_scope, request_hash, response_status, response_body) {
        (Some(scope), Some(hash), Some(status), Some(body)) => Some((scope, hash, status, body)),
        _ => None,
    };
    // The key is claimed by the write; a request still running under it is caught there.
    if let Some(stored) = idempotency::decide(existing, scope, hash)? {
        return Ok(Err(stored));
    }
    if !member_ok {
        return Err(not_a_member());
    }
    let products = std::iter::once(first.found)
        .chain(rows.map(|r| r.found))
        .flatten()
        .collect();
    Ok(Ok(Found {
        user,
        used,
        group_currency,
        products,
    }))
}

async fn attempt(
    conn: &mut AsyncPgConnection,
    subject: &Subject,
    (request, standing): (&Requested, Option<&Standing>),
    key: &IdempotencyKey,
    (scope, hash): (&str, &str),
    now: DateTime<Utc>,
    patience: std::time::Duration,
) -> Result<Attempt, ApiError> {
    // The allowance year is the UTC calendar year (§5); every other date of the order (its
    // rate, its purchase-limit period, its pay dates) is the group's business day.
    let allowance_year = now.year();
    let found = match read(conn, subject, request, key, (scope, hash), allowance_year).await? {
        Ok(found) => found,
        Err(stored) => return Ok(Attempt::Done(Placed::Replay(stored))),
    };
    let today = found.user.zone.today(now);
    let user = &found.user;
    let seller = <[_]>::first(&found.products).map(|row| row.currency);
    let group = found.user.group_id;
    let fx_rate = pricing::seller_rate(conn, group, seller, found.group_currency, today).await?;
    let priced = priced_rows(found.products);
    let ctx = pricing::price_context(user, request, priced, found.group_currency, fx_rate, today)?;
    let order = allowance::price_order(
        &ctx.inputs,
        ctx.currency,
        ctx.group_currency,
        ctx.fx_rate,
        ctx.cap.map(|c| c.saturating_sub(found.used)),
    )?;
    let plan = match (standing, request.payroll) {
        (Some(standing), Some(instalments)) => {
            Some(standing.plan(order.total, instalments, today)?)
        }
        _ => None,
    };

    let (by_product, limited) = lock_order(&ctx, request, today)?;
    let sku_of = |id: Option<ProductId>| {
        by_product
            .iter()
            .find(|(p, _)| Some(p.id) == id)
            .map(|(p, _)| p.sku.clone())
            .unwrap_or_default()
    };

    let id = OrderId::fresh();
    let view = views::placed_view(
        id,
        (user.id, request.for_member),
        (&ctx, &order, plan.as_ref()),
        now,
    );
    let mut body = serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.into()))?;
    let write = Write {
        stock: &by_product,
        limited: &limited,
        lock_name: idempotency::lock_name(user.id, key),
        user,
        allowance_year,
        allowance_seen: found.used,
        ctx: &ctx,
        order: &order,
        order_id: id,
        for_member: request.for_member,
        payroll: plan
            .as_ref()
            .zip(standing)
            .map(|(plan, standing)| (plan, standing.employer)),
        now,
        body: &body,
        key,
        scope,
        hash,
    };
    // This instance's placements of the same product queue here, not on its row.
    let held = super::gate::GATE
        .enter(by_product.iter().map(|(p, _)| p.id), patience)
        .await?;
    let written = write.execute(conn).await;
    drop(held);
    let written = match written {
        Ok(written) => written,
        Err(error) => return refused(error, plan.as_ref(), sku_of),
    };
    if let Some(number) = body.get_mut("number") {
        *number = serde_json::Value::String(written.number);
    }
    Ok(Attempt::Done(Placed::Created(body)))
}

/// The products as pricing takes them.
fn priced_rows(products: Vec<FoundRow>) -> Vec<PricedRow> {
    products
        .into_iter()
        .map(|r| PricedRow {
            product: r.product,
            currency: r.currency,
            seller_group_id: r.seller_group_id,
            category_override: r.category_override,
        })
        .collect()
}

/// (product, quantity) in id order, the order in which the write locks the rows.
type StockLines<'c> = Vec<(&'c ProductRow, i32)>;
/// (product, period start, quantity) of the purchase-limited lines.
type LimitedLines = Vec<(ProductId, NaiveDate, i32)>;

/// The order's products in id order (the lock order) with their quantities, and its
/// purchase-limited lines; what is obviously short is refused here, before the write.
fn lock_order<'c>(
    ctx: &'c Context,
    request: &Requested,
    today: NaiveDate,
) -> Result<(StockLines<'c>, LimitedLines), ApiError> {
    let mut by_product: Vec<(&ProductRow, i32)> = ctx
        .rows
        .iter()
        .zip(&request.lines)
        .map(|(row, (_, quantity))| (&row.product, i32::try_from(*quantity).unwrap_or(i32::MAX)))
        .collect();
    by_product.sort_by_key(|(product, _)| product.id);
    let mut limited: Vec<(ProductId, NaiveDate, i32)> = Vec::new();
    for (product, quantity) in &by_product {
        if product.stock_on_hand < *quantity {
            return Err(pricing::out_of_stock(&product.sku));
        }
        if let (Some(max), Some(limit)) = (
            product.purchase_limit_quantity,
            product.purchase_limit_period,
        ) {
            if *quantity > max {
                return Err(pricing::limit_exceeded(&product.sku));
            }
            limited.push((product.id, period::limit_start(limit, today), *quantity));
        }
    }
    Ok((by_product, limited))
}

/// What a write statement that gave up means: a refusal for the client, or another attempt
/// (the allowance moved or the key was taken meanwhile).
fn refused(
    error: diesel::result::Error,
    plan: Option<&Plan>,
    sku_of: impl Fn(Option<ProductId>) -> String,
) -> Result<Attempt, ApiError> {
    match AbortReason::of(&error) {
        None => Err(error.into()),
        Some(AbortReason::PurchaseLimitExceeded(product)) => Err(pricing::limit_exceeded(&sku_of(
            product.map(ProductId::from),
        ))),
        Some(AbortReason::DeductionShareExceeded(day)) => {
            let (first, limit) = plan
                .and_then(|p| Some((<[_]>::first(&p.lines)?.0, p.limit)))
                .ok_or_else(|| ApiError::internal(format!("{error}")))?;
            Err(crate::payroll::terms::share_exceeded(
                day.unwrap_or(first),
                limit,
            ))
        }
        Some(AbortReason::RequestInProgress) => Err(idempotency::in_progress()),
        Some(
            AbortReason::AllowanceMoved
            | AbortReason::LimitMoved
            | AbortReason::KeyTaken
            | AbortReason::InsufficientStock
            | AbortReason::ProductGone
            | AbortReason::Deadlock,
        ) => Ok(Attempt::Again),
        Some(AbortReason::Unknown) => {
            Err(ApiError::internal(format!("order not written: {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadlock_victim_is_tried_again_and_an_unknown_failure_is_not_a_reason() {
        use diesel::result::{DatabaseErrorKind, Error};
        let deadlock = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(crate::error::DEADLOCK.to_owned()),
        );
        assert_eq!(AbortReason::of(&deadlock), Some(AbortReason::Deadlock));
        assert!(matches!(
            refused(deadlock, None, |_| String::new()),
            Ok(Attempt::Again)
        ));
        let other = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("some other failure".to_owned()),
        );
        assert_eq!(AbortReason::of(&other), None);
    }

    #[test]
    fn a_limit_changed_since_the_read_is_read_again() {
        use diesel::result::{DatabaseErrorKind, Error};
        let moved = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("abort_statement:limit_moved".to_owned()),
        );
        assert_eq!(AbortReason::of(&moved), Some(AbortReason::LimitMoved));
        assert!(matches!(
            refused(moved, None, |_| String::new()),
            Ok(Attempt::Again)
        ));
    }
}
