//! Field checks shared by every capability; each pushes a `FieldError` naming the field.

use rust_decimal::Decimal;

use crate::domain::codes::CurrencyCode;
use crate::domain::money;
use crate::domain::period::Month;
use crate::error::{ApiError, FieldError};

/// Codes (company, category, tier): 1–`max` letters, digits, `_ . -`, starting alphanumeric.
pub fn code_rule(value: &str, max: usize) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "1–{max} letters, digits, '_', '.', '-', starting with a letter or digit"
        ))
    }
}

/// A single-line text such as a name or a reason: 1–`max` characters, no control characters
/// (U+0000–U+001F, U+007F), and at least one visible character ([`is_visible`]: spaces,
/// zero-width and other invisible characters alone are no text). The document states it as
/// the pattern `^[^\u0000-\u001f\u007f]*V[^\u0000-\u001f\u007f]*$` with `V` the visible class,
/// which every regex dialect reads alike.
pub fn line_rule(value: &str, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    let ok = (1..=max).contains(&length) && !value.chars().any(is_control) && has_visible(value);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1–{max} characters with a visible one, without control characters"
        ))
    }
}

/// A validated [`line_rule`] as stored: without its leading and trailing spaces.
pub fn stored_line(value: &str) -> &str {
    value.trim_matches(' ')
}

/// Whether `c` shows as something: not a control character, not white space, not an invisible
/// format character (soft hyphen, zero-width spaces and joiners, word joiner, BOM). The document
/// states it as the class `[^\u0000-\u0020\u007f-\u00a0\u00ad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff]`.
pub fn is_visible(c: char) -> bool {
    !matches!(c,
        '\u{0}'..='\u{20}'
        | '\u{7f}'..='\u{a0}'
        | '\u{ad}'
        | '\u{1680}'
        | '\u{180e}'
        | '\u{2000}'..='\u{200f}'
        | '\u{2028}'..='\u{202f}'
        | '\u{205f}'..='\u{2064}'
        | '\u{3000}'
        | '\u{feff}')
}

/// Free text (a reason, a reply) holds at least one visible character.
pub fn has_visible(value: &str) -> bool {
    value.chars().any(is_visible)
}

fn is_control(c: char) -> bool {
    c <= '\u{1f}' || c == '\u{7f}'
}

/// A `period` parameter (`YYYY-MM`) as its month, or 400 naming `period`.
pub fn period(raw: &str) -> Result<Month, ApiError> {
    Month::parse(raw).ok_or_else(|| ApiError::bad_field("period", "must be YYYY-MM"))
}

/// A percentage between 0 and 100: a plain decimal string with at most 4 decimals
/// (see [`money::parse_percent`]).
pub fn percent_rule(raw: &str) -> Result<Decimal, String> {
    let value = money::parse_percent(raw)?;
    if value >= Decimal::ZERO && value <= Decimal::ONE_HUNDRED {
        Ok(value)
    } else {
        Err("must be between 0 and 100".into())
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

/// An email address as the document states it: at most 254 characters, one `@` with
/// something on each side, no spaces or control characters.
pub fn email_rule(value: &str, max: usize) -> Result<(), String> {
    let ok = value.chars().count() <= max
        && !value.chars().any(|c| c == ' ' || is_control(c))
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err("must be an email address".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_ok(value: &str) -> bool {
        line_rule(value, 5).is_ok()
    }

    #[test]
    fn lines_refuse_control_characters_blanks_and_excess() {
        assert!(line_ok("Ab c"));
        assert!(line_ok("  x  "));
        assert!(line_ok("\u{a0}é"));
        // Text that shows nothing is no text (PRODUCT.md §2).
        assert!(!line_ok("\u{a0}"));
        assert!(!line_ok("\u{200b}\u{feff}"));
        assert!(!line_ok(""));
        assert!(!line_ok("   "));
        assert!(!line_ok("a\u{0}b"));
        assert!(!line_ok("a\tb"));
        assert!(!line_ok("a\u{7f}"));
        assert!(!line_ok("abcdef"));
        assert_eq!(stored_line("  x y "), "x y");
    }

    #[test]
    fn emails_have_one_at_and_no_spaces() {
        let ok = |v: &str| email_rule(v, 254).is_ok();
        assert!(ok("a@b"));
        assert!(ok("ada.admin@jkl.example"));
        assert!(!ok(" a@b"));
        assert!(!ok("a@@b"));
        assert!(!ok("a@b@c"));
        assert!(!ok("@b"));
        assert!(!ok("a@"));
        assert!(!ok("a\u{1}@b"));
    }
}
