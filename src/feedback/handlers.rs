//! Feedback endpoints. Who may do what is decided once, by [`sees`] (else 404) and the role
//! checks of each action (else 403); every change is audited in its own transaction.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::dto::*;
use super::queries::{self, Changes, FeedbackRow, ListFilter, RatedOrder, Target};
use crate::audit::Change;
use crate::body::Body;
use crate::error::{ApiError, FieldError};
use crate::identity::auth::{Authorized, CurrentUser, Role, Trade};
use crate::ids::CompanyId;
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

pub const MAX_COMMENT: usize = 2000;

/// An employee of the seller company who answers for it: its admins and purchasers.
fn speaks_for_seller(user: &CurrentUser, order: &RatedOrder) -> bool {
    user.company_id == CompanyId::from(order.seller_company_id)
        && (user.has(Role::Admin) || user.has(Role::Purchaser))
}

/// The internal client who rates the order: the employee who bought it, or a purchaser of
/// the buying company.
fn is_client(user: &CurrentUser, order: &RatedOrder) -> bool {
    match order.kind {
        OrderKind::Employee => order.employee_id == Some(user.id.uuid()),
        OrderKind::Intercompany => {
            user.has(Role::Purchaser) && order.buyer_company_id == Some(user.company_id.uuid())
        }
    }
}

/// Whether `user` sees the order and its feedback at all: whoever sees the order (the buyer,
/// finance, admins; for intercompany orders the purchasers of both companies) and the seller's
/// admins and purchasers. Everyone else gets 404.
fn sees(user: &CurrentUser, order: &RatedOrder) -> bool {
    user.has(Role::Admin)
        || user.has(Role::Finance)
        || is_client(user, order)
        || speaks_for_seller(user, order)
}

/// The order, if `user` sees it; 404 otherwise.
async fn visible_order(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &CurrentUser,
    target: Target,
) -> Result<RatedOrder, ApiError> {
    queries::rated_order(conn, user.group_id, target)
        .await?
        .filter(|order| sees(user, order))
        .ok_or(ApiError::NotFound)
}

fn rating(value: i64, field: &str) -> Result<i16, FieldError> {
    i16::try_from(value)
        .ok()
        .filter(|r| (1..=5).contains(r))
        .ok_or_else(|| FieldError::new(field, "must be between 1 and 5"))
}

/// A comment within 2000 characters with a visible one (spec §2: free text is never blank).
fn comment(value: Option<String>) -> Result<Option<String>, FieldError> {
    match value {
        Some(text) if text.chars().count() > MAX_COMMENT => Err(FieldError::new(
            "comment",
            format!("must be at most {MAX_COMMENT} characters"),
        )),
        Some(text) if !crate::validation::has_visible(&text) => Err(FieldError::new(
            "comment",
            "must contain a visible character (leave it out, or send null, for none)",
        )),
        other => Ok(other),
    }
}

/// Both checked values, or every field error of the two (422).
fn both<A, B>(a: Result<A, FieldError>, b: Result<B, FieldError>) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(ApiError::invalid(
            [a.err(), b.err()].into_iter().flatten().collect(),
        )),
    }
}

/// The order, if `user` is the client who rates it (404 when they do not see it, 403 when
/// they see it but are not its client).
async fn client_order(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &CurrentUser,
    target: Target,
) -> Result<RatedOrder, ApiError> {
    let order = visible_order(conn, user, target).await?;
    if is_client(user, &order) {
        Ok(order)
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn give(
    state: &AppState,
    user: &CurrentUser,
    target: Target,
    body: NewFeedback,
) -> Result<HttpResponse, ApiError> {
    let (rating, comment) = both(rating(body.rating, "rating"), comment(body.comment))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let view = write::by(user, user.group_id)
        .run(&mut conn, &state.changes, async move |conn| {
            let order = client_order(conn, user, target).await?;
            if !order.delivered() {
                return Err(ApiError::conflict(
                    "invalid_state",
                    format!(
                        "feedback is taken once the order is {}; this one is {}",
                        match order.kind {
                            OrderKind::Employee => "fulfilled",
                            OrderKind::Intercompany => "shipped",
                        },
                        order.status
                    ),
                ));
            }
            if queries::find(conn, user.group_id, target, false)
                .await?
                .is_some()
            {
                return Err(ApiError::conflict(
                    "conflict",
                    "order: this order already has feedback; change it with PATCH",
                ));
            }
            let row = queries::insert(
                conn,
                user.group_id,
                &order,
                user.id,
                rating,
                comment.as_deref(),
                now,
            )
            .await?;
            let view = row.view();
            let change = Change::new("feedback.given", "feedback", row.id).after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

async fn edit(
    state: &AppState,
    user: &CurrentUser,
    target: Target,
    body: FeedbackPatch,
) -> Result<web::Json<FeedbackView>, ApiError> {
    let (rating, comment) = both(
        body.rating.map(|r| rating(r, "rating")).transpose(),
        body.comment.map(comment).transpose(),
    )?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let view = write::by(user, user.group_id)
        .run(&mut conn, &state.changes, async move |conn| {
            client_order(conn, user, target).await?;
            let before = queries::find(conn, user.group_id, target, true)
                .await?
                .ok_or(ApiError::NotFound)?;
            if before.author_id != user.id {
                return Err(ApiError::Rule {
                    status: actix_web::http::StatusCode::FORBIDDEN,
                    code: "forbidden",
                    detail: "only the author may change a feedback".into(),
                });
            }
            if now > before.editable_until() {
                return Err(ApiError::conflict(
                    "invalid_state",
                    format!(
                        "feedback can be changed for 7 days after it was given (until {})",
                        before.editable_until().to_rfc3339()
                    ),
                ));
            }
            let row = queries::update(
                conn,
                before.id,
                Changes {
                    rating,
                    comment,
                    updated_at: now,
                },
            )
            .await?;
            let view = row.view();
            let change = Change::new("feedback.edited", "feedback", row.id)
                .before(&before.view())
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}

async fn answer(
    state: &AppState,
    user: &CurrentUser,
    target: Target,
    body: NewReply,
) -> Result<HttpResponse, ApiError> {
    let text = body.comment;
    if !crate::validation::has_visible(&text) || text.chars().count() > MAX_COMMENT {
        return Err(ApiError::invalid_field(
            "comment",
            format!("must be 1–{MAX_COMMENT} characters with a visible one"),
        ));
    }
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let view = write::by(user, user.group_id)
        .run(&mut conn, &state.changes, async move |conn| {
            let order = visible_order(conn, user, target).await?;
            if !speaks_for_seller(user, &order) {
                return Err(ApiError::Rule {
                    status: actix_web::http::StatusCode::FORBIDDEN,
                    code: "forbidden",
                    detail: "only the seller company's admins and purchasers answer feedback"
                        .into(),
                });
            }
            let before = queries::find(conn, user.group_id, target, true)
                .await?
                .ok_or(ApiError::NotFound)?;
            let already =
                || ApiError::conflict("conflict", "this feedback already has the seller's reply");
            if before.reply.is_some() {
                return Err(already());
            }
            let row = queries::reply(conn, before.id, &text, user.id, now)
                .await?
                .ok_or_else(already)?;
            let view = row.view();
            let change = Change::new("feedback.replied", "feedback", row.id)
                .before(&before.view())
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    target: Target,
) -> Result<web::Json<FeedbackView>, ApiError> {
    let mut conn = state.pool.get().await?;
    visible_order(&mut conn, user, target).await?;
    queries::find(&mut conn, user.group_id, target, false)
        .await?
        .map(|row: FeedbackRow| web::Json(row.view()))
        .ok_or(ApiError::NotFound)
}

/// The four feedback routes of one order kind (give, change, read, answer), each a thin
/// wrapper that hands the kind's [`Target`] to the one implementation above. Written once so
/// that the two kinds cannot drift apart; only the paths, names and texts differ.
macro_rules! feedback_routes {
    (
        kind: $kind:expr,
        paths: ($path:tt, $reply_path:tt),
        give: ($give:ident, $give_doc:tt, $give_403:tt, $give_409:tt),
        edit: ($edit:ident, $edit_doc:tt),
        get: ($get:ident, $get_doc:tt),
        reply: ($reply:ident, $reply_doc:tt) $(,)?
    ) => {
        #[doc = $give_doc]
        #[utoipa::path(
            tag = "feedback",
            params(("id" = Uuid, Path)),
            request_body = NewFeedback,
            security(("bearer" = [])),
            responses(
                (status = 201, body = FeedbackView),
                (status = 403, description = $give_403),
                (status = 409, description = $give_409),
                (status = 422, description = "rating outside 1–5, comment over 2000 characters")
            )
        )]
        #[post($path)]
        pub async fn $give(
            user: CurrentUser,
            state: web::Data<AppState>,
            id: web::Path<Uuid>,
            body: Body<NewFeedback>,
        ) -> Result<HttpResponse, ApiError> {
            let target = Target { kind: $kind, id: *id };
            give(&state, &user, target, body.into_inner()?).await
        }

        #[doc = $edit_doc]
        #[utoipa::path(
            tag = "feedback", params(("id" = Uuid, Path)), request_body = FeedbackPatch,
            security(("bearer" = [])),
            responses(
                (status = 200, body = FeedbackView),
                (
                    status = 403,
                    description = "Not its author (the employee who bought the order, or a \
                        purchaser of the buying company)"
                ),
                (status = 409, description = "invalid_state (more than 7 days after it was given)"),
                (status = 422, description = "rating outside 1–5, comment over 2000 characters")
            )
        )]
        #[patch($path)]
        pub async fn $edit(
            user: CurrentUser,
            state: web::Data<AppState>,
            id: web::Path<Uuid>,
            body: Body<FeedbackPatch>,
        ) -> Result<web::Json<FeedbackView>, ApiError> {
            let target = Target { kind: $kind, id: *id };
            edit(&state, &user, target, body.into_inner()?).await
        }

        #[doc = $get_doc]
        #[utoipa::path(
            tag = "feedback", params(("id" = Uuid, Path)), security(("bearer" = [])),
            responses(
                (status = 200, body = FeedbackView),
                (status = 404, description = "No such order, or no feedback yet")
            )
        )]
        #[get($path)]
        pub async fn $get(
            user: CurrentUser,
            state: web::Data<AppState>,
            id: web::Path<Uuid>,
        ) -> Result<web::Json<FeedbackView>, ApiError> {
            show(&state, &user, Target { kind: $kind, id: *id }).await
        }

        #[doc = $reply_doc]
        #[utoipa::path(
            tag = "feedback", params(("id" = Uuid, Path)), request_body = NewReply,
            security(("bearer" = [])),
            responses(
                (status = 201, body = FeedbackView),
                (status = 403, description = "Not an admin or purchaser of the seller"),
                (status = 404, description = "No such order, or no feedback yet"),
                (status = 409, description = "conflict (already answered)")
            )
        )]
        #[post($reply_path)]
        pub async fn $reply(
            user: CurrentUser,
            state: web::Data<AppState>,
            id: web::Path<Uuid>,
            body: Body<NewReply>,
        ) -> Result<HttpResponse, ApiError> {
            let target = Target { kind: $kind, id: *id };
            answer(&state, &user, target, body.into_inner()?).await
        }
    };
}

feedback_routes! {
    kind: OrderKind::Employee,
    paths: ("/orders/{id}/feedback", "/orders/{id}/feedback/reply"),
    give: (
        give_order_feedback,
        "Rate a fulfilled employee order (the employee who bought it): `{rating: 1–5, comment?}`.\n\
         Once per order (a second → 409 `conflict`); before fulfilment → 409 `invalid_state`.",
        "Not the employee who bought it",
        "invalid_state (not fulfilled) or conflict (already rated)"
    ),
    edit: (
        edit_order_feedback,
        "Change the feedback on an employee order (its author, within 7 days of giving it; later\n\
         → 409 `invalid_state`)."
    ),
    get: (
        get_order_feedback,
        "The feedback on an employee order, with the seller's reply (whoever sees the order, and\n\
         the seller's admins and purchasers)."
    ),
    reply: (
        reply_order_feedback,
        "Answer the feedback on an employee order, once (the seller company's admins and\n\
         purchasers): `{comment}`. A second reply → 409 `conflict`."
    ),
}

feedback_routes! {
    kind: OrderKind::Intercompany,
    paths: ("/intercompany-orders/{id}/feedback", "/intercompany-orders/{id}/feedback/reply"),
    give: (
        give_intercompany_feedback,
        "Rate a shipped intercompany order (a purchaser of the buyer): `{rating: 1–5, comment?}`.\n\
         Once per order (a second → 409 `conflict`); before shipping → 409 `invalid_state`.",
        "Not a purchaser of the buyer",
        "invalid_state (not shipped) or conflict (already rated)"
    ),
    edit: (
        edit_intercompany_feedback,
        "Change the feedback on an intercompany order (its author, within 7 days of giving it;\n\
         later → 409 `invalid_state`)."
    ),
    get: (
        get_intercompany_feedback,
        "The feedback on an intercompany order, with the seller's reply (whoever sees the order)."
    ),
    reply: (
        reply_intercompany_feedback,
        "Answer the feedback on an intercompany order, once (the seller company's admins and\n\
         purchasers): `{comment}`. A second reply → 409 `conflict`."
    ),
}

fn rating_filter(value: Option<i64>, field: &str) -> Result<Option<i16>, ApiError> {
    value
        .map(|v| rating(v, field).map_err(|e| ApiError::bad_field(field, e.message)))
        .transpose()
}

/// Feedback received by a company, newest first: its purchasers (their own company only),
/// finance and admins (any company of the group, or all of it). Filters: `period` (given in
/// that month), `min_rating`, `max_rating`.
#[utoipa::path(
    tag = "feedback", params(FeedbackQuery),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses(
        (status = 200, body = Page<FeedbackView>),
        (status = 403, description = "A purchaser asking for another company")
    )
)]
#[get("/feedback")]
pub async fn list_feedback(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: crate::json::Query<FeedbackQuery>,
) -> Result<web::Json<Page<FeedbackView>>, ApiError> {
    let page = query.page::<(DateTime<Utc>, Uuid)>()?;
    let group_wide = user.has(Role::Admin) || user.has(Role::Finance);
    let company = match query.company_id {
        Some(company) if group_wide || CompanyId::from(company) == user.company_id => Some(company),
        Some(_) => {
            return Err(ApiError::Rule {
                status: actix_web::http::StatusCode::FORBIDDEN,
                code: "forbidden",
                detail: "company_id: purchasers see their own company's feedback only".into(),
            })
        }
        None if group_wide => None,
        None => Some(user.company_id.uuid()),
    };
    let (from, to) = match query.period.map(|month| user.zone.month(month)) {
        Some((from, to)) => (Some(from), Some(to)),
        None => (None, None),
    };
    let min_rating = rating_filter(query.min_rating, "min_rating")?;
    let max_rating = rating_filter(query.max_rating, "max_rating")?;
    if let (Some(min), Some(max)) = (min_rating, max_rating) {
        if min > max {
            return Err(ApiError::bad_field(
                "min_rating",
                "must not be greater than max_rating",
            ));
        }
    }
    let filter = ListFilter {
        company,
        from,
        to,
        min_rating,
        max_rating,
    };
    let mut conn = state.pool.get().await?;
    let rows = queries::list(&mut conn, user.group_id, &filter, page.after, page.fetch()).await?;
    let views = rows.iter().map(FeedbackRow::view).collect();
    Ok(web::Json(
        page.of(views, |f: &FeedbackView| (f.created_at, f.id)),
    ))
}
