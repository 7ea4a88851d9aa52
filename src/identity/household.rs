//! The signed-in employee's household (§5, IRC §132(h)): spouse, dependent children, a
//! surviving spouse. An order may be bought for one of them (`for_member_id`); it is priced
//! and limited as the employee's own and is the employee's benefit (§7). Removing a member
//! keeps the row (orders placed for them still name them); it only stops new orders.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::CurrentUser;
use crate::audit::Change;
use crate::db::schema::{employees, household_members};
use crate::domain::kinds::Relationship;
use crate::error::ApiError;
use crate::fields::Name;
use crate::idempotency::Keyed;
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::write;

/// How many current members one household may hold.
pub const MAX_MEMBERS: i64 = 20;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHouseholdMember {
    pub full_name: Name,
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = household_members)]
pub struct HouseholdMemberView {
    pub id: Uuid,
    pub full_name: String,
    pub relationship: Relationship,
    pub created_at: DateTime<Utc>,
}

/// The caller's current household members, oldest first (keyset pages, as every list).
#[utoipa::path(
    tag = "identity", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<HouseholdMemberView>))
)]
#[get("/me/household")]
pub async fn list_household(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: crate::json::Query<PageQuery>,
) -> Result<web::Json<Page<HouseholdMemberView>>, ApiError> {
    let page = query.page::<(DateTime<Utc>, Uuid)>()?;
    let mut sql = household_members::table
        .filter(household_members::group_id.eq(user.group_id))
        .filter(household_members::employee_id.eq(user.id))
        .filter(household_members::removed_at.is_null())
        .order((household_members::created_at, household_members::id))
        .select(HouseholdMemberView::as_select())
        .limit(page.fetch())
        .into_boxed();
    if let Some((at, id)) = page.after {
        sql = sql.filter(
            household_members::created_at
                .gt(at)
                .or(household_members::created_at
                    .eq(at)
                    .and(household_members::id.gt(id))),
        );
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    Ok(web::Json(page.of(rows, |m| (m.created_at, m.id))))
}

/// Add a member to the caller's household (at most 20 at a time → 409).
#[utoipa::path(
    tag = "identity", request_body = NewHouseholdMember,
    params(crate::idempotency::OptionalKeyParam), security(("bearer" = [])),
    responses(
        (status = 201, body = HouseholdMemberView),
        (
            status = 409,
            description = "The household already has 20 members, or request_in_progress"
        ),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/me/household")]
pub async fn add_household_member(
    user: CurrentUser,
    state: web::Data<AppState>,
    request: Keyed<NewHouseholdMember>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /me/household")?;
    let mut conn = state.pool.get().await?;
    let (group, employee) = (user.group_id, user.id);
    let (user, changes) = (&user, &state.changes);
    once.run(&mut conn, employee, async move |conn| {
        let view = write::by(user, group)
            .run(conn, changes, async move |conn| {
                // The employee's row orders concurrent additions, so the bound holds.
                employees::table
                    .find(employee)
                    .filter(employees::group_id.eq(group))
                    .select(employees::id)
                    .for_no_key_update()
                    .get_result::<Uuid>(conn)
                    .await?;
                let current: i64 = household_members::table
                    .filter(household_members::employee_id.eq(employee))
                    .filter(household_members::removed_at.is_null())
                    .count()
                    .get_result(conn)
                    .await?;
                if current >= MAX_MEMBERS {
                    return Err(ApiError::conflict(
                        "conflict",
                        format!("a household holds at most {MAX_MEMBERS} members"),
                    ));
                }
                let view: HouseholdMemberView = diesel::insert_into(household_members::table)
                    .values((
                        household_members::group_id.eq(group),
                        household_members::employee_id.eq(employee),
                        household_members::full_name.eq(new.full_name.stored()),
                        household_members::relationship.eq(new.relationship),
                    ))
                    .returning(HouseholdMemberView::as_returning())
                    .get_result(conn)
                    .await?;
                let change =
                    Change::new("household_member.added", "household_member", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// Remove a member of the caller's household: no new order may name them; orders placed for
/// them keep doing so. Another's member, or one already removed → 404.
#[utoipa::path(
    tag = "identity", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Removed"))
)]
#[delete("/me/household/{id}")]
pub async fn remove_household_member(
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.pool.get().await?;
    let (group, employee) = (user.group_id, user.id);
    let now = state.clock.now();
    write::by(&user, group)
        .run(&mut conn, &state.changes, async move |conn| {
            let view: HouseholdMemberView = diesel::update(
                household_members::table
                    .find(id)
                    .filter(household_members::group_id.eq(group))
                    .filter(household_members::employee_id.eq(employee))
                    .filter(household_members::removed_at.is_null()),
            )
            .set(household_members::removed_at.eq(now))
            .returning(HouseholdMemberView::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or(ApiError::NotFound)?;
            let change =
                Change::new("household_member.removed", "household_member", id).before(&view);
            Ok(((), change))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether `member` is a current member of `user`'s household.
pub async fn is_current_member(
    conn: &mut diesel_async::AsyncPgConnection,
    user: &CurrentUser,
    member: Uuid,
) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        household_members::table
            .find(member)
            .filter(household_members::group_id.eq(user.group_id))
            .filter(household_members::employee_id.eq(user.id))
            .filter(household_members::removed_at.is_null()),
    ))
    .get_result(conn)
    .await?)
}
