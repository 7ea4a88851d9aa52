//! Authentication and authorization as extractors: a handler that takes `CurrentUser` needs a
//! valid token of an active employee; one that takes `Authorized<Admin>` also needs the role.
//! The employee is loaded on every request, so deactivation and role changes apply at once,
//! and the token's credential version must equal the employee's: a password change, a
//! deactivation or a removed role ends every token issued before it (§3).

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Numeric, Text};
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::statement::statement;
use crate::domain::calendar::BusinessZone;
use crate::domain::kinds::{ClientType, EmploymentType};
use crate::domain::pricing::TierTerms;
use crate::error::ApiError;
use crate::identity::token::Verified;
use crate::identity::Keys;
use crate::ids::{CompanyId, EmployeeId, GroupId};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Employee,
    Purchaser,
    Finance,
    Admin,
}

impl Role {
    pub const ALL: [Self; 4] = [Self::Employee, Self::Purchaser, Self::Finance, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Purchaser => "purchaser",
            Self::Finance => "finance",
            Self::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "employee" => Some(Self::Employee),
            "purchaser" => Some(Self::Purchaser),
            "finance" => Some(Self::Finance),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// The signed-in, active employee, as the database knows them right now.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: EmployeeId,
    pub email: String,
    pub full_name: String,
    pub company_id: CompanyId,
    pub group_id: GroupId,
    pub roles: Vec<Role>,
    pub employment_type: EmploymentType,
    pub client_type: ClientType,
    pub tier_id: Option<Uuid>,
    /// What the tier grants (loaded with the employee: pricing needs it on every catalog call).
    pub tier: Option<TierTerms>,
    /// The tier's annual allowance in the group currency (None: no tier, or unlimited).
    pub tier_allowance: Option<Decimal>,
    /// Moves on every password change, deactivation and role removal (a database trigger);
    /// a token is valid only for the version it was issued under.
    pub credential_version: i32,
    /// The group's time zone (its root company's): where the employee's business days begin.
    pub zone: BusinessZone,
    /// The request id, recorded with audit events.
    pub request_id: Option<String>,
}

impl crate::audit::Actor for CurrentUser {
    fn actor_id(&self) -> EmployeeId {
        self.id
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The columns of a signed-in employee, over `employees e`, their company `ec` and their
/// tier `dt` (see [`signed_in_from!`]); read into a [`UserRecord`].
#[macro_export]
macro_rules! user_columns {
    () => {
        "e.id AS employee_id, e.email, e.full_name, e.company_id, ec.group_id, e.roles, \
         e.employment_type, \
         e.client_type, e.tier_id, dt.discount_percent AS tier_discount_percent, \
         dt.eligible_employment_types AS tier_eligible, dt.annual_allowance AS tier_allowance, \
         e.credential_version, grp.time_zone AS group_time_zone"
    };
}

/// The tables [`user_columns!`] reads, for the active employee whose id is `$1`.
#[macro_export]
macro_rules! signed_in_from {
    () => {
        "employees e JOIN companies ec ON ec.id = e.company_id \
         JOIN companies grp ON grp.id = ec.group_id \
         LEFT JOIN discount_tiers dt ON dt.id = e.tier_id"
    };
}

/// A signed-in employee as the database has them (see [`user_columns!`]). Column names avoid
/// plain `id`, so the record can share a row with other tables' columns.
#[derive(QueryableByName)]
pub struct UserRecord {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    employee_id: EmployeeId,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    full_name: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    company_id: CompanyId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    group_id: GroupId,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    roles: Vec<Option<String>>,
    #[diesel(sql_type = Text)]
    employment_type: EmploymentType,
    #[diesel(sql_type = Text)]
    client_type: ClientType,
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    tier_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Numeric>)]
    tier_discount_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Array<Nullable<Text>>>)]
    tier_eligible: Option<Vec<Option<EmploymentType>>>,
    #[diesel(sql_type = Nullable<Numeric>)]
    tier_allowance: Option<Decimal>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    credential_version: i32,
    #[diesel(sql_type = Text)]
    group_time_zone: String,
}

impl UserRecord {
    pub fn into_user(self, request_id: Option<String>) -> CurrentUser {
        let tier = self
            .tier_discount_percent
            .map(|discount_percent| TierTerms {
                discount_percent,
                eligible_employment_types: self
                    .tier_eligible
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect(),
            });
        CurrentUser {
            id: self.employee_id,
            email: self.email,
            full_name: self.full_name,
            company_id: self.company_id,
            group_id: self.group_id,
            roles: self
                .roles
                .iter()
                .flatten()
                .filter_map(|r| Role::parse(r))
                .collect(),
            employment_type: self.employment_type,
            client_type: self.client_type,
            tier_id: self.tier_id,
            tier,
            tier_allowance: self.tier_allowance,
            credential_version: self.credential_version,
            zone: BusinessZone::parse(&self.group_time_zone).unwrap_or_default(),
            request_id,
        }
    }
}

async fn load(
    (state, keys): (&AppState, &Keys),
    token: Option<String>,
    request_id: Option<String>,
) -> Result<CurrentUser, ApiError> {
    let verified = verify(keys, token)?;
    let subject = Subject {
        id: verified.subject,
        version: verified.version,
        request_id,
    };
    load_active(state, &subject).await
}

/// The active employee `subject` names, if the token's credential version is still theirs;
/// otherwise 401.
pub async fn load_active(state: &AppState, subject: &Subject) -> Result<CurrentUser, ApiError> {
    let mut conn = state.pool.get().await?;
    let record: Option<UserRecord> = statement(concat!(
        "SELECT ",
        user_columns!(),
        " FROM ",
        signed_in_from!(),
        " WHERE e.id = $1 AND e.active"
    ))
    .bind::<diesel::sql_types::Uuid, _>(subject.id)
    .get_result(&mut conn)
    .await
    .optional()?;
    subject.admit(
        record
            .ok_or(ApiError::Unauthorized)?
            .into_user(subject.request_id.clone()),
    )
}

fn verify(keys: &Keys, token: Option<String>) -> Result<Verified, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    keys.tokens.verify(&token).ok_or(ApiError::Unauthorized)
}

/// The employee a valid token names, not yet checked against the database: for handlers that
/// load the employee in their own first statement (and answer 401 when it finds no active
/// employee), saving a round trip on hot paths.
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: EmployeeId,
    /// The credential version the token was issued under.
    pub version: i32,
    pub request_id: Option<String>,
}

impl Subject {
    /// `user` (the active employee loaded for this subject), unless the token predates their
    /// current credentials: then 401.
    pub fn admit<U: std::borrow::Borrow<CurrentUser>>(&self, user: U) -> Result<U, ApiError> {
        let current = user.borrow();
        if current.id == self.id && current.credential_version == self.version {
            Ok(user)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

impl FromRequest for Subject {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = req
            .app_data::<web::Data<Keys>>()
            .ok_or_else(|| ApiError::internal("identity keys missing"))
            .and_then(|keys| verify(keys, bearer(req)))
            .map(|verified| Self {
                id: verified.subject,
                version: verified.version,
                request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
            });
        std::future::ready(result)
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let keys = req.app_data::<web::Data<Keys>>().cloned();
        let token = bearer(req);
        let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
        Box::pin(async move {
            let (Some(state), Some(keys)) = (state, keys) else {
                return Err(ApiError::internal("application state missing"));
            };
            load((&state, &keys), token, request_id).await
        })
    }
}

/// A set of roles allowed to call an operation.
pub trait Policy {
    const ROLES: &'static [Role];
}

pub struct Admin;
impl Policy for Admin {
    const ROLES: &'static [Role] = &[Role::Admin];
}

pub struct AdminOrFinance;
impl Policy for AdminOrFinance {
    const ROLES: &'static [Role] = &[Role::Admin, Role::Finance];
}

/// A signed-in employee holding at least one of `P::ROLES`; otherwise 403.
pub struct Authorized<P: Policy> {
    pub user: CurrentUser,
    policy: PhantomData<P>,
}

impl<P: Policy> Deref for Authorized<P> {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.user
    }
}

impl<P: Policy + 'static> FromRequest for Authorized<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if P::ROLES.iter().any(|role| user.has(*role)) {
                Ok(Self {
                    user,
                    policy: PhantomData,
                })
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}

pub struct Finance;
impl Policy for Finance {
    const ROLES: &'static [Role] = &[Role::Finance];
}

/// Purchasers place and handle intercompany orders for their own company (checked per order).
pub struct Purchaser;
impl Policy for Purchaser {
    const ROLES: &'static [Role] = &[Role::Purchaser];
}

/// The roles that see intercompany trade at all: purchasers (their company's), finance and
/// admins (the group's).
pub struct Trade;
impl Policy for Trade {
    const ROLES: &'static [Role] = &[Role::Purchaser, Role::Finance, Role::Admin];
}
