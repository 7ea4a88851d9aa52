//! Payroll deduction (§5): an employer's pay calendar, the split of an order over
//! instalments, the rules that allow or refuse paying from wages, and what cancelling an
//! order or ending employment appends to a schedule. Schedules are append-only: a change is
//! new lines, each cancelled line naming the line it replaces.

use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use rust_decimal::{Decimal, RoundingStrategy};

use super::kinds::{DeductionKind, DeductionStatus, PayFrequency};
use super::money::{self, Money};
use super::Overflow;

/// Instalment counts a company may offer: 1 to 60 pay dates.
pub const MAX_INSTALMENTS: u32 = 60;

/// When an employer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayCalendar {
    pub frequency: PayFrequency,
    pub first_pay_date: NaiveDate,
}

/// The day `day` of the month `months` after `start`'s, or that month's last day.
fn day_of_month(start: NaiveDate, months: u32, day: u32) -> Option<NaiveDate> {
    let first = start.with_day(1)?.checked_add_months(Months::new(months))?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?.day();
    first.with_day(day.min(last))
}

impl PayCalendar {
    /// The `k`-th pay date of the calendar (the 0th is `first_pay_date`).
    fn nth(self, k: u32) -> Option<NaiveDate> {
        let first = self.first_pay_date;
        match self.frequency {
            PayFrequency::Monthly => day_of_month(first, k, first.day()),
            PayFrequency::Biweekly => {
                first.checked_add_signed(TimeDelta::days(i64::from(k).checked_mul(14)?))
            }
            PayFrequency::SemiMonthly => {
                let day = first.day();
                let (early, late) = if day <= 15 {
                    (day, day.checked_add(15)?)
                } else {
                    (day.checked_sub(15)?, day)
                };
                // From the 16th on, the first pay date is the month's later one.
                let k = if day <= 15 { k } else { k.checked_add(1)? };
                let month = k / 2;
                let day = if k % 2 == 0 { early } else { late };
                day_of_month(first, month, day)
            }
        }
    }

    /// A calendar index at or before the first pay date after `day`, so that a search from it
    /// is short however far `day` lies from `first_pay_date`.
    fn index_near(self, day: NaiveDate) -> u32 {
        let days = day.signed_duration_since(self.first_pay_date).num_days();
        let per = match self.frequency {
            PayFrequency::Monthly => 31,
            PayFrequency::SemiMonthly => 16,
            PayFrequency::Biweekly => 14,
        };
        u32::try_from(days.checked_div(per).unwrap_or(0).saturating_sub(1)).unwrap_or(0)
    }

    /// The pay dates strictly after `day`, in order.
    pub fn dates_after(self, day: NaiveDate) -> impl Iterator<Item = NaiveDate> {
        (self.index_near(day)..)
            .map_while(move |k| self.nth(k))
            .filter(move |date| *date > day)
    }

    /// The first pay date after `day`.
    pub fn next_after(self, day: NaiveDate) -> Option<NaiveDate> {
        self.dates_after(day).next()
    }
}

/// An employing company's payroll-deduction offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub enabled: bool,
    pub min_tenure_months: u32,
    /// The instalment counts an employee may choose.
    pub instalments: Vec<u32>,
    /// The most of one period's pay that deductions due on one pay date may take, in percent.
    pub max_share_of_pay: Decimal,
    pub calendar: PayCalendar,
}

/// What the employer knows of the employee that payroll deduction depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Employment {
    pub hired_on: Option<NaiveDate>,
    /// Gross pay per pay period, in the employer's currency.
    pub pay_per_period: Option<Money>,
}

/// Why an order cannot be paid from wages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The employer does not offer it, or it cannot apply to this order; the reason says why.
    Unavailable(String),
    /// Employed for less than the employer's minimum; `eligible_from` when the hire date is
    /// known.
    TenureTooShort {
        eligible_from: Option<NaiveDate>,
    },
    InstalmentsNotAllowed {
        allowed: Vec<u32>,
    },
    /// The deductions due on `pay_date` would pass `limit`.
    ShareExceeded {
        pay_date: NaiveDate,
        limit: Money,
    },
    Overflow,
}

impl From<Overflow> for Refusal {
    fn from(_: Overflow) -> Self {
        Self::Overflow
    }
}

/// An order's schedule as placed: one instalment per pay date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub lines: Vec<(NaiveDate, Money)>,
    /// The most that may be due on any one pay date (the share of pay).
    pub limit: Money,
}

/// `total` split over `n` parts by largest remainder (earlier parts take the leftover minor
/// units): the parts differ by at most one minor unit and sum exactly to `total`.
pub fn split(total: Money, n: u32) -> Result<Vec<Money>, Overflow> {
    let n = usize::try_from(n).map_err(|_| Overflow)?;
    total.allocate(&vec![Decimal::ONE; n])
}

/// The schedule of an order of `total` over `instalments` pay dates after `today`, or why
/// the employer's terms refuse it. The share of pay is checked here line by line against
/// nothing else due; what other orders already take is added where it is kept (the
/// database), so that racing orders cannot together pass it.
pub fn plan(
    terms: Option<&Terms>,
    employment: Employment,
    total: Money,
    instalments: u32,
    today: NaiveDate,
) -> Result<Plan, Refusal> {
    let Some(terms) = terms.filter(|t| t.enabled) else {
        return Err(Refusal::Unavailable(
            "your employer does not offer payroll deduction".into(),
        ));
    };
    let Some(pay) = employment.pay_per_period else {
        return Err(Refusal::Unavailable(
            "your pay per period is not recorded; ask your HR administrator".into(),
        ));
    };
    if pay.currency() != total.currency() {
        return Err(Refusal::Unavailable(format!(
            "this order is in {} and your pay in {}: only orders in your pay's currency can be \
             deducted",
            total.currency(),
            pay.currency()
        )));
    }
    if terms.min_tenure_months > 0 {
        let eligible_from = employment
            .hired_on
            .and_then(|hired| hired.checked_add_months(Months::new(terms.min_tenure_months)));
        if eligible_from.is_none_or(|from| from > today) {
            return Err(Refusal::TenureTooShort { eligible_from });
        }
    }
    if !terms.instalments.contains(&instalments) {
        let mut allowed = terms.instalments.clone();
        allowed.sort_unstable();
        return Err(Refusal::InstalmentsNotAllowed { allowed });
    }
    let limit = share_of(pay, terms.max_share_of_pay)?;
    let dates: Vec<NaiveDate> = terms
        .calendar
        .dates_after(today)
        .take(usize::try_from(instalments).map_err(|_| Overflow)?)
        .collect();
    if u32::try_from(dates.len()).ok() != Some(instalments) {
        return Err(Refusal::Unavailable(
            "the pay calendar has no more pay dates".into(),
        ));
    }
    let lines: Vec<(NaiveDate, Money)> =
        dates.into_iter().zip(split(total, instalments)?).collect();
    if let Some((pay_date, _)) = lines
        .iter()
        .find(|(_, amount)| amount.amount() > limit.amount())
    {
        return Err(Refusal::ShareExceeded {
            pay_date: *pay_date,
            limit,
        });
    }
    Ok(Plan { lines, limit })
}

/// `percent` % of `pay`, rounded down to the minor unit: deductions may reach it, never pass.
pub fn share_of(pay: Money, percent: Decimal) -> Result<Money, Overflow> {
    let exact = money::div(money::mul(pay.amount(), percent)?, Decimal::ONE_HUNDRED)?;
    let mut floor =
        exact.round_dp_with_strategy(pay.currency().exponent(), RoundingStrategy::ToZero);
    floor.rescale(pay.currency().exponent());
    Ok(Money::new(floor, pay.currency()))
}

/// A stored line of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub line_no: i32,
    pub pay_date: NaiveDate,
    pub amount: Decimal,
    pub kind: DeductionKind,
    /// `Due` or `Cancelled` (deducted is a matter of the day, see [`shown_status`]).
    pub status: DeductionStatus,
    /// The line this one replaces.
    pub replaces: Option<i32>,
}

/// A line to append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLine {
    pub pay_date: NaiveDate,
    pub amount: Decimal,
    pub kind: DeductionKind,
    pub status: DeductionStatus,
    pub replaces: Option<i32>,
}

/// The schedule as it stands: the lines no later line replaces, by pay date.
pub fn current(lines: &[Line]) -> Vec<Line> {
    let mut current: Vec<Line> = lines
        .iter()
        .filter(|line| !lines.iter().any(|l| l.replaces == Some(line.line_no)))
        .copied()
        .collect();
    current.sort_by_key(|l| (l.pay_date, l.line_no));
    current
}

/// A line's status on `today`: a due line whose pay date has come has been deducted.
pub fn shown_status(line: &Line, today: NaiveDate) -> DeductionStatus {
    match line.status {
        DeductionStatus::Due if line.pay_date <= today => DeductionStatus::Deducted,
        status => status,
    }
}

/// What stands due after `today`, as cancellations of those lines, with their sum.
fn cancel_future(lines: &[Line], today: NaiveDate) -> Result<(Vec<NewLine>, Decimal), Overflow> {
    let future: Vec<Line> = current(lines)
        .into_iter()
        .filter(|l| l.status == DeductionStatus::Due && l.pay_date > today)
        .collect();
    let sum = money::sum(future.iter().map(|l| l.amount))?;
    let cancelled = future
        .iter()
        .map(|l| NewLine {
            pay_date: l.pay_date,
            amount: l.amount,
            kind: l.kind,
            status: DeductionStatus::Cancelled,
            replaces: Some(l.line_no),
        })
        .collect();
    Ok((cancelled, sum))
}

/// The order is cancelled on `today`: every line still to come is cancelled, and what was
/// deducted already is refunded as one negative line on `next_pay_date`.
pub fn cancel(
    lines: &[Line],
    today: NaiveDate,
    next_pay_date: NaiveDate,
) -> Result<Vec<NewLine>, Overflow> {
    let (mut appended, _) = cancel_future(lines, today)?;
    let deducted = money::sum(
        current(lines)
            .iter()
            .filter(|l| l.status == DeductionStatus::Due && l.pay_date <= today)
            .map(|l| l.amount),
    )?;
    if !deducted.is_zero() {
        appended.push(NewLine {
            pay_date: next_pay_date,
            amount: money::sub(Decimal::ZERO, deducted)?,
            kind: DeductionKind::Refund,
            status: DeductionStatus::Due,
            replaces: None,
        });
    }
    Ok(appended)
}

/// Employment ends on `today`: the lines still to come are cancelled and their sum is due at
/// once, in one line on `next_pay_date` (the final pay), never dropped.
pub fn accelerate(
    lines: &[Line],
    today: NaiveDate,
    next_pay_date: NaiveDate,
) -> Result<Vec<NewLine>, Overflow> {
    let (mut appended, balance) = cancel_future(lines, today)?;
    let already_one =
        appended.len() == 1 && appended.first().map(|l| l.pay_date) == Some(next_pay_date);
    if already_one || appended.is_empty() {
        // Nothing to bring forward: the one line left is due on the final pay date already.
        return Ok(Vec::new());
    }
    if balance.is_zero() {
        return Ok(appended);
    }
    appended.push(NewLine {
        pay_date: next_pay_date,
        amount: balance,
        // A refund still to come stays a refund, paid with the final pay.
        kind: if balance.is_sign_negative() {
            DeductionKind::Refund
        } else {
            DeductionKind::Balance
        },
        status: DeductionStatus::Due,
        replaces: None,
    });
    Ok(appended)
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::as_conversions
)]
mod tests {
    use super::*;
    use crate::domain::codes::CurrencyCode;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(
            amount,
            CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!()),
        )
    }

    fn date(raw: &str) -> NaiveDate {
        raw.parse().unwrap_or_else(|_| unreachable!())
    }

    fn terms(frequency: PayFrequency, first: &str) -> Terms {
        Terms {
            enabled: true,
            min_tenure_months: 6,
            instalments: vec![1, 6, 12],
            max_share_of_pay: dec!(10),
            calendar: PayCalendar {
                frequency,
                first_pay_date: date(first),
            },
        }
    }

    fn employed() -> Employment {
        Employment {
            hired_on: Some(date("2025-01-15")),
            pay_per_period: Some(usd(dec!(5000.00))),
        }
    }

    #[test]
    fn twelve_hundred_over_twelve_is_twelve_hundreds() {
        let parts = split(usd(dec!(1200.00)), 12).unwrap_or_default();
        assert_eq!(parts, vec![usd(dec!(100.00)); 12]);
    }

    #[test]
    fn a_thousand_over_twelve_sums_exactly() {
        let parts = split(usd(dec!(1000.00)), 12).unwrap_or_default();
        let amounts: Vec<Decimal> = parts.iter().map(|m| m.amount()).collect();
        assert_eq!(amounts.iter().filter(|a| **a == dec!(83.34)).count(), 4);
        assert_eq!(amounts.iter().filter(|a| **a == dec!(83.33)).count(), 8);
        assert_eq!(amounts.iter().copied().sum::<Decimal>(), dec!(1000.00));
    }

    #[test]
    fn monthly_dates_keep_the_day_or_the_month_end() {
        let calendar = PayCalendar {
            frequency: PayFrequency::Monthly,
            first_pay_date: date("2026-01-31"),
        };
        let dates: Vec<NaiveDate> = calendar.dates_after(date("2026-01-31")).take(3).collect();
        assert_eq!(
            dates,
            vec![date("2026-02-28"), date("2026-03-31"), date("2026-04-30")]
        );
        assert_eq!(
            calendar.next_after(date("2025-06-01")),
            Some(date("2026-01-31"))
        );
    }

    #[test]
    fn semi_monthly_pays_fifteen_days_apart() {
        let early = PayCalendar {
            frequency: PayFrequency::SemiMonthly,
            first_pay_date: date("2026-01-15"),
        };
        let dates: Vec<NaiveDate> = early.dates_after(date("2026-01-20")).take(3).collect();
        assert_eq!(
            dates,
            vec![date("2026-01-30"), date("2026-02-15"), date("2026-02-28")]
        );
        let late = PayCalendar {
            frequency: PayFrequency::SemiMonthly,
            first_pay_date: date("2026-01-31"),
        };
        let dates: Vec<NaiveDate> = late.dates_after(date("2026-01-01")).take(3).collect();
        assert_eq!(
            dates,
            vec![date("2026-01-31"), date("2026-02-16"), date("2026-02-28")]
        );
    }

    #[test]
    fn biweekly_counts_fourteen_days_even_years_later() {
        let calendar = PayCalendar {
            frequency: PayFrequency::Biweekly,
            first_pay_date: date("2026-01-02"),
        };
        let next = calendar.next_after(date("2030-06-01"));
        let next = next.unwrap_or_else(|| unreachable!());
        assert_eq!(
            next.signed_duration_since(date("2026-01-02")).num_days() % 14,
            0
        );
        assert!(next > date("2030-06-01") && next <= date("2030-06-15"));
    }

    #[test]
    fn the_plan_names_each_refusal() {
        let t = terms(PayFrequency::Monthly, "2026-01-25");
        let today = date("2026-12-07");
        let total = usd(dec!(1200.00));
        let ok = plan(Some(&t), employed(), total, 12, today);
        let ok = ok.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.lines.len(), 12);
        assert_eq!(ok.lines[0].0, date("2026-12-25"));
        assert_eq!(ok.limit, usd(dec!(500.00)));
        let disabled = Terms {
            enabled: false,
            ..t.clone()
        };
        assert!(matches!(
            plan(Some(&disabled), employed(), total, 12, today),
            Err(Refusal::Unavailable(_))
        ));
        assert!(matches!(
            plan(None, employed(), total, 12, today),
            Err(Refusal::Unavailable(_))
        ));
        let new_hire = Employment {
            hired_on: Some(date("2026-09-01")),
            ..employed()
        };
        assert_eq!(
            plan(Some(&t), new_hire, total, 12, today),
            Err(Refusal::TenureTooShort {
                eligible_from: Some(date("2027-03-01"))
            })
        );
        assert_eq!(
            plan(Some(&t), employed(), total, 7, today),
            Err(Refusal::InstalmentsNotAllowed {
                allowed: vec![1, 6, 12]
            })
        );
        assert_eq!(
            plan(Some(&t), employed(), usd(dec!(600.00)), 1, today),
            Err(Refusal::ShareExceeded {
                pay_date: date("2026-12-25"),
                limit: usd(dec!(500.00))
            })
        );
    }

    fn line(no: i32, pay_date: &str, amount: Decimal) -> Line {
        Line {
            line_no: no,
            pay_date: date(pay_date),
            amount,
            kind: DeductionKind::Instalment,
            status: DeductionStatus::Due,
            replaces: None,
        }
    }

    fn apply(lines: &mut Vec<Line>, appended: Vec<NewLine>) {
        for new in appended {
            let no = lines.len() as i32 + 1;
            lines.push(Line {
                line_no: no,
                pay_date: new.pay_date,
                amount: new.amount,
                kind: new.kind,
                status: new.status,
                replaces: new.replaces,
            });
        }
    }

    fn standing(lines: &[Line]) -> Decimal {
        current(lines)
            .iter()
            .filter(|l| l.status == DeductionStatus::Due)
            .map(|l| l.amount)
            .sum()
    }

    fn three() -> Vec<Line> {
        vec![
            line(1, "2026-01-31", dec!(33.34)),
            line(2, "2026-02-28", dec!(33.33)),
            line(3, "2026-03-31", dec!(33.33)),
        ]
    }

    #[test]
    fn cancelling_before_the_first_pay_date_cancels_everything() {
        let mut lines = three();
        let appended = cancel(&lines, date("2026-01-10"), date("2026-01-31"));
        apply(&mut lines, appended.unwrap_or_default());
        assert_eq!(standing(&lines), dec!(0));
        assert!(current(&lines)
            .iter()
            .all(|l| l.status == DeductionStatus::Cancelled));
    }

    #[test]
    fn cancelling_later_refunds_what_was_deducted() {
        let mut lines = three();
        let appended = cancel(&lines, date("2026-02-10"), date("2026-02-28"));
        apply(&mut lines, appended.unwrap_or_default());
        let now = current(&lines);
        assert_eq!(standing(&lines), dec!(0));
        let refund = now.iter().find(|l| l.kind == DeductionKind::Refund);
        assert_eq!(
            refund.map(|l| (l.pay_date, l.amount)),
            Some((date("2026-02-28"), dec!(-33.34)))
        );
        assert_eq!(
            shown_status(&now[0], date("2026-02-10")),
            DeductionStatus::Deducted
        );
    }

    #[test]
    fn ending_employment_brings_the_balance_to_the_final_pay() {
        let mut lines = three();
        let appended = accelerate(&lines, date("2026-02-01"), date("2026-02-28"));
        apply(&mut lines, appended.unwrap_or_default());
        let now = current(&lines);
        assert_eq!(standing(&lines), dec!(100.00));
        let balance = now.iter().find(|l| l.kind == DeductionKind::Balance);
        assert_eq!(
            balance.map(|l| (l.pay_date, l.amount)),
            Some((date("2026-02-28"), dec!(66.66)))
        );
    }

    proptest! {
        #[test]
        fn every_schedule_sums_to_its_amount(cents in 0i64..=9_999_999_999_999i64, n in 1u32..=60) {
            let total = usd(Decimal::new(cents, 2));
            let parts = split(total, n).unwrap_or_default();
            prop_assert_eq!(parts.len(), n as usize);
            prop_assert_eq!(parts.iter().map(|p| p.amount()).sum::<Decimal>(), total.amount());
            let high = parts.iter().map(|p| p.amount()).max().unwrap_or_default();
            let low = parts.iter().map(|p| p.amount()).min().unwrap_or_default();
            prop_assert!(high - low <= dec!(0.01));
        }

        #[test]
        fn cancelling_or_ending_keeps_the_sums(cents in 1i64..=10_000_000i64, n in 1u32..=24,
                                               paid in 0usize..=24, cancel_after_end in any::<bool>()) {
            let total = usd(Decimal::new(cents, 2));
            let calendar = PayCalendar { frequency: PayFrequency::Monthly, first_pay_date: date("2026-01-31") };
            let dates: Vec<NaiveDate> = calendar.dates_after(date("2026-01-01")).take(n as usize).collect();
            let mut lines: Vec<Line> = dates.iter().zip(split(total, n).unwrap_or_default())
                .enumerate()
                .map(|(i, (d, m))| Line { line_no: i as i32 + 1, pay_date: *d, amount: m.amount(),
                    kind: DeductionKind::Instalment, status: DeductionStatus::Due, replaces: None })
                .collect();
            let paid = paid.min(n as usize);
            let today = if paid == 0 { date("2026-01-02") } else { dates[paid - 1] };
            let next = calendar.next_after(today).unwrap_or_default();
            let appended = accelerate(&lines, today, next).unwrap_or_default();
            apply(&mut lines, appended);
            prop_assert_eq!(standing(&lines), total.amount());
            if cancel_after_end {
                let appended = cancel(&lines, today, next).unwrap_or_default();
                apply(&mut lines, appended);
                prop_assert_eq!(standing(&lines), Decimal::ZERO);
            }
        }
    }
}
