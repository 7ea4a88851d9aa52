//! Field checks shared by every capability; each pushes a `FieldError` naming the field.

use rust_decimal::Decimal;

use crate::domain::codes::{CountryCode, CurrencyCode};
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

/// A percentage between 0 and 100 as a decimal string with at most 4 decimals.
pub fn percent(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    match raw.trim().parse::<Decimal>() {
        Ok(value)
            if value >= Decimal::ZERO && value <= Decimal::ONE_HUNDRED && value.scale() <= 4 =>
        {
            Some(value)
        }
        _ => {
            errors.push(FieldError::new(
                field,
                "must be a decimal string between 0 and 100",
            ));
            None
        }
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
