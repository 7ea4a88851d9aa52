//! One-sided adjustments (credit notes, disputes): an entry on one side of a pair that shows as
//! unmatched in reconciliation until the other side books its counterpart.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use rust_decimal::Decimal;

use super::dto::*;
use crate::audit::Change;
use crate::domain::codes::CurrencyCode;
use crate::domain::intercompany::{Adjustment, ZeroAdjustment};
use crate::domain::kinds::LedgerSide;
use crate::domain::money;
use crate::error::{ApiError, FieldError};
use crate::idempotency::Keyed;
use crate::identity::auth::{Authorized, Finance};
use crate::ids::GroupId;
use crate::intercompany::dto::EntryKind;
use crate::intercompany::ledger::{self, Entry};
use crate::intercompany::queries::company_currency;
use crate::json::to_value as json;
use crate::state::AppState;
use crate::write;

/// A signed amount in `currency`: optional `-`, then a plain amount of the currency.
fn signed_amount(raw: &str, currency: CurrencyCode) -> Result<Decimal, String> {
    // The one strict amount parser takes the optional `-` itself (so `--5` stays refused).
    money::parse_amount(raw, currency)
}

/// Book a one-sided adjustment (finance): `side` says whose books change — the seller's
/// receivable or the buyer's payable (the latter in its currency at the date's rate).
#[utoipa::path(
    tag = "finance", request_body = NewAdjustment, params(crate::idempotency::OptionalKeyParam),
    security(("bearer" = ["finance"])),
    responses(
        (status = 201, body = AdjustmentView),
        (status = 409, description = "period_closed, or request_in_progress"),
        (
            status = 422,
            description = "Invalid fields, not_intercompany, fx_rate_missing, \
                idempotency_key_reused"
        )
    )
)]
#[post("/finance/adjustments")]
pub async fn create_adjustment(
    user: Authorized<Finance>,
    state: web::Data<AppState>,
    request: Keyed<NewAdjustment>,
) -> Result<HttpResponse, ApiError> {
    let (new, once) = request.parse("POST /finance/adjustments")?;
    let reason = validate(&new)?;
    let user = &user.user;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    once.run(&mut conn, user.id, async move |conn| {
        let view = write::by(user, user.group_id)
            .run(conn, &state.changes, async move |conn| {
                let view = book(conn, user.group_id, &new, reason, now).await?;
                let change =
                    Change::new("ledger.adjustment_booked", "ledger_entry", view.id).after(&view);
                Ok((view, change))
            })
            .await?;
        Ok((StatusCode::CREATED, json(&view)?))
    })
    .await
}

/// The reason as stored, once every field holds (422 naming each one at fault).
fn validate(new: &NewAdjustment) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    if new.company_id == new.counterparty_company_id {
        errors.push(FieldError::new(
            "counterparty_company_id",
            "must differ from company_id",
        ));
    }
    if errors.is_empty() {
        Ok(new.reason.stored().to_owned())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Books `new` in `group` on its date (open, not in the future): one entry in the booking
/// company's currency, converted from the document currency (the seller's) at the date's rate.
async fn book(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    new: &NewAdjustment,
    reason: String,
    now: DateTime<Utc>,
) -> Result<AdjustmentView, ApiError> {
    let today = crate::bookings::today(conn, group, now).await?;
    crate::bookings::check(conn, group, "date", new.date, today).await?;
    let own = company_currency(conn, group, new.company_id.into())
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field("company_id", "no company with this id in your group")
        })?;
    let other = company_currency(conn, group, new.counterparty_company_id.into())
        .await?
        .ok_or_else(|| {
            ApiError::unprocessable(
                "not_intercompany",
                "counterparty_company_id: not a company of your group",
            )
        })?;
    let adjustment = Adjustment {
        side: new.side,
        own,
        counterparty: other,
    };
    let document = adjustment.document_currency();
    let document_amount = signed_amount(&new.amount, document)
        .map_err(|message| ApiError::invalid_field("amount", message))?;
    let document_amount = adjustment
        .document_amount(document_amount)
        .map_err(|ZeroAdjustment| ApiError::invalid_field("amount", "must not be zero"))?;
    let rate = crate::fx::queries::rate(conn, group, document, own, new.date).await?;
    let amount = adjustment.booked(document_amount, rate)?;
    let posted = ledger::post(
        conn,
        group,
        None,
        new.date,
        &[Entry {
            company_id: new.company_id.into(),
            counterparty_company_id: new.counterparty_company_id.into(),
            seller_side: adjustment.ledger_side() == LedgerSide::Seller,
            kind: EntryKind::Adjustment,
            amount,
            currency: own,
            document_amount,
            document_currency: document,
            rate,
            true_up: None,
            reason: Some(reason.clone()),
            settles: None,
        }],
    )
    .await?;
    // The posting's one entry: its id as booked, not the company's latest (another
    // adjustment of the same company may commit in between).
    let id = posted
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("an adjustment posted no entry"))?;
    let view = AdjustmentView {
        id,
        company_id: new.company_id,
        counterparty_company_id: new.counterparty_company_id,
        side: new.side,
        amount: money::format(amount, own),
        currency: own.to_string(),
        document_amount: money::format(document_amount, document),
        document_currency: document.to_string(),
        rate: rate.normalize().to_string(),
        date: new.date,
        reason,
    };
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjustment_amounts_take_one_sign_through_the_strict_parser() {
        let usd = CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!());
        assert_eq!(
            signed_amount("-12.50", usd).map(|d| d.to_string()),
            Ok("-12.50".to_owned())
        );
        for bad in ["--5", "-+5", "+5", "-1e3", "- 5", "-5.001"] {
            assert!(signed_amount(bad, usd).is_err(), "{bad:?} was accepted");
        }
    }
}
