//! The service's clock. Business dates (order dates, booking dates, "today") come from here, so
//! tests can put the service on another day; in production it is the system clock. Nothing
//! else reads the system time (clippy's `disallowed-methods` refuses `Utc::now` elsewhere):
//! what must follow real elapsed time whatever day the service is on, such as a token's
//! lifetime, reads [`wall_time`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// The real time, never moved by a test: for lifetimes that are security, not business dates
/// (a sign-in token issued "yesterday" by a test's clock must still expire on the real clock).
#[allow(clippy::disallowed_methods)]
pub fn wall_time() -> DateTime<Utc> {
    Utc::now()
}

/// System time plus an offset (zero unless a test moves it). Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        wall_time() + TimeDelta::seconds(self.offset_seconds.load(Ordering::Relaxed))
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Moves the clock to `instant`; time then runs on from there.
    pub fn set_now(&self, instant: DateTime<Utc>) {
        let offset = instant.signed_duration_since(wall_time()).num_seconds();
        self.offset_seconds.store(offset, Ordering::Relaxed);
    }

    /// Moves the clock to noon (UTC) of `day`; time then runs on from there.
    pub fn set_today(&self, day: NaiveDate) {
        let noon = day
            .and_hms_opt(12, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_else(wall_time);
        let offset = noon.signed_duration_since(wall_time()).num_seconds();
        self.offset_seconds.store(offset, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_moved_clock_is_shared_by_its_clones() {
        let clock = Clock::system();
        let seen_by_server = clock.clone();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
        clock.set_today(day);
        assert_eq!(seen_by_server.today(), day);
    }
}
