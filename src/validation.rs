//! Field checks shared by every capability; each pushes a `FieldError` naming the field.

use rust_decimal::Decimal;

use crate::domain::codes::{CountryCode, CurrencyCode};
use crate::domain::money;
use crate::error::FieldError;

/// Codes (company, category, tier): 1–32 letters, digits, `_ . -`, starting alphanumeric.
pub fn code(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        errors.push(FieldError::new(
            field,
            format!("1–{max} letters, digits, '_', '.', '-', starting with a letter or digit"),
        ));
    }
}

pub fn name(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let length = value.trim().chars().count();
    if length == 0 || length > 200 {
        errors.push(FieldError::new(field, "must be 1–200 characters"));
    }
}

pub fn currency(value: &str, errors: &mut Vec<FieldError>) {
    if CurrencyCode::parse(value).is_none() {
        errors.push(FieldError::new(
            "currency",
            "must be an ISO 4217 code such as USD",
        ));
    }
}

pub fn country(value: &str, errors: &mut Vec<FieldError>) {
    if CountryCode::parse(value).is_none() {
        errors.push(FieldError::new(
            "country",
            "must be an ISO 3166-1 alpha-2 code such as US",
        ));
    }
}

/// A percentage between 0 and 100: a plain decimal string with at most 4 decimals
/// (see [`money::parse_percent`]).
pub fn percent(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    match money::parse_percent(raw) {
        Ok(value) if value >= Decimal::ZERO && value <= Decimal::ONE_HUNDRED => Some(value),
        Ok(_) => {
            errors.push(FieldError::new(field, "must be between 0 and 100"));
            None
        }
        Err(message) => {
            errors.push(FieldError::new(field, message));
            None
        }
    }
}

/// A non-negative amount in `currency` (see [`money::parse_amount`]).
pub fn amount(
    field: &str,
    raw: &str,
    currency: CurrencyCode,
    errors: &mut Vec<FieldError>,
) -> Option<Decimal> {
    money::parse_non_negative_amount(raw, currency)
        .map_err(|message| errors.push(FieldError::new(field, message)))
        .ok()
}

/// Stock on hand and stock deltas stay within ±1 000 000 000 (§2).
pub const MAX_STOCK: i32 = 1_000_000_000;

/// A stock figure or delta within ±[`MAX_STOCK`].
pub fn stock_bound(field: &str, value: i32, errors: &mut Vec<FieldError>) {
    if !(-MAX_STOCK..=MAX_STOCK).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between -{MAX_STOCK} and {MAX_STOCK}"),
        ));
    }
}

pub fn email(value: &str, errors: &mut Vec<FieldError>) {
    let trimmed = value.trim();
    let ok = trimmed.len() <= 254
        && !trimmed.chars().any(char::is_whitespace)
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !ok {
        errors.push(FieldError::new("email", "must be an email address"));
    }
}
