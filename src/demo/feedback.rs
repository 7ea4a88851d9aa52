//! The demo group's feedback: the buyers' purchasers rate every shipped or settled
//! intercompany order, and the seller answers some, written with the same functions the API
//! uses — so the internal-service KPIs show something on day one.

use chrono::TimeDelta;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{employees, feedback, intercompany_orders};
use crate::domain::intercompany::Status as IntercompanyStatus;
use crate::error::ApiError;
use crate::feedback::dto::OrderKind;
use crate::feedback::queries::{self, RatedOrder, RatedStatus};
use crate::ids::GroupId;

/// Ratings, comments and (maybe) the seller's answer, given in turn to the orders oldest first.
const SAYINGS: &[(i16, Option<&str>, Option<&str>)] = &[
    (
        5,
        Some("Complete and on time, thank you."),
        Some("Thank you, glad it worked out."),
    ),
    (
        4,
        Some("Good, one carton arrived damaged."),
        Some("Sorry about the carton; we changed the packaging."),
    ),
    (2, Some("Shipped days after the promised date."), None),
    (4, None, None),
];

/// The purchaser of company `company` in the demo (the first by email), who answers feedback
/// for it.
pub(super) async fn purchaser_of(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    company: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    Ok(employees::table
        .filter(employees::group_id.eq(group))
        .filter(employees::company_id.eq(company))
        .filter(employees::roles.contains(vec![Some("purchaser".to_owned())]))
        .order(employees::email)
        .select(employees::id)
        .first(conn)
        .await
        .optional()?)
}

/// A shipped or settled intercompany order.
#[derive(Queryable)]
struct Delivered {
    id: Uuid,
    buyer: Uuid,
    seller: Uuid,
    status: IntercompanyStatus,
    shipped_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Seeds feedback on the group's delivered intercompany orders unless the group has feedback
/// already; returns how many were given.
pub async fn seed(conn: &mut AsyncPgConnection, group: GroupId) -> Result<usize, ApiError> {
    let existing: i64 = feedback::table
        .filter(feedback::group_id.eq(group))
        .count()
        .get_result(conn)
        .await?;
    if existing > 0 {
        return Ok(0);
    }
    let delivered: Vec<Delivered> = intercompany_orders::table
        .filter(intercompany_orders::group_id.eq(group))
        .filter(intercompany_orders::status.eq_any(["shipped", "settled"]))
        .order((intercompany_orders::created_at, intercompany_orders::id))
        .select((
            intercompany_orders::id,
            intercompany_orders::buyer_company_id,
            intercompany_orders::seller_company_id,
            intercompany_orders::status,
            intercompany_orders::shipped_at,
        ))
        .load(conn)
        .await?;
    let mut given = 0;
    for (delivered, (rating, comment, answer)) in delivered.into_iter().zip(SAYINGS.iter().cycle())
    {
        let Delivered {
            id,
            buyer,
            seller,
            status,
            shipped_at,
        } = delivered;
        let (Some(author), Some(replier)) = (
            purchaser_of(conn, group, buyer).await?,
            purchaser_of(conn, group, seller).await?,
        ) else {
            continue;
        };
        let order = RatedOrder {
            kind: OrderKind::Intercompany,
            id,
            seller_company_id: seller,
            employee_id: None,
            buyer_company_id: Some(buyer),
            status: RatedStatus::Intercompany(status),
        };
        let at = shipped_at.unwrap_or_else(crate::clock::wall_time) + TimeDelta::days(1);
        let row =
            queries::insert(conn, group, &order, author.into(), *rating, *comment, at).await?;
        if let Some(answer) = answer {
            queries::reply(
                conn,
                row.id,
                answer,
                replier.into(),
                at + TimeDelta::hours(3),
            )
            .await?;
        }
        given += 1;
    }
    Ok(given)
}
