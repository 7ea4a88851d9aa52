//! An employer's payroll-deduction offer as the API takes and shows it, and what an order paid
//! from wages is placed under: the employer's terms and the employee's hire date and pay.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::schema::{companies, employees};
use crate::domain::codes::CurrencyCode;
use crate::domain::kinds::{PayFrequency, PaymentMethod};
use crate::domain::money::{self, Money};
use crate::domain::payroll::{self, Employment, PayCalendar, Refusal, Terms, MAX_INSTALMENTS};
use crate::error::{ApiError, FieldError};
use crate::ids::EmployeeId;

/// The pay dates of an employer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayCalendarView {
    pub frequency: PayFrequency,
    /// A pay date of the calendar (2000–2099); the others follow from it and `frequency`.
    #[schema(value_type = String, format = Date, pattern = r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    pub first_pay_date: NaiveDate,
}

/// How many pay dates an order may be spread over: 1–60.
#[derive(Debug, Clone, Copy)]
pub struct InstalmentCount;

impl utoipa::PartialSchema for InstalmentCount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int32,
            )))
            .minimum(Some(1))
            .maximum(Some(MAX_INSTALMENTS))
            .into()
    }
}
impl ToSchema for InstalmentCount {}

/// An employer's offer to deduct orders from wages (§5). Replaced whole by a PATCH; turned off
/// with `enabled: false` (schedules already made run on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayrollDeduction {
    pub enabled: bool,
    /// Months since `hired_on` before an employee may pay from wages (0–600).
    #[schema(minimum = 0, maximum = 600)]
    pub min_tenure_months: i64,
    /// The instalment counts an employee may choose (each 1–60; stored sorted, once each).
    #[schema(value_type = Vec<InstalmentCount>, min_items = 1, max_items = 60)]
    pub instalments: Vec<i64>,
    /// The most of one period's pay (`pay_per_period`) that the deductions due on one pay date
    /// may take, in percent: more than 0, at most 100.
    #[schema(
        value_type = String,
        example = "20",
        pattern = r"^(100(\.0{1,4})?|[1-9][0-9]?(\.[0-9]{1,4})?|0\.[0-9]{0,3}[1-9])$"
    )]
    pub max_share_of_pay: String,
    pub pay_calendar: PayCalendarView,
}

/// The six company columns of an offer: all set, or none (on a PATCH: left as they are).
#[derive(Debug, Clone, Default, Insertable, AsChangeset, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct OfferColumns {
    payroll_enabled: Option<bool>,
    payroll_min_tenure_months: Option<i32>,
    payroll_instalments: Option<Vec<Option<i32>>>,
    payroll_max_share_of_pay: Option<Decimal>,
    payroll_frequency: Option<PayFrequency>,
    payroll_first_pay_date: Option<NaiveDate>,
}

impl PayrollDeduction {
    /// The offer as stored, or the errors of its fields (named under `field`).
    pub fn parse(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<OfferColumns> {
        let before = errors.len();
        let tenure = i32::try_from(self.min_tenure_months)
            .ok()
            .filter(|m| (0..=600).contains(m));
        if tenure.is_none() {
            errors.push(FieldError::new(
                format!("{field}.min_tenure_months"),
                "must be between 0 and 600",
            ));
        }
        if self.instalments.is_empty() || self.instalments.len() > 60 {
            errors.push(FieldError::new(
                format!("{field}.instalments"),
                "must hold 1–60 counts",
            ));
        }
        let mut counts = Vec::with_capacity(self.instalments.len());
        for (index, count) in self.instalments.iter().enumerate() {
            match i32::try_from(*count) {
                Ok(n) if (1..=60).contains(&n) => counts.push(n),
                _ => errors.push(FieldError::new(
                    format!("{field}.instalments[{index}]"),
                    "must be between 1 and 60",
                )),
            }
        }
        counts.sort_unstable();
        counts.dedup();
        let share = match money::parse_percent(&self.max_share_of_pay) {
            Ok(share) if share > Decimal::ZERO && share <= Decimal::ONE_HUNDRED => Some(share),
            Ok(_) => {
                errors.push(FieldError::new(
                    format!("{field}.max_share_of_pay"),
                    "must be more than 0 and at most 100",
                ));
                None
            }
            Err(message) => {
                errors.push(FieldError::new(
                    format!("{field}.max_share_of_pay"),
                    message,
                ));
                None
            }
        };
        let first = self.pay_calendar.first_pay_date;
        let in_range = NaiveDate::from_ymd_opt(2000, 1, 1).is_some_and(|from| first >= from)
            && NaiveDate::from_ymd_opt(2099, 12, 31).is_some_and(|to| first <= to);
        if !in_range {
            errors.push(FieldError::new(
                format!("{field}.pay_calendar.first_pay_date"),
                "must be a date in 2000–2099",
            ));
        }
        if errors.len() > before {
            return None;
        }
        Some(OfferColumns {
            payroll_enabled: Some(self.enabled),
            payroll_min_tenure_months: tenure,
            payroll_instalments: Some(counts.into_iter().map(Some).collect()),
            payroll_max_share_of_pay: share,
            payroll_frequency: Some(self.pay_calendar.frequency),
            payroll_first_pay_date: Some(first),
        })
    }

    /// The offer stored in a company's columns, as the API shows it.
    pub fn from_columns(columns: OfferColumns) -> Option<Self> {
        let terms = columns.terms()?;
        Some(Self {
            enabled: terms.enabled,
            min_tenure_months: i64::from(terms.min_tenure_months),
            instalments: terms.instalments.into_iter().map(i64::from).collect(),
            max_share_of_pay: terms.max_share_of_pay.normalize().to_string(),
            pay_calendar: PayCalendarView {
                frequency: terms.calendar.frequency,
                first_pay_date: terms.calendar.first_pay_date,
            },
        })
    }
}

impl OfferColumns {
    /// The offer as the rules take it (none unless all six columns are set).
    fn terms(self) -> Option<Terms> {
        Some(Terms {
            enabled: self.payroll_enabled?,
            min_tenure_months: u32::try_from(self.payroll_min_tenure_months?).ok()?,
            instalments: self
                .payroll_instalments?
                .into_iter()
                .flatten()
                .filter_map(|n| u32::try_from(n).ok())
                .collect(),
            max_share_of_pay: self.payroll_max_share_of_pay?,
            calendar: PayCalendar {
                frequency: self.payroll_frequency?,
                first_pay_date: self.payroll_first_pay_date?,
            },
        })
    }
}

/// How an order is paid, when not at the till: `payroll` over `instalments` pay dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub method: PaymentMethod,
    /// 1–60, one of the counts the employer allows.
    #[schema(minimum = 1, maximum = 60)]
    pub instalments: i64,
}

/// What the employer and the employee's record say about paying from wages.
#[derive(Debug, Clone)]
pub struct Standing {
    pub employer: Uuid,
    pub terms: Option<Terms>,
    pub employment: Employment,
}

#[derive(Queryable)]
struct StandingRow {
    employer: Uuid,
    currency: CurrencyCode,
    hired_on: Option<NaiveDate>,
    pay_per_period: Option<Decimal>,
    offer: OfferColumns,
}

/// The employee's standing for payroll deduction (one query), or 401 when they are gone.
pub async fn standing(
    conn: &mut AsyncPgConnection,
    employee: EmployeeId,
) -> Result<Standing, ApiError> {
    let row: StandingRow = employees::table
        .inner_join(companies::table)
        .filter(employees::id.eq(employee))
        .select((
            companies::id,
            companies::currency,
            employees::hired_on,
            employees::pay_per_period,
            OfferColumns::as_select(),
        ))
        .get_result(conn)
        .await
        .optional()?
        .ok_or(ApiError::Unauthorized)?;
    let currency = row.currency;
    let terms = row.offer.terms();
    Ok(Standing {
        employer: row.employer,
        terms,
        employment: Employment {
            hired_on: row.hired_on,
            pay_per_period: row.pay_per_period.map(|pay| Money::new(pay, currency)),
        },
    })
}

impl Standing {
    /// The schedule of an order of `total` over `instalments`, or the 422 naming the rule.
    pub fn plan(
        &self,
        total: Money,
        instalments: u32,
        today: NaiveDate,
    ) -> Result<payroll::Plan, ApiError> {
        payroll::plan(
            self.terms.as_ref(),
            self.employment,
            total,
            instalments,
            today,
        )
        .map_err(refused)
    }
}

/// The 422 of a refusal.
pub fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unavailable(why) => ApiError::unprocessable("payroll_deduction_unavailable", why),
        Refusal::TenureTooShort {
            eligible_from: Some(from),
        } => ApiError::unprocessable(
            "tenure_too_short",
            format!("payroll deduction is open to you from {from}"),
        ),
        Refusal::TenureTooShort {
            eligible_from: None,
        } => ApiError::unprocessable(
            "tenure_too_short",
            "your hire date is not recorded, so your tenure cannot be counted",
        ),
        Refusal::InstalmentsNotAllowed { allowed } => ApiError::unprocessable(
            "instalments_not_allowed",
            format!(
                "your employer allows {} instalments",
                allowed
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Refusal::ShareExceeded { pay_date, limit } => share_exceeded(pay_date, limit),
        Refusal::Overflow => ApiError::internal("arithmetic overflow in a payroll schedule"),
    }
}

/// The deductions due on `pay_date` would pass `limit`.
pub fn share_exceeded(pay_date: NaiveDate, limit: Money) -> ApiError {
    ApiError::unprocessable(
        "deduction_share_exceeded",
        format!(
            "the deductions due on {pay_date} would pass {} {}, the share of your pay that \
             deductions may take",
            limit,
            limit.currency()
        ),
    )
}

/// `raw` as the pay per period of an employee of `company`: an amount in its currency (at most
/// its minor digits), more than zero; otherwise 422 naming `pay_per_period`.
pub async fn pay_in(
    conn: &mut AsyncPgConnection,
    company: Uuid,
    raw: &str,
) -> Result<Decimal, ApiError> {
    let currency = crate::identity::queries::company_currency(conn, company).await?;
    match money::parse_amount(raw, currency) {
        Ok(pay) if pay > Decimal::ZERO => Ok(pay),
        Ok(_) => Err(ApiError::invalid_field(
            "pay_per_period",
            "must be more than zero",
        )),
        Err(message) => Err(ApiError::invalid_field(
            "pay_per_period",
            format!("{message} ({currency}, the company's currency)"),
        )),
    }
}

/// A hire date the store takes: 1900–2099.
pub fn check_hired_on(day: NaiveDate, errors: &mut Vec<FieldError>) {
    let in_range = NaiveDate::from_ymd_opt(1900, 1, 1).is_some_and(|from| day >= from)
        && NaiveDate::from_ymd_opt(2099, 12, 31).is_some_and(|to| day <= to);
    if !in_range {
        errors.push(FieldError::new("hired_on", "must be a date in 1900–2099"));
    }
}
