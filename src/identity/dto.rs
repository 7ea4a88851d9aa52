//! Request and response shapes of the identity API. Inputs deny unknown fields, so a client
//! cannot smuggle `roles` or `active` into a request that does not take them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::Role;
use super::password::Secret;
use crate::domain::calendar::BusinessZone;
use crate::domain::codes::{CountryCode, CurrencyCode, SicCode};
use crate::fields::{Code, Email, Name, Percent};
pub use crate::payroll::PayrollDeduction;

pub use crate::domain::kinds::{BenefitTaxRule, ClientType, EmploymentType, Former};

/// Distinguishes "absent" (`None`) from "explicitly null" (`Some(None)`) in PATCH bodies.
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254, pattern = r"^[^\u0000]*$")]
    pub email: String,
    #[schema(value_type = String, format = Password, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompanyView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    /// The ultimate parent (the company itself for a root).
    pub group_id: Uuid,
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    #[schema(value_type = CountryCode)]
    pub country: String,
    #[schema(value_type = BenefitTaxRule, example = "us_irc_132")]
    pub benefit_tax_rule: String,
    /// Decimal string, e.g. `"35"`.
    pub qualified_discount_gp_percent: Option<String>,
    /// A four-digit SIC industry code (e.g. `5311`); see the benefits report.
    pub line_of_business: Option<String>,
    /// The IANA time zone of the group's business dates (meaningful on the root company).
    #[schema(example = "America/New_York")]
    pub time_zone: String,
    /// The employer's offer to deduct orders from wages (§5), if it has one.
    pub payroll_deduction: Option<PayrollDeduction>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompany {
    pub code: Code,
    pub name: Name,
    /// A company of the caller's group (a new group comes only from `bootstrap`).
    pub parent_id: Uuid,
    pub currency: CurrencyCode,
    pub country: CountryCode,
    pub benefit_tax_rule: Option<BenefitTaxRule>,
    /// Required when `benefit_tax_rule` is `us_irc_132`. `de_estg_8_3` and
    /// `es_lirpf_ordinary` need `currency` EUR (their yearly amounts are in euros).
    pub qualified_discount_gp_percent: Option<Percent>,
    /// A four-digit SIC industry code (e.g. `5311`); its major group (first two digits)
    /// decides the line of business under `us_irc_132`.
    pub line_of_business: Option<SicCode>,
    /// An offer to deduct orders from wages (§5).
    pub payroll_deduction: Option<PayrollDeduction>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    pub code: Option<Code>,
    pub name: Option<Name>,
    /// Moves the company (and its subtree) under another company of the same group. A
    /// company cannot become a root: null is refused.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    pub currency: Option<CurrencyCode>,
    pub country: Option<CountryCode>,
    pub benefit_tax_rule: Option<BenefitTaxRule>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Percent>)]
    pub qualified_discount_gp_percent: Option<Option<Percent>>,
    /// A four-digit SIC industry code (e.g. `5311`); null clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<SicCode>)]
    pub line_of_business: Option<Option<SicCode>>,
    /// The group's business time zone, an IANA name such as `America/New_York`: only on the
    /// group's root company. Days, months and years of reports and closes begin at its local
    /// midnight.
    pub time_zone: Option<BusinessZone>,
    /// Replaces the offer to deduct orders from wages (§5) whole. It cannot be removed (null
    /// leaves it as it is): `enabled: false` stops new orders, while schedules already made
    /// run on.
    pub payroll_deduction: Option<PayrollDeduction>,
}

crate::paged_query! {
    pub struct CompanyListQuery {
        /// Only companies of this group (the caller's own: any other gives an empty list).
        pub group_id: Option<Uuid>,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmployeeView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub company_id: Uuid,
    pub employment_type: EmploymentType,
    pub client_type: ClientType,
    pub tier_id: Option<Uuid>,
    pub roles: Vec<Role>,
    pub active: bool,
    /// A highly compensated employee (§414(q)): decides the non-discrimination test of the
    /// benefits report.
    pub highly_compensated: bool,
    /// A former employee who still shops (retired or disabled): their only role is
    /// `employee`.
    pub former: Option<Former>,
    /// The day they were hired (tenure for payroll deduction).
    pub hired_on: Option<NaiveDate>,
    /// Gross pay per pay period in their company's currency (the share of pay that payroll
    /// deductions may take is counted from it).
    pub pay_per_period: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmployee {
    /// Unique, case-insensitive.
    pub email: Email,
    pub full_name: Name,
    pub company_id: Uuid,
    pub employment_type: EmploymentType,
    pub client_type: ClientType,
    pub tier_id: Option<Uuid>,
    /// Defaults to `["employee"]`.
    #[schema(min_items = 1)]
    pub roles: Option<Vec<Role>>,
    /// Defaults to true.
    pub active: Option<bool>,
    /// §414(q); defaults to false.
    pub highly_compensated: Option<bool>,
    /// The day they were hired (1900–2099), for payroll deduction's tenure. Admin and finance.
    #[schema(value_type = Option<String>, format = Date, pattern = r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub hired_on: Option<NaiveDate>,
    /// Gross pay per pay period, in their company's currency (more than 0, at most its minor
    /// digits), for payroll deduction's share of pay. Admin and finance.
    #[schema(
        value_type = Option<String>,
        example = "4200.00",
        pattern = r"^([1-9][0-9]{0,12}(\.[0-9]{1,4})?|0\.[0-9]{0,3}[1-9])$"
    )]
    pub pay_per_period: Option<String>,
    /// 12–1024 characters.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: Secret,
}

impl NewEmployee {
    /// What identifies this request for `Idempotency-Key`: every field but the password, of
    /// which no fast hash may ever be stored.
    pub fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "email": self.email, "full_name": self.full_name, "company_id": self.company_id,
            "employment_type": self.employment_type, "client_type": self.client_type,
            "tier_id": self.tier_id, "roles": self.roles, "active": self.active,
            "highly_compensated": self.highly_compensated, "hired_on": self.hired_on,
            "pay_per_period": self.pay_per_period,
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployeePatch {
    pub email: Option<Email>,
    pub full_name: Option<Name>,
    pub company_id: Option<Uuid>,
    pub employment_type: Option<EmploymentType>,
    pub client_type: Option<ClientType>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub tier_id: Option<Option<Uuid>>,
    #[schema(min_items = 1)]
    pub roles: Option<Vec<Role>>,
    pub active: Option<bool>,
    /// §414(q). Finance may change it, `hired_on` and `pay_per_period`; every other field is
    /// admin's.
    pub highly_compensated: Option<bool>,
    /// The day they were hired (1900–2099); null clears it. Admin and finance.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, nullable, format = Date, pattern = r"^(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub hired_on: Option<Option<NaiveDate>>,
    /// Gross pay per pay period in their company's currency; null clears it. Admin and
    /// finance.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(
        value_type = Option<String>,
        nullable,
        example = "4200.00",
        pattern = r"^([1-9][0-9]{0,12}(\.[0-9]{1,4})?|0\.[0-9]{0,3}[1-9])$"
    )]
    pub pay_per_period: Option<Option<String>>,
    /// Marks a former employee (`retired` or `disabled`): they keep signing in and shopping
    /// with their tier and hold no role but `employee` (their other roles are removed; roles
    /// beside it in the same patch → 422). Null makes them a current employee again.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Former>, nullable)]
    pub former: Option<Option<Former>>,
    /// Sets a new password (12–1024 characters).
    #[schema(value_type = Option<String>, format = Password, min_length = 12, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: Option<Secret>,
}

crate::paged_query! {
    pub struct EmployeeListQuery {
        pub company_id: Option<Uuid>,
        pub active: Option<bool>,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AllowanceView {
    pub year: i32,
    /// The group currency.
    #[schema(value_type = CurrencyCode)]
    pub currency: String,
    /// Null when unlimited.
    pub cap: Option<String>,
    pub used: String,
    /// Null when unlimited.
    pub remaining: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub company_id: Uuid,
    pub roles: Vec<Role>,
    pub employment_type: EmploymentType,
    pub client_type: ClientType,
    pub tier_id: Option<Uuid>,
    pub allowance: AllowanceView,
}
