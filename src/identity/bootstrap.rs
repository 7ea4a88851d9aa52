//! `internal-store bootstrap`: a new group (its root company) and its first admin. The only
//! way to create a group; one database may hold several, each a sealed tenant.

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use uuid::Uuid;

use super::auth::Role;
use super::dto::{BenefitTaxRule, ClientType, EmploymentType, NewEmployee};
use super::employees::insert_employee;
use super::handlers::{insert_company, CompanyDraft, Placement};
use super::password::{PasswordHasher, Secret};
use super::queries;
use crate::cli::BootstrapArgs;
use crate::config::Settings;
use crate::db;
use crate::db::schema::companies;
use crate::domain::codes::{CountryCode, CurrencyCode};
use crate::error::ApiError;
use crate::fields::{Email, Name};
use crate::ids::GroupId;

#[derive(Debug, Serialize)]
pub struct Bootstrapped {
    pub company_id: Uuid,
    pub admin_id: Uuid,
}

pub async fn run(settings: &Settings, mut args: BootstrapArgs) -> anyhow::Result<Bootstrapped> {
    let admin = FirstAdmin {
        currency: CurrencyCode::parse(&args.currency)
            .ok_or_else(|| anyhow::anyhow!("--currency must be an ISO 4217 code such as USD"))?,
        country: CountryCode::parse(&args.country).ok_or_else(|| {
            anyhow::anyhow!("--country must be an ISO 3166-1 alpha-2 code such as US")
        })?,
        email: Email::parse(std::mem::take(&mut args.admin_email))
            .map_err(|e| anyhow::anyhow!("--admin-email {e}"))?,
        full_name: Name::parse(std::mem::take(&mut args.admin_name))
            .map_err(|e| anyhow::anyhow!("--admin-name {e}"))?,
    };
    let password = Secret::new(std::mem::take(&mut args.admin_password));
    password
        .validate_new("--admin-password")
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    let located = db::locate(settings.database_url.as_deref()).await?;
    db::migrate(&located.url).await?;
    let hash = PasswordHasher::new(1)
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = db::connect(&located.url).await?;
    let outcome = conn
        .transaction::<_, ApiError, _>(async move |conn| {
            create(conn, args, admin, password, &hash).await
        })
        .await;
    outcome.map_err(|e| match e {
        ApiError::Internal(cause) => cause,
        other => anyhow::anyhow!("{}", other.to_problem().detail),
    })
}

/// The group's codes and its first admin as parsed from the command line.
struct FirstAdmin {
    currency: CurrencyCode,
    country: CountryCode,
    email: Email,
    full_name: Name,
}

/// Creates the group's root company and its first admin, unless a group has the code already
/// (409, nothing changed).
async fn create(
    conn: &mut AsyncPgConnection,
    args: BootstrapArgs,
    admin: FirstAdmin,
    password: Secret,
    hash: &str,
) -> Result<Bootstrapped, ApiError> {
    queries::lock_company_tree(conn).await?;
    let taken: i64 = companies::table
        .filter(companies::parent_id.is_null())
        .filter(companies::code.eq(&args.group_code))
        .count()
        .get_result(conn)
        .await?;
    if taken > 0 {
        return Err(ApiError::conflict(
            "conflict",
            format!(
                "a group with the code {} already exists; nothing was changed",
                args.group_code
            ),
        ));
    }
    let company = insert_company(
        conn,
        None,
        Placement::NewGroup,
        CompanyDraft {
            code: args.group_code,
            name: args.group_name,
            currency: admin.currency,
            country: admin.country,
            benefit_tax_rule: BenefitTaxRule::None,
            qualified_discount_gp_percent: None,
            line_of_business: None,
            payroll: Default::default(),
        },
    )
    .await?;
    let admin = insert_employee(
        conn,
        // The root company's id is the group's.
        GroupId::from(company.id),
        None,
        &NewEmployee {
            email: admin.email,
            full_name: admin.full_name,
            company_id: company.id,
            employment_type: EmploymentType::Direct,
            client_type: ClientType::Operational,
            tier_id: None,
            roles: None,
            active: Some(true),
            highly_compensated: None,
            hired_on: None,
            pay_per_period: None,
            password,
        },
        &[Role::Employee, Role::Admin],
        hash,
    )
    .await?;
    Ok(Bootstrapped {
        company_id: company.id,
        admin_id: admin.id,
    })
}
