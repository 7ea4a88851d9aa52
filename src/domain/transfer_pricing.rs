//! Transfer pricing (§6): choosing the policy for a trade, the unit transfer price each method
//! gives, the markup on cost a price achieves, the arm's-length check, and the year-end
//! true-up that brings a pair's achieved markup back into its range.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::codes::CurrencyCode;
use super::money;
use super::Overflow;

/// Decimal places of a reported markup: enough that cost × (1 + markup / 100) gives back the
/// price on its minor-unit grid for any cost below 10⁹.
pub const MARKUP_SCALE: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// unit_cost × (1 + p/100)
    CostPlus,
    /// list_price × (1 − p/100)
    ResaleMinus,
    /// Comparable uncontrolled price: list_price × (1 + p/100); p may be negative.
    ComparablePrice,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CostPlus => "cost_plus",
            Self::ResaleMinus => "resale_minus",
            Self::ComparablePrice => "comparable_price",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "cost_plus" => Some(Self::CostPlus),
            "resale_minus" => Some(Self::ResaleMinus),
            "comparable_price" => Some(Self::ComparablePrice),
            _ => None,
        }
    }
}

/// The arm's-length range of markup on cost, in percent; either bound may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarkupRange {
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

impl MarkupRange {
    pub fn is_set(&self) -> bool {
        self.min.is_some() || self.max.is_some()
    }

    /// Whether a markup lies outside the range. A line without a markup (zero cost) is outside
    /// any set range: it cannot be shown to be within it.
    pub fn excludes(&self, markup: Option<Decimal>) -> bool {
        match markup {
            None => self.is_set(),
            Some(markup) => {
                self.min.is_some_and(|min| markup < min) || self.max.is_some_and(|max| markup > max)
            }
        }
    }
}

/// What the selection needs to know of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTerms {
    pub id: Uuid,
    pub buyer_company_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub method: Method,
    pub percent: Decimal,
    pub range: MarkupRange,
    pub target_markup_percent: Option<Decimal>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

impl PolicyTerms {
    /// buyer + category (3), buyer (2), category (1), seller-wide (0).
    pub fn specificity(&self) -> u8 {
        match (self.buyer_company_id.is_some(), self.category_id.is_some()) {
            (true, true) => 3,
            (true, false) => 2,
            (false, true) => 1,
            (false, false) => 0,
        }
    }

    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// Whether the policy applies to a trade with `buyer` of a product in `category`.
    pub fn covers(&self, buyer: Uuid, category: Uuid) -> bool {
        self.buyer_company_id.is_none_or(|b| b == buyer)
            && self.category_id.is_none_or(|c| c == category)
    }
}

/// The policy (of one seller) that prices a trade with `buyer` of a product in `category` on
/// `date`: the most specific one valid that day; ties go to the latest `valid_from`.
pub fn select(
    policies: &[PolicyTerms],
    buyer: Uuid,
    category: Uuid,
    date: NaiveDate,
) -> Option<&PolicyTerms> {
    policies
        .iter()
        .filter(|p| p.is_valid_on(date) && p.covers(buyer, category))
        .max_by(|a, b| {
            a.specificity()
                .cmp(&b.specificity())
                .then(a.valid_from.cmp(&b.valid_from))
                // Fully tied (impossible in the database, which forbids overlaps): the lower id,
                // so the choice never depends on the input order.
                .then(b.id.cmp(&a.id))
        })
}

/// The unit transfer price a method gives, rounded half away from zero to the document
/// currency's minor unit (never below zero).
pub fn unit_transfer_price(
    method: Method,
    percent: Decimal,
    unit_cost: Decimal,
    list_price: Decimal,
    currency: CurrencyCode,
) -> Result<Decimal, Overflow> {
    let factor = Decimal::ONE_HUNDRED;
    let (base, multiplier) = match method {
        Method::CostPlus => (unit_cost, money::add(factor, percent)?),
        Method::ResaleMinus => (list_price, money::sub(factor, percent)?),
        Method::ComparablePrice => (list_price, money::add(factor, percent)?),
    };
    let price = money::div(money::mul(base, multiplier)?, factor)?;
    Ok(money::round(price.max(Decimal::ZERO), currency))
}

/// Markup on cost achieved by `price`, in percent, to [`MARKUP_SCALE`] places; `None` when
/// the cost is zero.
pub fn markup_percent(price: Decimal, cost: Decimal) -> Result<Option<Decimal>, Overflow> {
    if cost <= Decimal::ZERO {
        return Ok(None);
    }
    let ratio = money::div(price, cost)?;
    Ok(Some(
        money::mul(money::sub(ratio, Decimal::ONE)?, Decimal::ONE_HUNDRED)?
            .round_dp_with_strategy(MARKUP_SCALE, RoundingStrategy::MidpointAwayFromZero)
            .normalize(),
    ))
}

/// One priced intercompany line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub policy_id: Uuid,
    pub method: Method,
    /// The policy's percent and range as they were when the line was priced.
    pub percent: Decimal,
    pub range: MarkupRange,
    pub unit_cost: Decimal,
    pub unit_transfer_price: Decimal,
    pub line_total: Decimal,
    pub markup_percent: Option<Decimal>,
    pub outside_arms_length_range: bool,
}

/// Prices `quantity` units of a product under `policy`.
pub fn price_line(
    policy: &PolicyTerms,
    unit_cost: Decimal,
    list_price: Decimal,
    quantity: u32,
    currency: CurrencyCode,
) -> Result<PricedLine, Overflow> {
    let unit_cost = money::round(unit_cost, currency);
    let price = unit_transfer_price(
        policy.method,
        policy.percent,
        unit_cost,
        list_price,
        currency,
    )?;
    let markup = markup_percent(price, unit_cost)?;
    Ok(PricedLine {
        policy_id: policy.id,
        method: policy.method,
        percent: policy.percent,
        range: policy.range,
        unit_cost,
        unit_transfer_price: price,
        line_total: money::mul(price, Decimal::from(quantity))?,
        markup_percent: markup,
        outside_arms_length_range: policy.range.excludes(markup),
    })
}

/// The year's shipped lines of one seller/buyer pair under one policy, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearTotals {
    /// Σ line_total (document currency) of the shipped lines as priced at shipment; true-ups
    /// already booked are not part of it.
    pub revenue: Decimal,
    /// Σ quantity × unit_cost.
    pub cost: Decimal,
}

impl YearTotals {
    /// Σ revenue / Σ cost − 1, in percent (`None` without cost).
    pub fn achieved_markup(&self) -> Result<Option<Decimal>, Overflow> {
        markup_percent(self.revenue, self.cost)
    }
}

/// The adjustment (document currency, signed: negative lowers the seller's revenue) that
/// brings the year's achieved markup to the policy's target, or without a target to the
/// nearest bound; zero when it is already inside the range (or nothing can be measured).
pub fn true_up(
    totals: YearTotals,
    range: MarkupRange,
    target: Option<Decimal>,
    currency: CurrencyCode,
) -> Result<Decimal, Overflow> {
    let Some(achieved) = totals.achieved_markup()? else {
        return Ok(Decimal::ZERO);
    };
    if !range.excludes(Some(achieved)) {
        return Ok(Decimal::ZERO);
    }
    let goal = match target {
        Some(target) => target,
        None => match (range.min, range.max) {
            (Some(min), _) if achieved < min => min,
            (_, Some(max)) => max,
            (Some(min), None) => min,
            (None, None) => return Ok(Decimal::ZERO),
        },
    };
    let wanted = money::round(
        money::div(
            money::mul(totals.cost, money::add(Decimal::ONE_HUNDRED, goal)?)?,
            Decimal::ONE_HUNDRED,
        )?,
        currency,
    );
    money::sub(wanted, totals.revenue)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    // The checked functions, unwrapped: no value in these tests comes near an overflow.
    fn unit_transfer_price(
        method: Method,
        percent: Decimal,
        unit_cost: Decimal,
        list_price: Decimal,
        currency: CurrencyCode,
    ) -> Decimal {
        super::unit_transfer_price(method, percent, unit_cost, list_price, currency).unwrap()
    }
    fn markup_percent(price: Decimal, cost: Decimal) -> Option<Decimal> {
        super::markup_percent(price, cost).unwrap()
    }
    fn price_line(
        policy: &PolicyTerms,
        unit_cost: Decimal,
        list_price: Decimal,
        quantity: u32,
        currency: CurrencyCode,
    ) -> PricedLine {
        super::price_line(policy, unit_cost, list_price, quantity, currency).unwrap()
    }
    fn true_up(
        totals: YearTotals,
        range: MarkupRange,
        target: Option<Decimal>,
        currency: CurrencyCode,
    ) -> Decimal {
        super::true_up(totals, range, target, currency).unwrap()
    }
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }
    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    fn policy(buyer: Option<Uuid>, category: Option<Uuid>, from: &str) -> PolicyTerms {
        PolicyTerms {
            id: crate::domain::test_id(),
            buyer_company_id: buyer,
            category_id: category,
            method: Method::CostPlus,
            percent: dec!(10),
            range: MarkupRange::default(),
            target_markup_percent: None,
            valid_from: day(from),
            valid_to: None,
        }
    }

    #[test]
    fn each_method_prices_as_the_spec_says() {
        // Cost 80.00, list 120.00.
        let price =
            |method, percent| unit_transfer_price(method, percent, dec!(80), dec!(120), usd());
        assert_eq!(price(Method::CostPlus, dec!(25)), dec!(100.00));
        assert_eq!(price(Method::ResaleMinus, dec!(20)), dec!(96.00));
        assert_eq!(price(Method::ComparablePrice, dec!(-5)), dec!(114.00));
        assert_eq!(price(Method::ComparablePrice, dec!(2.5)), dec!(123.00));
        // Half away from zero on the minor unit: 33.33 × 1.15 = 38.3295 → 38.33.
        assert_eq!(
            unit_transfer_price(Method::CostPlus, dec!(15), dec!(33.33), dec!(0), usd()),
            dec!(38.33)
        );
    }

    #[test]
    fn the_most_specific_valid_policy_wins_and_ties_go_to_the_latest_start() {
        let (buyer, other_buyer, category, other_category) = (
            crate::domain::test_id(),
            crate::domain::test_id(),
            crate::domain::test_id(),
            crate::domain::test_id(),
        );
        let seller_wide = policy(None, None, "2026-01-01");
        let by_category = policy(None, Some(category), "2026-01-01");
        let by_buyer = policy(Some(buyer), None, "2026-01-01");
        let by_both = policy(Some(buyer), Some(category), "2026-06-01");
        let all = vec![
            seller_wide.clone(),
            by_category.clone(),
            by_buyer.clone(),
            by_both.clone(),
        ];
        let on = |date: &str, b, c| select(&all, b, c, day(date)).map(|p| p.id);
        assert_eq!(on("2026-07-01", buyer, category), Some(by_both.id));
        // Before the buyer+category policy starts, the buyer's applies.
        assert_eq!(on("2026-05-31", buyer, category), Some(by_buyer.id));
        assert_eq!(on("2026-07-01", buyer, other_category), Some(by_buyer.id));
        assert_eq!(
            on("2026-07-01", other_buyer, category),
            Some(by_category.id)
        );
        assert_eq!(
            on("2026-07-01", other_buyer, other_category),
            Some(seller_wide.id)
        );
        assert_eq!(on("2025-12-31", buyer, category), None);

        // Same specificity: the later valid_from wins.
        let older = policy(None, None, "2026-01-01");
        let newer = policy(None, None, "2026-03-01");
        let pair = [newer.clone(), older];
        assert_eq!(
            select(&pair, buyer, category, day("2026-04-01")).map(|p| p.id),
            Some(newer.id)
        );
    }

    #[test]
    fn validity_dates_are_inclusive() {
        let mut bounded = policy(None, None, "2026-01-01");
        bounded.valid_to = Some(day("2026-01-31"));
        assert!(bounded.is_valid_on(day("2026-01-01")));
        assert!(bounded.is_valid_on(day("2026-01-31")));
        assert!(!bounded.is_valid_on(day("2026-02-01")));
        assert!(!bounded.is_valid_on(day("2025-12-31")));
    }

    #[test]
    fn lines_outside_the_arms_length_range_are_flagged_not_blocked() {
        let mut terms = policy(None, None, "2026-01-01");
        terms.percent = dec!(28);
        terms.range = MarkupRange {
            min: Some(dec!(5)),
            max: Some(dec!(15)),
        };
        let line = price_line(&terms, dec!(50.00), dec!(90.00), 3, usd());
        assert_eq!(line.unit_transfer_price, dec!(64.00));
        assert_eq!(line.line_total, dec!(192.00));
        assert_eq!(line.markup_percent, Some(dec!(28)));
        assert!(line.outside_arms_length_range);
        terms.percent = dec!(15);
        assert!(!price_line(&terms, dec!(50.00), dec!(90.00), 3, usd()).outside_arms_length_range);
        // No cost: no markup, and a set range cannot be shown to hold.
        let free = price_line(&terms, dec!(0), dec!(90.00), 1, usd());
        assert_eq!(free.markup_percent, None);
        assert!(free.outside_arms_length_range);
    }

    #[test]
    fn a_true_up_brings_the_year_to_its_target() {
        // 28 % achieved on 10 000.00 of cost, range 5–15 %, target 10 %: revenue must fall by
        // 1 800.00 to 11 000.00.
        let totals = YearTotals {
            revenue: dec!(12800.00),
            cost: dec!(10000.00),
        };
        let range = MarkupRange {
            min: Some(dec!(5)),
            max: Some(dec!(15)),
        };
        let adjustment = true_up(totals, range, Some(dec!(10)), usd());
        assert_eq!(adjustment, dec!(-1800.00));
        let after = YearTotals {
            revenue: totals.revenue + adjustment,
            cost: totals.cost,
        };
        assert_eq!(after.achieved_markup().unwrap(), Some(dec!(10)));
        // Without a target: the nearest bound (15 % above, 5 % below).
        assert_eq!(true_up(totals, range, None, usd()), dec!(-1300.00));
        let low = YearTotals {
            revenue: dec!(10200.00),
            cost: dec!(10000.00),
        };
        assert_eq!(true_up(low, range, None, usd()), dec!(300.00));
        // Inside the range: nothing to do.
        let inside = YearTotals {
            revenue: dec!(11000.00),
            cost: dec!(10000.00),
        };
        assert_eq!(true_up(inside, range, Some(dec!(10)), usd()), Decimal::ZERO);
    }

    proptest! {
        /// The markup reported for a line reproduces its price: cost × (1 + markup/100), on the
        /// minor-unit grid, is the unit transfer price.
        #[test]
        fn the_reported_markup_reproduces_the_price(
            cost_cents in 1i64..100_000_000_000,
            percent_bp in -9_999i64..1_000_000,
            method in 0u8..3,
            list_cents in 0i64..100_000_000_000,
        ) {
            let method = [Method::CostPlus, Method::ResaleMinus, Method::ComparablePrice][usize::from(method)];
            let percent = Decimal::new(percent_bp, 2).min(dec!(100));
            let cost = Decimal::new(cost_cents, 2);
            let price = unit_transfer_price(method, percent, cost, Decimal::new(list_cents, 2), usd());
            let markup = markup_percent(price, cost);
            prop_assert!(markup.is_some());
            let markup = markup.unwrap_or_default();
            let reproduced = money::round(cost * (Decimal::ONE_HUNDRED + markup) / Decimal::ONE_HUNDRED, usd());
            prop_assert_eq!(reproduced, price);
        }

        #[test]
        fn a_true_up_lands_inside_the_range(
            cost_cents in 100i64..1_000_000_000,
            revenue_cents in 0i64..2_000_000_000,
            min in 0i64..20,
            width in 0i64..20,
        ) {
            let range = MarkupRange {
                min: Some(Decimal::from(min)),
                max: Some(Decimal::from(min + width)),
            };
            let totals = YearTotals {
                revenue: Decimal::new(revenue_cents, 2),
                cost: Decimal::new(cost_cents, 2),
            };
            let adjustment = true_up(totals, range, None, usd());
            let after = YearTotals { revenue: totals.revenue + adjustment, cost: totals.cost };
            let markup = after.achieved_markup().unwrap().unwrap_or_default();
            // Within what one cent of rounding moves the markup.
            let cent = dec!(0.01) / totals.cost * Decimal::ONE_HUNDRED;
            prop_assert!(markup >= Decimal::from(min) - cent && markup <= Decimal::from(min + width) + cent,
                "{markup} outside {min}..{}", min + width);
        }
    }
}
