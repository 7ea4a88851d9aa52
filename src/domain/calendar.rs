//! Business dates in the group's time zone (§2): a group's day, month and year begin at local
//! midnight of its `time_zone` (an IANA name on the root company, `UTC` by default), whatever
//! the server's or the database session's zone. Daylight-saving gaps start a day at the first
//! instant that exists.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::period::Month;

/// A group's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessZone(Tz);

impl Default for BusinessZone {
    fn default() -> Self {
        Self(Tz::UTC)
    }
}

/// A request carries a zone parsed: an unknown name (or one over 64 characters) is refused where
/// it is read, naming its field.
impl<'de> serde::Deserialize<'de> for BusinessZone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Some(name.as_str())
            .filter(|name| name.len() <= 64)
            .and_then(Self::parse)
            .ok_or_else(|| {
                serde::de::Error::custom("must be an IANA time zone name such as America/New_York")
            })
    }
}

impl serde::Serialize for BusinessZone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl BusinessZone {
    /// The zone named `name` (an IANA name such as `America/New_York`), if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse::<Tz>().ok().map(Self)
    }

    /// Its IANA name, as PostgreSQL's `AT TIME ZONE` takes it.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The group's date at the instant `now`.
    pub fn today(self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.0).date_naive()
    }

    /// The group's business day at the instant `now`: its date, with the zone that dates it.
    pub fn day(self, now: DateTime<Utc>) -> BusinessDay {
        BusinessDay {
            zone: self,
            today: self.today(now),
        }
    }

    /// The instant the group's day `day` begins.
    pub fn start(self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        // Local midnight may not exist (a zone that springs forward at midnight): the day then
        // begins at the first local hour that does.
        (0..24)
            .filter_map(|hour| midnight.checked_add_signed(chrono::TimeDelta::hours(hour)))
            .filter_map(|local| self.0.from_local_datetime(&local).earliest())
            .next()
            .map(|local| local.with_timezone(&Utc))
            .unwrap_or_else(|| midnight.and_utc())
    }

    /// The instants the group's `month` begins and the next one begins: a list's `period`
    /// filter takes what was created in between.
    pub fn month(self, month: Month) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start(month.first()), self.start(month.next()))
    }
}

/// A group's "today" together with its zone: what a report needs to bound its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessDay {
    pub zone: BusinessZone,
    pub today: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn a_month_of_auckland_runs_between_its_local_midnights() {
        let auckland = BusinessZone::parse("Pacific/Auckland").unwrap_or_default();
        let april = Month::of(day("2026-04-01"));
        let (from, to) = auckland.month(april);
        // 13 hours ahead on 1 April (daylight saving), 12 on 1 May.
        assert_eq!(from.to_rfc3339(), "2026-03-31T11:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-04-30T12:00:00+00:00");
    }

    #[test]
    fn new_years_night_in_new_york_is_still_the_old_year() {
        let ny = BusinessZone::parse("America/New_York").unwrap_or_default();
        let late = "2027-01-01T03:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default();
        assert_eq!(ny.today(late), day("2026-12-31"));
        assert_eq!(
            ny.start(day("2027-01-01")),
            "2027-01-01T05:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap_or_default()
        );
        assert_eq!(BusinessZone::default().today(late), day("2027-01-01"));
    }

    #[test]
    fn a_day_without_a_midnight_begins_at_its_first_hour() {
        // Santiago springs forward at midnight: 2026-09-06 00:00 does not exist there.
        let santiago = BusinessZone::parse("America/Santiago").unwrap_or_default();
        let start = santiago.start(day("2026-09-06"));
        assert_eq!(santiago.today(start), day("2026-09-06"));
        assert!(santiago.today(start - chrono::TimeDelta::seconds(1)) < day("2026-09-06"));
    }

    #[test]
    fn only_iana_names_parse() {
        assert!(BusinessZone::parse("Europe/Berlin").is_some());
        assert!(BusinessZone::parse("UTC").is_some());
        assert!(BusinessZone::parse("Mars/Olympus").is_none());
        assert!(BusinessZone::parse("").is_none());
    }
}
