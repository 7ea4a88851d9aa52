//! Policy versions (§6): once a policy priced a line its terms never change; a change of terms
//! is a new version that starts on a day and ends the old one the day before, so every line
//! keeps the terms it was priced with and last year's range never moves.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use chrono::{NaiveDate, TimeDelta};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::{PolicySupersede, PolicyView};
use super::policies::{check_terms, PatchedTerms, PolicyRow};
use crate::audit::Change;
use crate::db::schema::transfer_pricing_policies as policies;
use crate::domain::transfer_pricing::{MarkupRange, Method};
use crate::error::{ApiError, FieldError};
use crate::idempotency::Keyed;
use crate::identity::auth::{AdminOrFinance, Authorized};
use crate::ids::GroupId;
use crate::state::AppState;
use crate::write;

/// Version `id` of `group`, locked, if no version supersedes it yet (404, 409 otherwise).
async fn lock_newest(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<PolicyRow, ApiError> {
    let old = super::policies::lock(conn, group, id).await?;
    let superseded: bool = diesel::select(diesel::dsl::exists(
        policies::table
            .filter(policies::group_id.eq(group))
            .filter(policies::supersedes.eq(id)),
    ))
    .get_result(conn)
    .await?;
    if superseded {
        return Err(ApiError::conflict(
            "conflict",
            "this version was already superseded: supersede the newest one",
        ));
    }
    Ok(old)
}

/// What is wrong with starting the new version on `valid_from`: it must come after the old
/// version's start and after the last order the old one priced.
async fn start_errors(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    old: &PolicyRow,
    valid_from: NaiveDate,
) -> Result<Vec<FieldError>, ApiError> {
    let mut errors = Vec::new();
    if valid_from <= old.valid_from {
        errors.push(FieldError::new(
            "valid_from",
            "must be after the superseded version's valid_from",
        ));
    }
    if let Some(last) = super::policies::last_priced(conn, group, old.id).await? {
        if valid_from <= last {
            errors.push(FieldError::new(
                "valid_from",
                format!("must be after {last}, the last order this version priced"),
            ));
        }
    }
    Ok(errors)
}

/// Ends `old` (of `group`) the day before `valid_from` and starts its successor then with
/// `terms` (method, percent, range, target), for the rest of the old version's validity.
async fn start_version(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    old: &PolicyRow,
    (method, percent_value, range, target): (Method, Decimal, MarkupRange, Option<Decimal>),
    valid_from: NaiveDate,
) -> Result<PolicyRow, ApiError> {
    // Only `valid_to` changes on the old version: allowed even when it priced lines.
    let ends = valid_from - TimeDelta::days(1);
    diesel::update(
        policies::table
            .find(old.id)
            .filter(policies::group_id.eq(group)),
    )
    .set((
        policies::valid_to.eq(Some(ends)),
        policies::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    let row: PolicyRow = diesel::insert_into(policies::table)
        .values((
            policies::group_id.eq(group),
            policies::seller_company_id.eq(old.seller_company_id),
            policies::buyer_company_id.eq(old.buyer_company_id),
            policies::category_id.eq(old.category_id),
            policies::method.eq(method.as_str()),
            policies::percent.eq(percent_value),
            policies::min_markup_percent.eq(range.min),
            policies::max_markup_percent.eq(range.max),
            policies::target_markup_percent.eq(target),
            policies::valid_from.eq(valid_from),
            policies::valid_to.eq(old.valid_to),
            policies::supersedes.eq(Some(old.id)),
        ))
        .returning(PolicyRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(row)
}

/// Supersede a policy (admin, finance): the new version starts on `valid_from` with the terms
/// given (the others as before) and the old one ends the day before; the new one names the old
/// in `supersedes`. `valid_from` must come after the old version's start and after the last
/// order it priced. A version is superseded once.
#[utoipa::path(
    tag = "intercompany", params(crate::idempotency::OptionalKeyParam, ("id" = Uuid, Path)),
    request_body = PolicySupersede, security(("bearer" = ["admin", "finance"])),
    responses(
        (status = 201, body = PolicyView),
        (status = 404, description = "No such policy in your group"),
        (
            status = 409,
            description = "Already superseded, overlaps another policy, or request_in_progress"
        ),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/transfer-pricing-policies/{id}/supersede")]
pub async fn supersede(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    request: Keyed<PolicySupersede>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (next, once) = request.parse_at("POST /transfer-pricing-policies/{id}/supersede", &id)?;
    let terms = PatchedTerms::of(
        next.percent.as_ref(),
        &next.min_markup_percent,
        &next.max_markup_percent,
        &next.target_markup_percent,
    );
    let user = &caller.user;
    let group = user.group_id;
    let mut conn = state.pool.get().await?;
    let changes = &state.changes;
    once.run(&mut conn, user.id, async move |conn| {
        let view = write::by(user, group)
            .run(conn, changes, async move |conn| {
                let old = lock_newest(conn, group, id).await?;
                let mut errors = start_errors(conn, group, &old, next.valid_from).await?;
                let method = next.method.unwrap_or(old.method()?);
                let (percent_value, range, target) = terms.applied_to(&old);
                check_terms(
                    method,
                    percent_value,
                    range,
                    target,
                    next.valid_from,
                    old.valid_to,
                    &mut errors,
                );
                if !errors.is_empty() {
                    return Err(ApiError::invalid(errors));
                }
                let terms = (method, percent_value, range, target);
                let row = start_version(conn, group, &old, terms, next.valid_from).await?;
                let view = row.view()?;
                let change = Change::new(
                    "transfer_pricing_policy.superseded",
                    "transfer_pricing_policy",
                    view.id,
                )
                .before(&old.view()?)
                .after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}
