//! Authentication and authorization as extractors: a handler that takes `CurrentUser` needs a
//! valid token of an active employee; one that takes `Authorized<Admin>` also needs the role.
//! The employee is loaded on every request, so deactivation and role changes apply at once.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::LocalBoxFuture;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tracing_actix_web::RequestId;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{companies, discount_tiers, employees};
use crate::domain::pricing::TierTerms;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Employee,
    Purchaser,
    Finance,
    Admin,
}

impl Role {
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
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub company_id: Uuid,
    pub group_id: Uuid,
    pub roles: Vec<Role>,
    pub employment_type: String,
    pub client_type: String,
    pub tier_id: Option<Uuid>,
    /// What the tier grants (loaded with the employee: pricing needs it on every catalog call).
    pub tier: Option<TierTerms>,
    /// The tier's annual allowance in the group currency (None: no tier, or unlimited).
    pub tier_allowance: Option<Decimal>,
    /// The request id, recorded with audit events.
    pub request_id: Option<String>,
}

impl CurrentUser {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

type UserRow = (
    (Uuid, String, String, Uuid, Uuid, Vec<Option<String>>),
    (
        String,
        String,
        Option<Uuid>,
        Option<Decimal>,
        Option<Vec<Option<String>>>,
    ),
    Option<Decimal>,
);

async fn load(
    state: &AppState,
    token: Option<String>,
    request_id: Option<String>,
) -> Result<CurrentUser, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    let subject = state.tokens.verify(&token).ok_or(ApiError::Unauthorized)?;
    let mut conn = state.pool.get().await?;
    let row: Option<UserRow> = employees::table
        .inner_join(companies::table)
        .left_join(discount_tiers::table)
        .filter(employees::id.eq(subject))
        .filter(employees::active.eq(true))
        .select((
            (
                employees::id,
                employees::email,
                employees::full_name,
                employees::company_id,
                companies::group_id,
                employees::roles,
            ),
            (
                employees::employment_type,
                employees::client_type,
                employees::tier_id,
                discount_tiers::discount_percent.nullable(),
                discount_tiers::eligible_employment_types.nullable(),
            ),
            discount_tiers::annual_allowance.nullable(),
        ))
        .get_result(&mut conn)
        .await
        .optional()?;
    let (
        (id, email, full_name, company_id, group_id, roles),
        (employment_type, client_type, tier_id, percent, eligible),
        tier_allowance,
    ) = row.ok_or(ApiError::Unauthorized)?;
    let tier = percent.map(|discount_percent| TierTerms {
        discount_percent,
        eligible_employment_types: eligible.unwrap_or_default().into_iter().flatten().collect(),
    });
    Ok(CurrentUser {
        id,
        email,
        full_name,
        company_id,
        group_id,
        roles: roles
            .iter()
            .flatten()
            .filter_map(|r| Role::parse(r))
            .collect(),
        employment_type,
        client_type,
        tier_id,
        tier,
        tier_allowance,
        request_id,
    })
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
        let token = bearer(req);
        let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            load(&state, token, request_id).await
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
