//! Identity endpoints: login, `/me` and companies. Handlers are thin: extract, validate into
//! domain values, call the queries inside one transaction with its audit event.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::auth::{Admin, Authorized, CurrentUser};
use super::dto::*;
use super::queries::{self, CompanyRow};
use super::throttle;
use crate::audit::Change;
use crate::body::Body;
use crate::changes::Changed;
use crate::db::schema::companies;
use crate::domain::calendar::BusinessZone;
use crate::domain::codes::{CountryCode, CurrencyCode, SicCode};
use crate::domain::money;
use crate::error::{ApiError, FieldError};
use crate::fields::{Name, Percent};
use crate::idempotency::Keyed;
use crate::ids::GroupId;
use crate::pagination::Page;
use crate::payroll::OfferColumns;
use crate::state::AppState;
use crate::validation;
use crate::write;

/// The columns a company PATCH sets; `None` leaves a column as it is.
#[derive(AsChangeset)]
#[diesel(table_name = companies)]
struct CompanyChanges<'a> {
    code: Option<&'a str>,
    name: Option<&'a str>,
    parent_id: Option<Uuid>,
    currency: Option<&'a str>,
    country: Option<&'a str>,
    benefit_tax_rule: Option<BenefitTaxRule>,
    qualified_discount_gp_percent: Option<Option<Decimal>>,
    line_of_business: Option<Option<&'a str>>,
    time_zone: Option<&'a str>,
}

/// Sign in with email and password; returns a short-lived bearer token.
#[utoipa::path(
    tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong email or password (one body for both)"),
        (status = 429, description = "Too many failures for this account or address"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    keys: web::Data<super::Keys>,
    req: HttpRequest,
    body: Body<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let LoginRequest { email, password } = body.into_inner()?;
    // Bounded like every text input (the document states both limits).
    let mut errors = Vec::new();
    if email.chars().count() > 254 {
        errors.push(FieldError::new("email", "must be at most 254 characters"));
    }
    if password.length() > 1024 {
        errors.push(FieldError::new(
            "password",
            "must be at most 1024 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let settings = &state.settings.login_throttle;
    let client = crate::http::client_ip(&req)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into());
    let attempt = throttle::Attempt::new(&email, &client);
    let mut conn = state.pool.get().await?;
    if let Some(retry_after_secs) = throttle::blocked_for(&mut conn, settings, &attempt).await? {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    if let Some(retry_after_secs) = throttle::pace(&mut conn, settings, &attempt).await? {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let found = queries::credentials(&mut conn, &email).await?;
    // Unknown emails are verified against a dummy hash so both failures cost the same.
    let hash = found.as_ref().map(|c| c.password_hash.clone());
    let verified = keys.passwords.verify(&password, hash).await?;
    match found {
        Some(credentials) if verified && credentials.active => {
            throttle::clear(&mut conn, &attempt).await?;
            let token = keys
                .tokens
                .issue(credentials.id.into(), credentials.credential_version)
                .map_err(ApiError::Internal)?;
            Ok(web::Json(TokenResponse {
                access_token: token,
                token_type: "Bearer",
                expires_in: keys.tokens.ttl.as_secs(),
            }))
        }
        _ => {
            throttle::record_failure(&mut conn, settings, &attempt).await?;
            Err(ApiError::Unauthorized)
        }
    }
}

/// The signed-in employee with their allowance for the current year.
#[utoipa::path(
    tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = MeView))
)]
#[get("/me")]
#[tracing::instrument(skip_all, fields(employee_id = %user.id))]
pub async fn me(
    user: CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MeView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let (cap, code) = (
        user.tier_allowance,
        queries::group_currency(&mut conn, user.group_id).await?,
    );
    let year = chrono::Datelike::year(&state.clock.today());
    let used = crate::ledger::allowance_used(&mut conn, user.id, year).await?;
    Ok(web::Json(MeView {
        id: user.id.into(),
        email: user.email.clone(),
        full_name: user.full_name.clone(),
        company_id: user.company_id.into(),
        roles: user.roles.clone(),
        employment_type: user.employment_type,
        client_type: user.client_type,
        tier_id: user.tier_id,
        allowance: AllowanceView {
            year,
            currency: code.to_string(),
            cap: cap.map(|c| money::format(c, code)),
            used: money::format(used, code),
            remaining: cap.map(|c| money::format(c.saturating_sub(used).max(Decimal::ZERO), code)),
        },
    }))
}

// ---------------------------------------------------------------------------------------------
// Companies

fn check_tax_rule(
    rule: BenefitTaxRule,
    gp: Option<Decimal>,
    currency: &str,
    errors: &mut Vec<FieldError>,
) {
    if rule == BenefitTaxRule::UsIrc132 && gp.is_none() {
        errors.push(FieldError::new(
            "qualified_discount_gp_percent",
            "is required when benefit_tax_rule is us_irc_132",
        ));
    }
    // Germany's allowance and Spain's ceiling are amounts in euros: the rules read the
    // employer's payroll currency as euros.
    if matches!(
        rule,
        BenefitTaxRule::DeEstg83 | BenefitTaxRule::EsLirpfOrdinary
    ) && currency != "EUR"
    {
        errors.push(FieldError::new(
            "benefit_tax_rule",
            "de_estg_8_3 and es_lirpf_ordinary are for companies whose currency is EUR",
        ));
    }
}

/// List the companies of the caller's group, ordered by code.
#[utoipa::path(
    tag = "identity", params(CompanyListQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<CompanyView>))
)]
#[get("/companies")]
pub async fn list_companies(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: crate::json::Query<CompanyListQuery>,
) -> Result<web::Json<Page<CompanyView>>, ApiError> {
    let page = query.page::<String>()?;
    let mut sql = companies::table
        .filter(companies::group_id.eq(user.group_id))
        .select(CompanyRow::as_select())
        .order(companies::code.asc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(group) = query.group_id {
        sql = sql.filter(companies::group_id.eq(group));
    }
    if let Some(after) = &page.after {
        sql = sql.filter(companies::code.gt(after));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = rows.into_iter().map(CompanyView::from).collect();
    Ok(web::Json(page.of(views, |c: &CompanyView| c.code.clone())))
}

/// One company of the caller's group (another group's is a 404).
#[utoipa::path(
    tag = "identity", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CompanyView))
)]
#[get("/companies/{id}")]
pub async fn get_company(
    user: CurrentUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<web::Json<CompanyView>, ApiError> {
    let mut conn = state.pool.get().await?;
    let row = queries::find_company(&mut conn, user.group_id, *id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(web::Json(row.into()))
}

/// Create a company (admin) under a parent of the caller's group.
#[utoipa::path(
    tag = "identity", params(crate::idempotency::OptionalKeyParam), request_body = NewCompany,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, body = CompanyView),
        (status = 409, description = "Code taken in this group, or request_in_progress"),
        (
            status = 422,
            description = "Invalid fields, a parent that is not a company of the caller's group, \
                or idempotency_key_reused"
        )
    )
)]
#[post("/companies")]
pub async fn create_company(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    request: Keyed<NewCompany>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /companies")?;
    let mut errors = Vec::new();
    let gp = new
        .qualified_discount_gp_percent
        .as_ref()
        .map(Percent::value);
    let rule = new.benefit_tax_rule.unwrap_or(BenefitTaxRule::None);
    check_tax_rule(rule, gp, new.currency.as_str(), &mut errors);
    let payroll = new
        .payroll_deduction
        .as_ref()
        .and_then(|offer| offer.parse("payroll_deduction", &mut errors))
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let mut conn = state.pool.get().await?;
    let placement = Placement::Under {
        group: admin.group_id,
        parent: new.parent_id,
    };
    let draft = CompanyDraft {
        code: new.code.into(),
        name: new.name.into(),
        currency: new.currency,
        country: new.country,
        benefit_tax_rule: rule,
        qualified_discount_gp_percent: gp,
        line_of_business: new.line_of_business,
        payroll,
    };
    once.run(&mut conn, admin.id, async move |conn| {
        let view = insert_company(conn, Some(&admin), placement, draft)
            .await
            .map_err(|e| {
                e.explain_conflict(
                    "code",
                    "another company of this group already uses this code",
                )
            })?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// Where a new company goes.
pub enum Placement {
    /// Under `parent`, which must be a company of `group`.
    Under { group: GroupId, parent: Uuid },
    /// At the root of a new group: only `bootstrap` creates groups.
    NewGroup,
}

/// A validated company, about to be inserted.
pub struct CompanyDraft {
    pub code: String,
    pub name: String,
    pub currency: CurrencyCode,
    pub country: CountryCode,
    pub benefit_tax_rule: BenefitTaxRule,
    pub qualified_discount_gp_percent: Option<Decimal>,
    pub line_of_business: Option<SicCode>,
    /// The offer to deduct orders from wages (none: all unset).
    pub payroll: OfferColumns,
}

/// Inserts a validated company with its audit event; shared with `bootstrap`.
pub async fn insert_company(
    conn: &mut AsyncPgConnection,
    actor: Option<&CurrentUser>,
    placement: Placement,
    draft: CompanyDraft,
) -> Result<CompanyView, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        queries::lock_company_tree(conn).await?;
        let id = crate::ids::fresh();
        let (group_id, parent_id) = match placement {
            Placement::Under { group, parent } => {
                if !queries::company_in_group(conn, group, parent).await? {
                    return Err(ApiError::invalid_field(
                        "parent_id",
                        "no company with this id in your group",
                    ));
                }
                (group, Some(parent))
            }
            // A new group's id is its root company's.
            Placement::NewGroup => (GroupId::from(id), None),
        };
        let row: CompanyRow = diesel::insert_into(companies::table)
            .values((
                companies::id.eq(id),
                companies::code.eq(&draft.code),
                companies::name.eq(validation::stored_line(&draft.name)),
                companies::parent_id.eq(parent_id),
                companies::group_id.eq(group_id),
                companies::currency.eq(draft.currency),
                companies::country.eq(draft.country.as_str()),
                companies::benefit_tax_rule.eq(draft.benefit_tax_rule.as_str()),
                companies::qualified_discount_gp_percent.eq(draft.qualified_discount_gp_percent),
                companies::line_of_business
                    .eq(draft.line_of_business.as_ref().map(SicCode::as_str)),
                draft.payroll,
            ))
            .returning(CompanyRow::as_returning())
            .get_result(conn)
            .await?;
        let view = CompanyView::from(row);
        write::by_actor(actor, group_id)
            .record(
                conn,
                Change::new("company.created", "company", id).after(&view),
            )
            .await?;
        Ok(view)
    })
    .await
}

/// The patch's own fields hold (422 naming each one at fault); answers the payroll offer's
/// columns and the parsed gross-profit percentage.
fn check_company_patch(
    patch: &CompanyPatch,
) -> Result<(OfferColumns, Option<Option<Decimal>>), ApiError> {
    let mut errors = Vec::new();
    let payroll = patch
        .payroll_deduction
        .as_ref()
        .and_then(|offer| offer.parse("payroll_deduction", &mut errors))
        .unwrap_or_default();
    if let Some(None) = patch.parent_id {
        errors.push(FieldError::new(
            "parent_id",
            "a company cannot become a root: a new group comes only from bootstrap",
        ));
    }
    let gp = patch
        .qualified_discount_gp_percent
        .as_ref()
        .map(|gp| gp.as_ref().map(Percent::value));
    if errors.is_empty() {
        Ok((payroll, gp))
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// A new time zone: only the root's, one the database knows (else the field error), and not
/// once a month is closed (409).
async fn check_time_zone(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    before: &CompanyRow,
    zone: BusinessZone,
) -> Result<Option<FieldError>, ApiError> {
    let zone = zone.name();
    if before.parent_id.is_some() {
        return Ok(Some(FieldError::new(
            "time_zone",
            "is the group's: set it on the root company",
        )));
    } else if !queries::database_knows_zone(conn, zone).await? {
        return Ok(Some(FieldError::new(
            "time_zone",
            "is not a time zone this database knows",
        )));
    } else if zone != before.time_zone && queries::group_has_closed_month(conn, group).await? {
        // Moving the calendar would move sales across a frozen month's edge.
        return Err(ApiError::conflict(
            "conflict",
            "time_zone: a month of this group is closed; its calendar stays",
        ));
    }
    Ok(None)
}

/// A change of currency once amounts are recorded in it is a 409; a new parent must be of
/// the group and not the company or one of its descendants (422).
async fn check_move(
    conn: &mut AsyncPgConnection,
    (group, id): (GroupId, Uuid),
    before: &CompanyRow,
    patch: &CompanyPatch,
) -> Result<(), ApiError> {
    let new_currency = patch.currency.filter(|c| c.as_str() != before.currency);
    if new_currency.is_some() && queries::company_has_trade(conn, id).await? {
        return Err(ApiError::conflict(
            "conflict",
            "currency: amounts are already recorded in this company's currency \
             (its products or orders, its employees' pay, or orders by its group's employees)",
        ));
    }
    if let Some(Some(new_parent)) = patch.parent_id {
        if !queries::company_in_group(conn, group, new_parent).await? {
            return Err(ApiError::invalid_field(
                "parent_id",
                "no company with this id in your group",
            ));
        }
        if queries::subtree(conn, id).await?.contains(&new_parent) {
            return Err(ApiError::invalid_field(
                "parent_id",
                "would make a cycle: the parent is the company itself or one of its descendants",
            ));
        }
    }
    Ok(())
}

/// Change a company of the caller's group (admin). Moving it under another parent of the
/// group moves its subtree with it; a parent outside the group, null, or a cycle is a 422.
#[utoipa::path(
    tag = "identity", params(("id" = Uuid, Path)), request_body = CompanyPatch,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, body = CompanyView),
        (
            status = 409,
            description = "Code taken, a currency change after amounts were recorded in it, or a \
                time_zone change once a month is closed"
        ),
        (
            status = 422,
            description = "Invalid fields, a parent outside the caller's group, or a cycle"
        )
    )
)]
#[patch("/companies/{id}")]
pub async fn update_company(
    admin: Authorized<Admin>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Body<CompanyPatch>,
) -> Result<web::Json<CompanyView>, ApiError> {
    let id = id.into_inner();
    let patch = body.into_inner()?;
    let (payroll, gp) = check_company_patch(&patch)?;
    let mut conn = state.pool.get().await?;
    let admin = &admin.user;
    let group = admin.group_id;
    let view = write::by(admin, group)
        .conflict(
            "code",
            "another company of this group already uses this code",
        )
        .publishes(Changed::Definitions)
        .run(&mut conn, &state.changes, async move |conn| {
            queries::lock_company_tree(conn).await?;
            let before = queries::find_company(conn, group, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let rule = match patch.benefit_tax_rule {
                Some(rule) => rule,
                None => before.benefit_tax_rule,
            };
            let new_gp = gp.unwrap_or(before.qualified_discount_gp_percent);
            let mut errors = Vec::new();
            if let Some(zone) = patch.time_zone {
                errors.extend(check_time_zone(conn, group, &before, zone).await?);
            }
            let currency = patch
                .currency
                .map_or(before.currency.as_str(), |c| c.as_str());
            check_tax_rule(rule, new_gp, currency, &mut errors);
            if !errors.is_empty() {
                return Err(ApiError::invalid(errors));
            }
            check_move(conn, (group, id), &before, &patch).await?;
            // Same group, so a new parent leaves the subtree's group as it is.
            let changes = CompanyChanges {
                code: patch.code.as_deref(),
                name: patch.name.as_ref().map(Name::stored),
                parent_id: patch.parent_id.flatten(),
                currency: patch.currency.map(|c| c.as_str()),
                country: patch.country.as_ref().map(CountryCode::as_str),
                benefit_tax_rule: patch.benefit_tax_rule,
                qualified_discount_gp_percent: gp,
                line_of_business: patch
                    .line_of_business
                    .as_ref()
                    .map(|code| code.as_ref().map(SicCode::as_str)),
                time_zone: patch.time_zone.map(BusinessZone::name),
            };
            let row: CompanyRow = diesel::update(
                companies::table
                    .find(id)
                    .filter(companies::group_id.eq(group)),
            )
            .set((changes, payroll, companies::updated_at.eq(diesel::dsl::now)))
            .returning(CompanyRow::as_returning())
            .get_result(conn)
            .await?;
            let view = CompanyView::from(row);
            let change = Change::new("company.updated", "company", id)
                .before(&CompanyView::from(before))
                .after(&view);
            Ok((view, change))
        })
        .await?;
    Ok(web::Json(view))
}
