//! Database work for companies and employees: plain async functions over a connection.
//! Changes to the company tree take one advisory lock so that two concurrent re-parentings
//! cannot build a cycle between them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::auth::Role;
use super::dto::{CompanyView, EmployeeView};
use crate::db::schema::{companies, discount_tiers, employees};
use crate::domain::kinds::{BenefitTaxRule, ClientType, EmploymentType};
use crate::ids::{CompanyId, GroupId};

const COMPANY_TREE_LOCK: i64 = 0x0C0_1EE;
const ADMIN_SET_LOCK: i64 = 0x0AD_1111;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct CompanyRow {
    pub id: CompanyId,
    pub code: String,
    pub name: String,
    pub parent_id: Option<CompanyId>,
    pub group_id: GroupId,
    pub currency: String,
    pub country: String,
    pub benefit_tax_rule: BenefitTaxRule,
    pub qualified_discount_gp_percent: Option<Decimal>,
    pub line_of_business: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub time_zone: String,
    #[diesel(embed)]
    pub payroll: crate::payroll::OfferColumns,
}

impl From<CompanyRow> for CompanyView {
    fn from(row: CompanyRow) -> Self {
        Self {
            id: row.id.into(),
            code: row.code,
            name: row.name,
            parent_id: row.parent_id.map(Uuid::from),
            group_id: row.group_id.uuid(),
            currency: row.currency,
            country: row.country,
            benefit_tax_rule: row.benefit_tax_rule.to_string(),
            qualified_discount_gp_percent: row
                .qualified_discount_gp_percent
                .map(|d| d.normalize().to_string()),
            line_of_business: row.line_of_business,
            time_zone: row.time_zone,
            payroll_deduction: crate::payroll::PayrollDeduction::from_columns(row.payroll),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Whether PostgreSQL's zone database knows `name` (reports convert with `AT TIME ZONE`).
pub async fn database_knows_zone(
    conn: &mut diesel_async::AsyncPgConnection,
    name: &str,
) -> Result<bool, crate::error::ApiError> {
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        known: bool,
    }
    let known: Known = crate::db::statement::statement(
        "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1) AS known",
    )
    .bind::<diesel::sql_types::Text, _>(name)
    .get_result(conn)
    .await?;
    Ok(known.known)
}

/// Whether any month of `group` is closed.
pub async fn group_has_closed_month(
    conn: &mut diesel_async::AsyncPgConnection,
    group: GroupId,
) -> Result<bool, crate::error::ApiError> {
    use crate::db::schema::closed_periods;
    Ok(diesel::select(diesel::dsl::exists(
        closed_periods::table.filter(closed_periods::group_id.eq(group)),
    ))
    .get_result(conn)
    .await?)
}

/// The group's business time zone (its root company's); UTC when the name is unknown.
pub async fn group_zone(
    conn: &mut diesel_async::AsyncPgConnection,
    group: GroupId,
) -> Result<crate::domain::calendar::BusinessZone, crate::error::ApiError> {
    let name: String = companies::table
        .find(group)
        .select(companies::time_zone)
        .first(conn)
        .await?;
    Ok(crate::domain::calendar::BusinessZone::parse(&name).unwrap_or_default())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = employees)]
pub struct EmployeeRow {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub company_id: Uuid,
    pub employment_type: EmploymentType,
    pub client_type: ClientType,
    pub tier_id: Option<Uuid>,
    pub roles: Vec<Option<String>>,
    pub active: bool,
    pub highly_compensated: bool,
    pub former: Option<crate::domain::kinds::Former>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub hired_on: Option<chrono::NaiveDate>,
    pub pay_per_period: Option<Decimal>,
}

impl From<EmployeeRow> for EmployeeView {
    fn from(row: EmployeeRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            full_name: row.full_name,
            company_id: row.company_id,
            employment_type: row.employment_type,
            client_type: row.client_type,
            tier_id: row.tier_id,
            roles: row
                .roles
                .iter()
                .flatten()
                .filter_map(|r| Role::parse(r))
                .collect(),
            active: row.active,
            highly_compensated: row.highly_compensated,
            former: row.former,
            hired_on: row.hired_on,
            pay_per_period: row.pay_per_period.map(|pay| pay.to_string()),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn roles_column(roles: &[Role]) -> Vec<Option<String>> {
    let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|r| Some(r.to_owned())).collect()
}

pub async fn lock_company_tree(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({COMPANY_TREE_LOCK})"))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn lock_admin_set(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ADMIN_SET_LOCK})"))
        .execute(conn)
        .await
        .map(drop)
}

/// The company `id` of `group` (None for another group's company: it does not exist there).
pub async fn find_company(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> QueryResult<Option<CompanyRow>> {
    companies::table
        .find(id)
        .filter(companies::group_id.eq(group))
        .select(CompanyRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether `id` is a company of `group`.
pub async fn company_in_group(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        companies::table
            .find(id)
            .filter(companies::group_id.eq(group)),
    ))
    .get_result(conn)
    .await
}

#[derive(QueryableByName)]
struct SubtreeMember {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The company and all its descendants (all of one group: a parent is always in its child's
/// group).
pub async fn subtree(conn: &mut AsyncPgConnection, root: Uuid) -> QueryResult<Vec<Uuid>> {
    let rows: Vec<SubtreeMember> = diesel::sql_query(
        "WITH RECURSIVE subtree AS ( \
           SELECT id FROM companies WHERE id = $1 \
           UNION ALL SELECT c.id FROM companies c JOIN subtree s ON c.parent_id = s.id) \
         SELECT id FROM subtree",
    )
    .bind::<SqlUuid, _>(root)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Active admins of `group`: a group always keeps at least one.
pub async fn count_active_admins(conn: &mut AsyncPgConnection, group: GroupId) -> QueryResult<i64> {
    employees::table
        .filter(employees::group_id.eq(group))
        .filter(employees::active.eq(true))
        .filter(employees::roles.contains(vec![Some("admin".to_owned())]))
        .count()
        .get_result(conn)
        .await
}

/// The employee `id` of `group`.
pub async fn find_employee(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> QueryResult<Option<EmployeeRow>> {
    employees::table
        .find(id)
        .filter(employees::group_id.eq(group))
        .select(EmployeeRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// What a login attempt checks.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = employees)]
pub struct Credentials {
    pub id: Uuid,
    pub active: bool,
    pub password_hash: String,
    /// Goes into the token (see `token::Claims::ver`).
    pub credential_version: i32,
}

/// Credentials for a login attempt.
pub async fn credentials(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<Credentials>> {
    employees::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Text>("lower(email)")
                .eq(email.trim().to_lowercase()),
        )
        .select(Credentials::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether `id` is a discount tier of `group`.
pub async fn tier_in_group(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    id: Uuid,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        discount_tiers::table
            .find(id)
            .filter(discount_tiers::group_id.eq(group)),
    ))
    .get_result(conn)
    .await
}

/// The currency of a group (its root company's).
pub async fn group_currency(
    conn: &mut AsyncPgConnection,
    group_id: GroupId,
) -> QueryResult<crate::domain::codes::CurrencyCode> {
    company_currency(conn, group_id.uuid()).await
}

/// The currency of company `id`.
pub async fn company_currency(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<crate::domain::codes::CurrencyCode> {
    companies::table
        .find(id)
        .select(companies::currency)
        .first(conn)
        .await
}

#[derive(QueryableByName)]
struct Traded {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    traded: bool,
}

/// Whether amounts are already recorded in the company's currency: products it sells, orders
/// it sold, intercompany orders it is party to, the pay of its employees, or — for a group's
/// root, whose currency is the group currency of allowances — orders by the group's employees.
pub async fn company_has_trade(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<bool> {
    let row: Traded = crate::db::statement::statement(
        "SELECT EXISTS (SELECT 1 FROM products WHERE seller_company_id = $1) \
             OR EXISTS (SELECT 1 FROM orders WHERE seller_company_id = $1) \
             OR EXISTS (SELECT 1 FROM intercompany_orders \
                        WHERE buyer_company_id = $1 OR seller_company_id = $1) \
             OR EXISTS (SELECT 1 FROM employees \
                        WHERE company_id = $1 AND pay_per_period IS NOT NULL) \
             OR EXISTS (SELECT 1 FROM orders o \
                        JOIN employees e ON e.id = o.employee_id \
                        JOIN companies c ON c.id = e.company_id \
                        WHERE c.group_id = $1) AS traded",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .get_result(conn)
    .await?;
    Ok(row.traded)
}
