//! Transfer-pricing policy endpoints: admins and finance maintain them; purchasers read them.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Uuid as SqlUuid};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::dto::*;
use crate::audit::Change;
use crate::body::Body;
use crate::db::schema::{categories, companies, transfer_pricing_policies as policies};
use crate::db::statement::statement;
use crate::domain::transfer_pricing::{MarkupRange, Method, PolicyTerms};
use crate::error::{ApiError, FieldError};
use crate::fields::SignedPercent;
use crate::idempotency::Keyed;
use crate::identity::auth::{AdminOrFinance, Authorized, Trade};
use crate::ids::GroupId;
use crate::pagination::Page;
use crate::state::AppState;
use crate::write;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policies)]
pub struct PolicyRow {
    pub id: Uuid,
    pub seller_company_id: Uuid,
    pub buyer_company_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub method: String,
    pub percent: Decimal,
    pub min_markup_percent: Option<Decimal>,
    pub max_markup_percent: Option<Decimal>,
    pub target_markup_percent: Option<Decimal>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub supersedes: Option<Uuid>,
}

impl PolicyRow {
    pub fn method(&self) -> Result<Method, ApiError> {
        Method::parse(&self.method)
            .ok_or_else(|| ApiError::internal(format!("unknown method {}", self.method)))
    }

    pub fn terms(&self) -> Result<PolicyTerms, ApiError> {
        Ok(PolicyTerms {
            id: self.id,
            buyer_company_id: self.buyer_company_id,
            category_id: self.category_id,
            method: self.method()?,
            percent: self.percent,
            range: MarkupRange {
                min: self.min_markup_percent,
                max: self.max_markup_percent,
            },
            target_markup_percent: self.target_markup_percent,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        })
    }

    pub(super) fn view(self) -> Result<PolicyView, ApiError> {
        let text = |d: Decimal| d.normalize().to_string();
        Ok(PolicyView {
            id: self.id,
            seller_company_id: self.seller_company_id,
            buyer_company_id: self.buyer_company_id,
            category_id: self.category_id,
            method: self.method()?,
            percent: text(self.percent),
            min_markup_percent: self.min_markup_percent.map(text),
            max_markup_percent: self.max_markup_percent.map(text),
            target_markup_percent: self.target_markup_percent.map(text),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            created_at: self.created_at,
            updated_at: self.updated_at,
            supersedes: self.supersedes,
        })
    }
}

/// Checks the terms together (what the database's CHECKs would refuse, named by field).
pub(super) fn check_terms(
    method: Method,
    percent: Decimal,
    range: MarkupRange,
    target: Option<Decimal>,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    errors: &mut Vec<FieldError>,
) {
    match method {
        Method::ResaleMinus if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&percent) => {
            errors.push(FieldError::new("percent", "resale_minus takes 0–100"))
        }
        Method::CostPlus if percent < -Decimal::ONE_HUNDRED => {
            errors.push(FieldError::new("percent", "cost_plus takes at least -100"))
        }
        Method::ComparablePrice if percent < -Decimal::ONE_HUNDRED => errors.push(FieldError::new(
            "percent",
            "comparable_price takes at least -100",
        )),
        _ => {}
    }
    if let (Some(min), Some(max)) = (range.min, range.max) {
        if min > max {
            errors.push(FieldError::new(
                "max_markup_percent",
                "must not be below min_markup_percent",
            ));
        }
    }
    if let Some(target) = target {
        if !range.is_set() {
            errors.push(FieldError::new(
                "target_markup_percent",
                "needs an arm's-length range (min_markup_percent or max_markup_percent)",
            ));
        } else if range.excludes(Some(target)) {
            errors.push(FieldError::new(
                "target_markup_percent",
                "must lie inside the arm's-length range",
            ));
        }
    }
    if valid_to.is_some_and(|to| to < valid_from) {
        errors.push(FieldError::new("valid_to", "must not be before valid_from"));
    }
}

/// List the group's transfer-pricing policies (purchasers, finance, admins), newest first.
#[utoipa::path(
    tag = "intercompany", params(PolicyQuery),
    security(("bearer" = ["purchaser", "finance", "admin"])),
    responses((status = 200, body = Page<PolicyView>))
)]
#[get("/transfer-pricing-policies")]
pub async fn list_policies(
    user: Authorized<Trade>,
    state: web::Data<AppState>,
    query: crate::json::Query<PolicyQuery>,
) -> Result<web::Json<Page<PolicyView>>, ApiError> {
    let page = query.page::<(NaiveDate, Uuid)>()?;
    let mut sql = policies::table
        .filter(policies::group_id.eq(user.group_id))
        .select(PolicyRow::as_select())
        .order((policies::valid_from.desc(), policies::id.desc()))
        .limit(page.fetch())
        .into_boxed();
    if let Some(seller) = query.seller_company_id {
        sql = sql.filter(policies::seller_company_id.eq(seller));
    }
    if let Some((from, id)) = page.after {
        sql = sql.filter(
            policies::valid_from
                .lt(from)
                .or(policies::valid_from.eq(from).and(policies::id.lt(id))),
        );
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    let views = rows
        .into_iter()
        .map(PolicyRow::view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(
        page.of(views, |p: &PolicyView| (p.valid_from, p.id)),
    ))
}

/// Policy `id` of `group`, locked for a change of its terms or validity (404 when there is
/// none).
pub(super) async fn lock(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<PolicyRow, ApiError> {
    policies::table
        .find(id)
        .filter(policies::group_id.eq(group))
        .select(PolicyRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(ApiError::NotFound)
}

async fn company_in_group(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        companies::table
            .find(id)
            .filter(companies::group_id.eq(group)),
    ))
    .get_result(conn)
    .await?)
}

/// The new policy's percentages, once its terms hold together (422 naming each field at
/// fault).
fn parse_new(new: &NewPolicy) -> Result<(Decimal, MarkupRange, Option<Decimal>), ApiError> {
    let mut errors = Vec::new();
    let percent_value = new.percent.value();
    let range = MarkupRange {
        min: new.min_markup_percent.as_ref().map(SignedPercent::value),
        max: new.max_markup_percent.as_ref().map(SignedPercent::value),
    };
    let target = new.target_markup_percent.as_ref().map(SignedPercent::value);
    check_terms(
        new.method,
        percent_value,
        range,
        target,
        new.valid_from,
        new.valid_to,
        &mut errors,
    );
    Parties::of(new).check(&mut errors);
    if errors.is_empty() {
        Ok((percent_value, range, target))
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Whom a policy prices between, and what: its seller, its buyer (None: every buyer) and its
/// category (None: every category).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parties {
    seller: Uuid,
    buyer: Option<Uuid>,
    category: Option<Uuid>,
}

impl Parties {
    fn of(new: &NewPolicy) -> Self {
        Self {
            seller: new.seller_company_id,
            buyer: new.buyer_company_id,
            category: new.category_id,
        }
    }

    fn of_row(row: &PolicyRow) -> Self {
        Self {
            seller: row.seller_company_id,
            buyer: row.buyer_company_id,
            category: row.category_id,
        }
    }

    /// `before`'s parties with what `patch` names.
    fn patched(before: Self, patch: &PolicyPatch) -> Self {
        Self {
            seller: patch.seller_company_id.unwrap_or(before.seller),
            buyer: patch.buyer_company_id.unwrap_or(before.buyer),
            category: patch.category_id.unwrap_or(before.category),
        }
    }

    /// A policy prices between two companies: its buyer is not its seller.
    fn check(self, errors: &mut Vec<FieldError>) {
        if self.buyer == Some(self.seller) {
            errors.push(FieldError::new(
                "buyer_company_id",
                "must differ from seller_company_id",
            ));
        }
    }
}

/// The seller, buyer and category a policy names are the group's (422 otherwise).
async fn check_references(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    parties: Parties,
) -> Result<(), ApiError> {
    if !company_in_group(conn, group, parties.seller).await? {
        return Err(ApiError::invalid_field(
            "seller_company_id",
            "no company with this id in your group",
        ));
    }
    if let Some(buyer) = parties.buyer {
        if !company_in_group(conn, group, buyer).await? {
            return Err(ApiError::invalid_field(
                "buyer_company_id",
                "no company with this id in your group",
            ));
        }
    }
    if let Some(category) = parties.category {
        let known: bool = diesel::select(diesel::dsl::exists(
            categories::table
                .find(category)
                .filter(categories::group_id.eq(group)),
        ))
        .get_result(conn)
        .await?;
        if !known {
            return Err(ApiError::invalid_field(
                "category_id",
                "no category with this id in your group",
            ));
        }
    }
    Ok(())
}

/// Create a policy (admin, finance). Two policies of the same seller, buyer and category
/// whose validity overlaps → 409.
#[utoipa::path(
    tag = "intercompany", params(crate::idempotency::OptionalKeyParam), request_body = NewPolicy,
    security(("bearer" = ["admin", "finance"])),
    responses(
        (status = 201, body = PolicyView),
        (
            status = 409,
            description = "Overlaps another policy of the same specificity, or request_in_progress"
        ),
        (status = 422, description = "Invalid fields, or idempotency_key_reused")
    )
)]
#[post("/transfer-pricing-policies")]
pub async fn create_policy(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    request: Keyed<NewPolicy>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /transfer-pricing-policies")?;
    let (percent_value, range, target) = parse_new(&new)?;
    let user = &caller.user;
    let group = user.group_id;
    let mut conn = state.pool.get().await?;
    let changes = &state.changes;
    once.run(&mut conn, user.id, async move |conn| {
        let view = write::by(user, group)
            .run(conn, changes, async move |conn| {
                check_references(conn, group, Parties::of(&new)).await?;
                let row: PolicyRow = diesel::insert_into(policies::table)
                    .values((
                        policies::group_id.eq(group),
                        policies::seller_company_id.eq(new.seller_company_id),
                        policies::buyer_company_id.eq(new.buyer_company_id),
                        policies::category_id.eq(new.category_id),
                        policies::method.eq(new.method.as_str()),
                        policies::percent.eq(percent_value),
                        policies::min_markup_percent.eq(range.min),
                        policies::max_markup_percent.eq(range.max),
                        policies::target_markup_percent.eq(target),
                        policies::valid_from.eq(new.valid_from),
                        policies::valid_to.eq(new.valid_to),
                    ))
                    .returning(PolicyRow::as_returning())
                    .get_result(conn)
                    .await?;
                let view = row.view()?;
                let change = Change::new(
                    "transfer_pricing_policy.created",
                    "transfer_pricing_policy",
                    view.id,
                )
                .after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, crate::json::to_value(&view)?))
    })
    .await
}

/// The percentages a patch or a new version sets, parsed (`None`: unchanged; `Some(None)`:
/// cleared).
pub(super) struct PatchedTerms {
    pub percent: Option<Decimal>,
    pub min: Option<Option<Decimal>>,
    pub max: Option<Option<Decimal>>,
    pub target: Option<Option<Decimal>>,
}

impl PatchedTerms {
    /// The four fields' values: each given (`Some(Some)`), cleared (`Some(None)`) or left
    /// alone (`None`).
    pub fn of(
        percent: Option<&SignedPercent>,
        min: &Option<Option<SignedPercent>>,
        max: &Option<Option<SignedPercent>>,
        target: &Option<Option<SignedPercent>>,
    ) -> Self {
        let value = |field: &Option<Option<SignedPercent>>| {
            field
                .as_ref()
                .map(|inner| inner.as_ref().map(SignedPercent::value))
        };
        Self {
            percent: percent.map(SignedPercent::value),
            min: value(min),
            max: value(max),
            target: value(target),
        }
    }

    /// The terms after the change, over `before`'s.
    pub fn applied_to(&self, before: &PolicyRow) -> (Decimal, MarkupRange, Option<Decimal>) {
        (
            self.percent.unwrap_or(before.percent),
            MarkupRange {
                min: self.min.unwrap_or(before.min_markup_percent),
                max: self.max.unwrap_or(before.max_markup_percent),
            },
            self.target.unwrap_or(before.target_markup_percent),
        )
    }
}

/// A policy that priced a line keeps its terms (its lines say what they were priced with);
/// only its end may move, and never before the last order it priced (409 `policy_in_use`).
async fn check_in_use(
    conn: &mut AsyncPgConnection,
    (group, id): (GroupId, Uuid),
    before: &PolicyRow,
    patch: &PolicyPatch,
    terms: &PatchedTerms,
) -> Result<(), ApiError> {
    // A policy that priced a line keeps its terms (its lines say what they were priced
    // with); only its end may move, and never before the last order it priced.
    if let Some(last) = last_priced(conn, group, id).await? {
        let parties = Parties::of_row(before);
        let changes_terms = Parties::patched(parties, patch) != parties
            || patch
                .method
                .is_some_and(|m| Some(m) != before.method().ok())
            || terms.percent.is_some_and(|p| p != before.percent)
            || terms.min.is_some_and(|v| v != before.min_markup_percent)
            || terms.max.is_some_and(|v| v != before.max_markup_percent)
            || terms
                .target
                .is_some_and(|v| v != before.target_markup_percent)
            || patch.valid_from.is_some_and(|v| v != before.valid_from);
        if changes_terms {
            return Err(ApiError::conflict(
                "policy_in_use",
                "lines were priced with this policy: its terms never change; \
                 POST …/supersede starts a new version",
            ));
        }
        if patch.valid_to.flatten().is_some_and(|to| to < last) {
            return Err(ApiError::conflict(
                "policy_in_use",
                format!("valid_to: this policy priced an order dated {last}; it cannot end before"),
            ));
        }
    }
    Ok(())
}

/// Change a policy's parties, terms or validity (admin, finance). Once a line was priced with
/// it, only `valid_to` may change (not before the last priced order's date): a change of its
/// seller, buyer, category or terms → 409 `policy_in_use` (supersede it instead).
#[utoipa::path(
    tag = "intercompany", params(("id" = Uuid, Path)), request_body = PolicyPatch,
    security(("bearer" = ["admin", "finance"])),
    responses(
        (status = 200, body = PolicyView),
        (
            status = 409,
            description = "Overlaps another policy of the same specificity, or `policy_in_use`"
        ),
        (status = 422, description = "Invalid fields")
    )
)]
#[patch("/transfer-pricing-policies/{id}")]
pub async fn update_policy(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: Body<PolicyPatch>,
) -> Result<web::Json<PolicyView>, ApiError> {
    let id = id.into_inner();
    let patch = body.into_inner()?;
    let terms = PatchedTerms::of(
        patch.percent.as_ref(),
        &patch.min_markup_percent,
        &patch.max_markup_percent,
        &patch.target_markup_percent,
    );
    let user = &caller.user;
    let group = user.group_id;
    let mut conn = state.pool.get().await?;
    let view = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let before = lock(conn, group, id).await?;
            check_in_use(conn, (group, id), &before, &patch, &terms).await?;
            let parties = Parties::patched(Parties::of_row(&before), &patch);
            let method = patch.method.unwrap_or(before.method()?);
            let (percent_value, range, target) = terms.applied_to(&before);
            let valid_from = patch.valid_from.unwrap_or(before.valid_from);
            let valid_to = patch.valid_to.unwrap_or(before.valid_to);
            let mut errors = Vec::new();
            check_terms(
                method,
                percent_value,
                range,
                target,
                valid_from,
                valid_to,
                &mut errors,
            );
            parties.check(&mut errors);
            if !errors.is_empty() {
                return Err(ApiError::invalid(errors));
            }
            if parties != Parties::of_row(&before) {
                check_references(conn, group, parties).await?;
            }
            let row: PolicyRow = diesel::update(policies::table.find(id))
                .set((
                    policies::seller_company_id.eq(parties.seller),
                    policies::buyer_company_id.eq(parties.buyer),
                    policies::category_id.eq(parties.category),
                    policies::method.eq(method.as_str()),
                    policies::percent.eq(percent_value),
                    policies::min_markup_percent.eq(range.min),
                    policies::max_markup_percent.eq(range.max),
                    policies::target_markup_percent.eq(target),
                    policies::valid_from.eq(valid_from),
                    policies::valid_to.eq(valid_to),
                    policies::updated_at.eq(diesel::dsl::now),
                ))
                .returning(PolicyRow::as_returning())
                .get_result(conn)
                .await?;
            let view = row.view()?;
            let change = Change::new(
                "transfer_pricing_policy.updated",
                "transfer_pricing_policy",
                id,
            );
            write::by(user, group)
                .record(conn, change.before(&before.view()?).after(&view))
                .await?;
            Ok(view)
        })
        .await?;
    Ok(web::Json(view))
}

/// The date of the last order policy `id` of `group` priced a line of; None when it priced none.
pub async fn last_priced(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> Result<Option<NaiveDate>, ApiError> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
        day: Option<NaiveDate>,
    }
    let last: Last = statement(
        "SELECT max(o.order_date) AS day \
         FROM intercompany_order_lines l JOIN intercompany_orders o ON o.id = l.order_id \
         WHERE l.policy_id = $1 AND l.group_id = $2",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(group)
    .get_result(conn)
    .await?;
    Ok(last.day)
}
