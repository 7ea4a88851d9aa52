//! Database work for feedback: the rated order as far as the rules need it, the one feedback
//! row per order, its changes and the seller's reply, and the list a company receives.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::dto::{FeedbackView, OrderKind, ReplyView};
use crate::db::schema::{feedback, intercompany_orders, orders};
use crate::domain::intercompany::Status as IntercompanyStatus;
use crate::domain::kinds::OrderStatus;
use crate::error::ApiError;
use crate::ids::{EmployeeId, GroupId};

/// How long after giving it the author may change a feedback.
pub const EDITABLE_FOR: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The order a request names: `/orders/{id}` or `/intercompany-orders/{id}`.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub kind: OrderKind,
    pub id: Uuid,
}

/// What the feedback rules need to know about the rated order.
#[derive(Debug)]
pub struct RatedOrder {
    pub kind: OrderKind,
    pub id: Uuid,
    pub seller_company_id: Uuid,
    /// Employee orders: the employee who bought.
    pub employee_id: Option<Uuid>,
    /// Intercompany orders: the buying company.
    pub buyer_company_id: Option<Uuid>,
    pub status: RatedStatus,
}

/// Where the rated order is in its life, in its own kind's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatedStatus {
    Employee(OrderStatus),
    Intercompany(IntercompanyStatus),
}

impl std::fmt::Display for RatedStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Employee(status) => status.fmt(f),
            Self::Intercompany(status) => status.fmt(f),
        }
    }
}

impl RatedOrder {
    /// Feedback is taken once the client has what they ordered: an employee order fulfilled,
    /// an intercompany order shipped (or already settled).
    pub fn delivered(&self) -> bool {
        matches!(
            self.status,
            RatedStatus::Employee(OrderStatus::Fulfilled)
                | RatedStatus::Intercompany(
                    IntercompanyStatus::Shipped | IntercompanyStatus::Settled
                )
        )
    }
}

/// The order `target` of `group`, or None.
pub async fn rated_order(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    target: Target,
) -> Result<Option<RatedOrder>, ApiError> {
    Ok(match target.kind {
        OrderKind::Employee => orders::table
            .find(target.id)
            .filter(orders::group_id.eq(group))
            .select((
                orders::employee_id,
                orders::seller_company_id,
                orders::status,
            ))
            .first::<(Uuid, Uuid, OrderStatus)>(conn)
            .await
            .optional()?
            .map(|(employee, seller, status)| RatedOrder {
                kind: target.kind,
                id: target.id,
                seller_company_id: seller,
                employee_id: Some(employee),
                buyer_company_id: None,
                status: RatedStatus::Employee(status),
            }),
        OrderKind::Intercompany => intercompany_orders::table
            .find(target.id)
            .filter(intercompany_orders::group_id.eq(group))
            .select((
                intercompany_orders::buyer_company_id,
                intercompany_orders::seller_company_id,
                intercompany_orders::status,
            ))
            .first::<(Uuid, Uuid, IntercompanyStatus)>(conn)
            .await
            .optional()?
            .map(|(buyer, seller, status)| RatedOrder {
                kind: target.kind,
                id: target.id,
                seller_company_id: seller,
                employee_id: None,
                buyer_company_id: Some(buyer),
                status: RatedStatus::Intercompany(status),
            }),
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = feedback)]
pub struct FeedbackRow {
    pub id: Uuid,
    pub order_id: Option<Uuid>,
    pub intercompany_order_id: Option<Uuid>,
    pub seller_company_id: Uuid,
    pub author_id: EmployeeId,
    pub rating: i16,
    pub comment: Option<String>,
    pub reply: Option<String>,
    pub replied_by: Option<Uuid>,
    pub replied_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FeedbackRow {
    pub fn editable_until(&self) -> DateTime<Utc> {
        self.created_at + EDITABLE_FOR
    }

    pub fn view(&self) -> FeedbackView {
        let (order_kind, order_id) = match (self.order_id, self.intercompany_order_id) {
            (Some(id), _) => (OrderKind::Employee, id),
            (None, Some(id)) => (OrderKind::Intercompany, id),
            // The table's CHECK (exactly one order) makes this unreachable.
            (None, None) => (OrderKind::Employee, Uuid::nil()),
        };
        FeedbackView {
            id: self.id,
            order_kind,
            order_id,
            seller_company_id: self.seller_company_id,
            author_id: self.author_id.into(),
            rating: i32::from(self.rating),
            comment: self.comment.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            editable_until: self.editable_until(),
            reply: match (&self.reply, self.replied_by, self.replied_at) {
                (Some(comment), Some(replied_by), Some(replied_at)) => Some(ReplyView {
                    comment: comment.clone(),
                    replied_by,
                    replied_at,
                }),
                _ => None,
            },
        }
    }
}

/// The feedback on `target` in `group`, locked for a change when `for_update`.
pub async fn find(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    target: Target,
    for_update: bool,
) -> Result<Option<FeedbackRow>, ApiError> {
    let mut query = feedback::table
        .filter(feedback::group_id.eq(group))
        .select(FeedbackRow::as_select())
        .into_boxed();
    query = match target.kind {
        OrderKind::Employee => query.filter(feedback::order_id.eq(target.id)),
        OrderKind::Intercompany => query.filter(feedback::intercompany_order_id.eq(target.id)),
    };
    let found: Option<FeedbackRow> = query.first(conn).await.optional()?;
    match found {
        // Lock the row (a boxed query cannot) and read it again as it is once locked.
        Some(row) if for_update => Ok(feedback::table
            .find(row.id)
            .select(FeedbackRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?),
        other => Ok(other),
    }
}

/// A new feedback on `order` by `author`. A second one for the same order breaks the unique
/// key (409 `conflict`), whatever raced.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    order: &RatedOrder,
    author: EmployeeId,
    rating: i16,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<FeedbackRow, ApiError> {
    let (order_id, intercompany_order_id) = match order.kind {
        OrderKind::Employee => (Some(order.id), None),
        OrderKind::Intercompany => (None, Some(order.id)),
    };
    diesel::insert_into(feedback::table)
        .values((
            feedback::group_id.eq(group),
            feedback::order_id.eq(order_id),
            feedback::intercompany_order_id.eq(intercompany_order_id),
            feedback::seller_company_id.eq(order.seller_company_id),
            feedback::author_id.eq(author),
            feedback::rating.eq(rating),
            feedback::comment.eq(comment),
            feedback::created_at.eq(now),
            feedback::updated_at.eq(now),
        ))
        .returning(FeedbackRow::as_returning())
        .get_result(conn)
        .await
        .map_err(|e| ApiError::from(e).explain_conflict("order", "this order already has feedback"))
}

/// The columns a PATCH may change; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = feedback)]
pub struct Changes {
    pub rating: Option<i16>,
    pub comment: Option<Option<String>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: Changes,
) -> Result<FeedbackRow, ApiError> {
    Ok(diesel::update(feedback::table.find(id))
        .set(changes)
        .returning(FeedbackRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Records the seller's answer, unless one was recorded meanwhile (then None).
pub async fn reply(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    comment: &str,
    by: EmployeeId,
    now: DateTime<Utc>,
) -> Result<Option<FeedbackRow>, ApiError> {
    Ok(
        diesel::update(feedback::table.find(id).filter(feedback::reply.is_null()))
            .set((
                feedback::reply.eq(Some(comment)),
                feedback::replied_by.eq(Some(by)),
                feedback::replied_at.eq(Some(now)),
            ))
            .returning(FeedbackRow::as_returning())
            .get_result(conn)
            .await
            .optional()?,
    )
}

/// What a list asks for, checked.
pub struct ListFilter {
    pub company: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_rating: Option<i16>,
    pub max_rating: Option<i16>,
}

/// Up to `fetch` feedback of `group` received by the filtered company, newest first, after
/// the keyset position `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    filter: &ListFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    fetch: i64,
) -> Result<Vec<FeedbackRow>, ApiError> {
    let mut query = feedback::table
        .filter(feedback::group_id.eq(group))
        .select(FeedbackRow::as_select())
        .order((feedback::created_at.desc(), feedback::id.desc()))
        .limit(fetch)
        .into_boxed();
    if let Some(company) = filter.company {
        query = query.filter(feedback::seller_company_id.eq(company));
    }
    if let Some(from) = filter.from {
        query = query.filter(feedback::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(feedback::created_at.lt(to));
    }
    if let Some(min) = filter.min_rating {
        query = query.filter(feedback::rating.ge(min));
    }
    if let Some(max) = filter.max_rating {
        query = query.filter(feedback::rating.le(max));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            feedback::created_at
                .lt(at)
                .or(feedback::created_at.eq(at).and(feedback::id.lt(id))),
        );
    }
    Ok(query.load(conn).await?)
}
