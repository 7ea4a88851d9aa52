//! Employee endpoints: list, read, create and change employees of the caller's group.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::auth::{Admin, AdminOrFinance, Authorized, CurrentUser, Role};
use super::dto::*;
use super::queries::{self, EmployeeRow};
use crate::audit::Change;
use crate::body::Body;
use crate::changes::Changed;
use crate::db::schema::employees;
use crate::domain::kinds::Former;
use crate::error::{ApiError, FieldError};
use crate::fields::Name;
use crate::idempotency::{self, Keyed};
use crate::identity::Keys;
use crate::ids::{EmployeeId, GroupId};
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

/// The columns an employee PATCH sets; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = employees)]
struct EmployeeChanges<'a> {
    email: Option<&'a str>,
    full_name: Option<&'a str>,
    company_id: Option<Uuid>,
    employment_type: Option<EmploymentType>,
    client_type: Option<ClientType>,
    tier_id: Option<Option<Uuid>>,
    roles: Option<Vec<Option<String>>>,
    active: Option<bool>,
    highly_compensated: Option<bool>,
    former: Option<Option<Former>>,
    hired_on: Option<Option<chrono::NaiveDate>>,
    pay_per_period: Option<Option<rust_decimal::Decimal>>,
    password_hash: Option<&'a str>,
}

fn valid_roles(roles: &[Role], errors: &mut Vec<FieldError>) {
    if roles.is_empty() {
        errors.push(FieldError::new("roles", "must hold at least one role"));
    }
}

/// Whether a patch changes nothing but `highly_compensated`, `hired_on` and `pay_per_period`
/// (what finance may change).
fn only_compensation(patch: &EmployeePatch) -> bool {
    let EmployeePatch {
        email,
        full_name,
        company_id,
        employment_type,
        client_type,
        tier_id,
        roles,
        active,
        highly_compensated: _,
        former,
        hired_on: _,
        pay_per_period: _,
        password,
    } = patch;
    email.is_none()
        && full_name.is_none()
        && company_id.is_none()
        && employment_type.is_none()
        && client_type.is_none()
        && tier_id.is_none()
        && roles.is_none()
        && active.is_none()
        && former.is_none()
        && password.is_none()
}

const EMAIL_TAKEN: &str = "another employee already uses this email (emails are case-insensitive)";

fn email_taken(error: ApiError) -> ApiError {
    error.explain_conflict("email", EMAIL_TAKEN)
}

/// List the employees of the caller's group (admin, finance), ordered by email.
#[utoipa::path(
    tag = "identity", params(EmployeeListQuery), security(("bearer" = ["admin", "finance"])),
    responses((status = 200, body = Page<EmployeeView>))
)]
#[get("/employees")]
pub async fn list_employees(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    query: crate::json::Query<EmployeeListQuery>,
) -> Result<web::Json<Page<EmployeeView>>, ApiError> {
    let page = query.page::<String>()?;
    let lower_email = diesel::dsl::sql::<diesel::sql_types::Text>("lower(employees.email)");
    let mut sql = employees::table
        .filter(employees::group_id.eq(caller.group_id))
        .select(EmployeeRow::as_select())
        .order(diesel::dsl::sql::<diesel::sql_types::Text>("lower(employees.email)").asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(company) = query.company_id {
        sql = sql.filter(employees::company_id.eq(company));
    }
    if let Some(active) = query.active {
        sql = sql.filter(employees::active.eq(active));
    }
    if let Some(after) = &page.after {
        sql = sql.filter(lower_email.gt(after.clone()));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = rows.into_iter().map(EmployeeView::from).collect();
    Ok(web::Json(
        page.of(views, |e: &EmployeeView| e.email.to_lowercase()),
    ))
}

/// One employee: admins and finance any of their group; an employee only themself (others
/// are 404).
#[utoipa::path(
    tag = "identity", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = EmployeeView))
)]
#[get("/employees/{id}")]
pub async fn get_employee(
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<EmployeeView>, ApiError> {
    let id = id.into_inner();
    if EmployeeId::from(id) != user.id && !user.has(Role::Admin) && !user.has(Role::Finance) {
        return Err(ApiError::NotFound);
    }
    let mut conn = state.pool.get().await?;
    let row = queries::find_employee(&mut conn, user.group_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(web::Json(row.into()))
}

/// Create an employee (admin). With `Idempotency-Key`, a retry replays the first answer; the
/// password is left out of the request's fingerprint (no fast hash of it is ever stored), so a
/// retry differing only in the password replays too.
#[utoipa::path(
    tag = "identity", request_body = NewEmployee, params(crate::idempotency::OptionalKeyParam),
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, body = EmployeeView),
        (status = 409, description = "Email taken (case-insensitive), or request_in_progress"),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/employees")]
pub async fn create_employee(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    keys: web::Data<Keys>,
    request: Keyed<NewEmployee>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse_by("POST /employees", |new| {
        idempotency::request_hash(&new.fingerprint())
    })?;
    let mut errors = Vec::new();
    let roles = new.roles.clone().unwrap_or_else(|| vec![Role::Employee]);
    valid_roles(&roles, &mut errors);
    if let Err(e) = new.password.validate_new("password") {
        errors.push(e);
    }
    if let Some(day) = new.hired_on {
        crate::payroll::terms::check_hired_on(day, &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let hash = keys.passwords.hash(&new.password).await?;
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    once.run(&mut conn, admin.id, async move |conn| {
        let view = insert_employee(conn, admin.group_id, Some(admin), &new, &roles, &hash)
            .await
            .map_err(email_taken)?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// Inserts a validated employee of `group` with its audit event; shared with `bootstrap`.
pub async fn insert_employee(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    actor: Option<&CurrentUser>,
    new: &NewEmployee,
    roles: &[Role],
    password_hash: &str,
) -> Result<EmployeeView, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        if !queries::company_in_group(conn, group, new.company_id).await? {
            return Err(ApiError::invalid_field(
                "company_id",
                "no company with this id in your group",
            ));
        }
        if let Some(tier) = new.tier_id {
            if !queries::tier_in_group(conn, group, tier).await? {
                return Err(ApiError::invalid_field(
                    "tier_id",
                    "no discount tier with this id in your group",
                ));
            }
        }
        let pay = match &new.pay_per_period {
            Some(raw) => Some(crate::payroll::terms::pay_in(conn, new.company_id, raw).await?),
            None => None,
        };
        let row: EmployeeRow = diesel::insert_into(employees::table)
            .values((
                employees::group_id.eq(group),
                employees::email.eq(new.email.as_str()),
                employees::full_name.eq(new.full_name.stored()),
                employees::company_id.eq(new.company_id),
                employees::employment_type.eq(new.employment_type.as_str()),
                employees::client_type.eq(new.client_type.as_str()),
                employees::tier_id.eq(new.tier_id),
                employees::roles.eq(queries::roles_column(roles)),
                employees::active.eq(new.active.unwrap_or(true)),
                employees::highly_compensated.eq(new.highly_compensated.unwrap_or(false)),
                employees::hired_on.eq(new.hired_on),
                employees::pay_per_period.eq(pay),
                employees::password_hash.eq(password_hash),
            ))
            .returning(EmployeeRow::as_returning())
            .get_result(conn)
            .await?;
        let view = EmployeeView::from(row);
        write::by_actor(actor, group)
            .record(
                conn,
                Change::new("employee.created", "employee", view.id).after(&view),
            )
            .await?;
        Ok(view)
    })
    .await
}

/// Change an employee (admin): profile, tier, roles, activation, password, and
/// `highly_compensated`, `hired_on` and `pay_per_period`, which finance may set too (any other
/// field from finance → 403). The
/// last active admin cannot be deactivated or demoted (409).
#[utoipa::path(
    tag = "identity", params(("id" = Uuid, Path)), request_body = EmployeePatch,
    security(("bearer" = ["admin", "finance"])),
    responses(
        (status = 200, body = EmployeeView),
        (
            status = 403,
            description = "Finance changing a field other than highly_compensated, hired_on or \
                pay_per_period"
        ),
        (status = 409, description = "Email taken, or last admin")
    )
)]
#[patch("/employees/{id}")]
pub async fn update_employee(
    admin: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    keys: web::Data<Keys>,
    id: web::Path<Uuid>,
    body: Body<EmployeePatch>,
) -> Result<web::Json<EmployeeView>, ApiError> {
    let id = id.into_inner();
    let patch = body.into_inner()?;
    if !admin.has(Role::Admin) && !only_compensation(&patch) {
        return Err(ApiError::Forbidden);
    }
    check_patch(&patch)?;
    let new_hash = match &patch.password {
        Some(password) => Some(keys.passwords.hash(password).await?),
        None => None,
    };
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let group = admin.group_id;
    let now = state.clock.now();
    let view = write::by(admin, group)
        .conflict("email", EMAIL_TAKEN)
        .publishes(Changed::Definitions)
        .run(&mut conn, &state.changes, async move |conn| {
            let touches_admins =
                patch.roles.is_some() || patch.active.is_some() || patch.former.is_some();
            if touches_admins {
                queries::lock_admin_set(conn).await?;
            }
            let before = queries::find_employee(conn, group, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            check_references(conn, group, &patch).await?;
            let roles = roles_after(&patch, before.former)?;
            let company = patch.company_id.unwrap_or(before.company_id);
            let pay = pay_after(conn, &patch, (&before, company)).await?;
            let changes = EmployeeChanges {
                email: patch.email.as_deref(),
                full_name: patch.full_name.as_ref().map(Name::stored),
                company_id: patch.company_id,
                employment_type: patch.employment_type,
                client_type: patch.client_type,
                tier_id: patch.tier_id,
                roles: roles.as_deref().map(queries::roles_column),
                active: patch.active,
                highly_compensated: patch.highly_compensated,
                former: patch.former,
                hired_on: patch.hired_on,
                pay_per_period: pay,
                password_hash: new_hash.as_deref(),
            };
            let row: EmployeeRow = diesel::update(
                employees::table
                    .find(id)
                    .filter(employees::group_id.eq(group)),
            )
            .set((changes, employees::updated_at.eq(diesel::dsl::now)))
            .returning(EmployeeRow::as_returning())
            .get_result(conn)
            .await?;
            if touches_admins && queries::count_active_admins(conn, group).await? == 0 {
                return Err(ApiError::conflict(
                    "conflict",
                    "the last active admin of a group cannot be deactivated or lose the admin role",
                ));
            }
            if before.active && !row.active {
                // Employment ends: what is still to be deducted falls due on the final pay.
                let today = admin.zone.today(now);
                crate::payroll::schedule::accelerate(conn, (group, id), Some(admin), today, now)
                    .await?;
            }
            let view = EmployeeView::from(row);
            let change = updated(&before, &view, new_hash.is_some());
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}

/// The pay per period to store, if it changes: an amount in the currency of `company`, where
/// the employee works after the patch. Pay is stored as a bare amount in the employer's
/// currency, so a move to a company paying in another currency must restate it (422 naming
/// `pay_per_period`): kept, 3 000 USD would silently become 3 000 EUR.
async fn pay_after(
    conn: &mut AsyncPgConnection,
    patch: &EmployeePatch,
    (before, company): (&EmployeeRow, Uuid),
) -> Result<Option<Option<rust_decimal::Decimal>>, ApiError> {
    Ok(match &patch.pay_per_period {
        Some(Some(raw)) => Some(Some(
            crate::payroll::terms::pay_in(conn, company, raw).await?,
        )),
        Some(None) => Some(None),
        None if before.pay_per_period.is_some() && company != before.company_id => {
            let was = queries::company_currency(conn, before.company_id).await?;
            let is = queries::company_currency(conn, company).await?;
            if was != is {
                return Err(ApiError::invalid_field(
                    "pay_per_period",
                    format!(
                        "must be restated in {is} (or set to null): the new company pays in \
                         {is}, the recorded pay is in {was}"
                    ),
                ));
            }
            None
        }
        None => None,
    })
}

/// The audit entry of an update: the employee before and after, and whether the password
/// changed (never the password or its hash).
fn updated(before: &EmployeeRow, after: &EmployeeView, password_changed: bool) -> Change<'static> {
    let mut change = Change::new("employee.updated", "employee", after.id)
        .before(&EmployeeView::from(before.clone()))
        .after(after);
    if password_changed {
        if let Some(after) = change.after.as_mut().and_then(|v| v.as_object_mut()) {
            after.insert("password_changed".into(), true.into());
        }
    }
    change
}

/// The patch's own fields hold (422 naming each one at fault).
fn check_patch(patch: &EmployeePatch) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(roles) = &patch.roles {
        valid_roles(roles, &mut errors);
    }
    if let Some(Err(e)) = patch.password.as_ref().map(|p| p.validate_new("password")) {
        errors.push(e);
    }
    if let Some(Some(day)) = patch.hired_on {
        crate::payroll::terms::check_hired_on(day, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// The company and tier the patch names are the group's (422 otherwise).
async fn check_references(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    patch: &EmployeePatch,
) -> Result<(), ApiError> {
    if let Some(company) = patch.company_id {
        if !queries::company_in_group(conn, group, company).await? {
            return Err(ApiError::invalid_field(
                "company_id",
                "no company with this id in your group",
            ));
        }
    }
    if let Some(Some(tier)) = patch.tier_id {
        if !queries::tier_in_group(conn, group, tier).await? {
            return Err(ApiError::invalid_field(
                "tier_id",
                "no discount tier with this id in your group",
            ));
        }
    }
    Ok(())
}

/// The roles to store, if they change: a former employee holds no role but `employee`, so
/// becoming one drops the others and asking a former one for more is a 422.
fn roles_after(
    patch: &EmployeePatch,
    former_before: Option<Former>,
) -> Result<Option<Vec<Role>>, ApiError> {
    let former = patch.former.unwrap_or(former_before);
    match (former, &patch.roles) {
        (Some(_), Some(roles)) if roles.as_slice() != [Role::Employee] => Err(
            ApiError::invalid_field("roles", "a former employee holds no role but employee"),
        ),
        (Some(_), _) if matches!(patch.former, Some(Some(_))) => Ok(Some(vec![Role::Employee])),
        (Some(_), None) => Ok(None),
        (_, roles) => Ok(roles.clone()),
    }
}
