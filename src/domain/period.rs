//! Periods: `YYYY-MM` months, as the API names them.

use chrono::{Datelike, NaiveDate};

use super::kinds::LimitPeriod;

/// The first day of the purchase-limit period (month or year) containing `day`.
pub fn limit_start(period: LimitPeriod, day: NaiveDate) -> NaiveDate {
    let first = match period {
        LimitPeriod::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1),
        LimitPeriod::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1),
    };
    first.unwrap_or(day)
}

/// The first day of the month `raw` (`YYYY-MM`) and the first day of the next.
pub fn month(raw: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (year, month) = raw.split_once('-')?;
    if year.len() != 4
        || month.len() != 2
        || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let first = NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    Some((first, next))
}

#[cfg(test)]
mod tests {
    use super::{limit_start, month, LimitPeriod};
    use chrono::NaiveDate;

    #[test]
    fn limit_periods_start_on_the_first() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap_or_default();
        assert_eq!(
            limit_start(LimitPeriod::Month, day).to_string(),
            "2026-11-01"
        );
        assert_eq!(
            limit_start(LimitPeriod::Year, day).to_string(),
            "2026-01-01"
        );
    }

    #[test]
    fn months_are_exact() {
        let (first, next) = month("2026-12").unwrap_or_else(|| unreachable!());
        assert_eq!(first.to_string(), "2026-12-01");
        assert_eq!(next.to_string(), "2027-01-01");
        for bad in ["2026-13", "2026-1", "26-01", "2026-+1", "2026/01", ""] {
            assert!(month(bad).is_none(), "{bad}");
        }
    }
}
