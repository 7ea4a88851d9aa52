//! Periods: `YYYY-MM` months, as the API names them.

use chrono::NaiveDate;

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
    use super::month;

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
