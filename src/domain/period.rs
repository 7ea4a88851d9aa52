//! Periods: `YYYY-MM` months, as the API names them.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::kinds::LimitPeriod;

/// The first day of the purchase-limit period (month or year) containing `day`.
pub fn limit_start(period: LimitPeriod, day: NaiveDate) -> NaiveDate {
    let first = match period {
        LimitPeriod::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1),
        LimitPeriod::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1),
    };
    first.unwrap_or(day)
}

/// The first day of the purchase-limit period after the one containing `day`.
pub fn limit_next(period: LimitPeriod, day: NaiveDate) -> NaiveDate {
    let months = match period {
        LimitPeriod::Year => 12,
        LimitPeriod::Month => 1,
    };
    limit_start(period, day)
        .checked_add_months(chrono::Months::new(months))
        .unwrap_or(NaiveDate::MAX)
}

/// A calendar month as the API writes it (`YYYY-MM`), parsed once where it enters: a request
/// that names a month carries this, never the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// The month `raw` names (`YYYY-MM`), if it names one.
    pub fn parse(raw: &str) -> Option<Self> {
        month(raw).map(|(first, _)| Self { first })
    }

    /// The month containing `day`.
    pub fn of(day: NaiveDate) -> Self {
        Self {
            first: day.with_day(1).unwrap_or(day),
        }
    }

    /// Its first day.
    pub fn first(self) -> NaiveDate {
        self.first
    }

    /// The first day of the next month (the month's exclusive end).
    pub fn next(self) -> NaiveDate {
        self.first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }
}

impl TryFrom<String> for Month {
    type Error = &'static str;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("must be YYYY-MM")
    }
}

impl From<Month> for String {
    fn from(month: Month) -> Self {
        month.to_string()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
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
    use super::{limit_next, limit_start, month, LimitPeriod, Month};
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
    fn the_next_limit_period_starts_after_this_one() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap_or_default();
        assert_eq!(
            limit_next(LimitPeriod::Month, day).to_string(),
            "2027-01-01"
        );
        assert_eq!(limit_next(LimitPeriod::Year, day).to_string(), "2027-01-01");
        let may = NaiveDate::from_ymd_opt(2026, 5, 31).unwrap_or_default();
        assert_eq!(
            limit_next(LimitPeriod::Month, may).to_string(),
            "2026-06-01"
        );
        assert_eq!(limit_next(LimitPeriod::Year, may).to_string(), "2027-01-01");
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

    #[test]
    fn a_month_is_parsed_once_and_written_back_the_same() {
        let month = Month::parse("2026-02").unwrap_or_else(|| unreachable!());
        assert_eq!(
            month.first(),
            NaiveDate::from_ymd_opt(2026, 2, 1).unwrap_or_default()
        );
        assert_eq!(
            month.next(),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default()
        );
        assert_eq!(month.to_string(), "2026-02");
        assert_eq!(
            Month::of(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default()).to_string(),
            "2026-12"
        );
        for bad in [
            "2026-13",
            "2026-2",
            "26-02",
            "2026-02-01",
            "",
            "２０２６-02",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad:?}");
            assert!(Month::try_from(bad.to_owned()).is_err());
        }
    }
}
