//! Pricing an employee order under the annual allowance: each line's discount is rounded once,
//! and when the order's discount (in the group currency) exceeds what is left of the allowance,
//! it is cut to exactly what is left and spread over the lines by largest remainder.

use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::codes::CurrencyCode;
use super::money::{self, Money};
use super::Overflow;

#[derive(Debug, Clone)]
pub struct LineInput {
    pub product_id: Uuid,
    pub quantity: u32,
    /// In the order currency.
    pub unit_list_price: Money,
    pub discount_percent: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: Uuid,
    pub quantity: u32,
    pub unit_list_price: Money,
    pub discount_percent: Decimal,
    pub line_list_total: Money,
    pub line_discount: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedOrder {
    pub lines: Vec<PricedLine>,
    pub list_total: Money,
    pub discount_total: Money,
    pub total: Money,
    /// The discount in the group currency (what the allowance is charged).
    pub allowance_applied: Money,
    /// Order currency → group currency.
    pub fx_rate: Decimal,
}

/// Prices `lines` in `currency` (every line's price is in it). `remaining` is what is left of
/// the allowance in the group currency (`None` = unlimited); `fx_rate` converts the order
/// currency to the group currency.
pub fn price_order(
    lines: &[LineInput],
    currency: CurrencyCode,
    group_currency: CurrencyCode,
    fx_rate: Decimal,
    remaining: Option<Decimal>,
) -> Result<PricedOrder, Overflow> {
    let full: Vec<(Money, Money)> = lines
        .iter()
        .map(|line| {
            let list_total = line.unit_list_price.times(Decimal::from(line.quantity))?;
            let discount = list_total.percent(line.discount_percent)?.min(list_total)?;
            Ok((list_total, discount))
        })
        .collect::<Result<_, Overflow>>()?;
    let full_discount = Money::sum(currency, full.iter().map(|(_, d)| *d))?;
    let full_in_group = full_discount.convert(fx_rate, group_currency)?;
    // What is left stays exact: a cap off the currency's grid (a tier allowance set before the
    // group's currency changed) must never be rounded up into a charge above it.
    let remaining = remaining.map(|r| r.max(Decimal::ZERO));

    let (discounts, allowance_applied) = match remaining {
        Some(left) if full_in_group.amount() > left => {
            // The most discount (in the order currency, rounded down) whose group value fits.
            let mut allowed = money::div(left, fx_rate)?
                .round_dp_with_strategy(currency.exponent(), RoundingStrategy::ToZero);
            let unit = Decimal::new(1, currency.exponent());
            while allowed > Decimal::ZERO
                && Money::new(allowed, currency)
                    .convert(fx_rate, group_currency)?
                    .amount()
                    > left
            {
                allowed = money::sub(allowed, unit)?;
            }
            let allowed = Money::new(allowed.max(Decimal::ZERO), currency).min(full_discount)?;
            let weights: Vec<Decimal> = full.iter().map(|(_, d)| d.amount()).collect();
            let parts = if full_discount.is_zero() {
                vec![Money::zero(currency); full.len()]
            } else {
                allowed.allocate(&weights)?
            };
            // The loop above keeps the converted discount at or under `left`; the floor of
            // `left` on the grid bounds it once more.
            let ceiling = Money::new(
                left.round_dp_with_strategy(group_currency.exponent(), RoundingStrategy::ToZero),
                group_currency,
            );
            (
                parts,
                allowed.convert(fx_rate, group_currency)?.min(ceiling)?,
            )
        }
        _ => (full.iter().map(|(_, d)| *d).collect(), full_in_group),
    };

    let priced: Vec<PricedLine> = lines
        .iter()
        .zip(full.iter().zip(discounts))
        .map(|(line, ((list_total, _), discount))| {
            Ok(PricedLine {
                product_id: line.product_id,
                quantity: line.quantity,
                unit_list_price: line.unit_list_price,
                discount_percent: line.discount_percent,
                line_list_total: *list_total,
                line_discount: discount,
                line_total: list_total.checked_sub(discount)?,
            })
        })
        .collect::<Result<_, Overflow>>()?;
    let list_total = Money::sum(currency, priced.iter().map(|l| l.line_list_total))?;
    let discount_total = Money::sum(currency, priced.iter().map(|l| l.line_discount))?;
    Ok(PricedOrder {
        lines: priced,
        list_total,
        discount_total,
        total: list_total.checked_sub(discount_total)?,
        allowance_applied,
        fx_rate,
    })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }

    fn priced(
        lines: &[LineInput],
        currency: CurrencyCode,
        group_currency: CurrencyCode,
        fx_rate: Decimal,
        remaining: Option<Decimal>,
    ) -> PricedOrder {
        price_order(lines, currency, group_currency, fx_rate, remaining).unwrap()
    }

    fn line(price: Decimal, quantity: u32, percent: Decimal) -> LineInput {
        line_in(price, usd(), quantity, percent)
    }

    fn line_in(
        price: Decimal,
        currency: CurrencyCode,
        quantity: u32,
        percent: Decimal,
    ) -> LineInput {
        LineInput {
            product_id: crate::domain::test_id(),
            quantity,
            unit_list_price: Money::new(price, currency),
            discount_percent: percent,
        }
    }

    #[test]
    fn without_a_cap_each_line_gets_its_rounded_discount() {
        let order = priced(
            &[line(dec!(0.30), 3, dec!(15)), line(dec!(10), 1, dec!(20))],
            usd(),
            usd(),
            Decimal::ONE,
            None,
        );
        assert_eq!(order.lines[0].line_discount.amount(), dec!(0.14)); // 0.90 × 15 % = 0.135 → 0.14
        assert_eq!(order.lines[1].line_discount.amount(), dec!(2.00));
        assert_eq!(order.list_total.amount(), dec!(10.90));
        assert_eq!(order.discount_total.amount(), dec!(2.14));
        assert_eq!(order.total.amount(), dec!(8.76));
        assert_eq!(order.allowance_applied.amount(), dec!(2.14));
    }

    #[test]
    fn a_cap_of_five_over_three_equal_lines_gives_167_167_166() {
        let lines = [
            line(dec!(50), 1, dec!(20)),
            line(dec!(50), 1, dec!(20)),
            line(dec!(50), 1, dec!(20)),
        ];
        let order = priced(&lines, usd(), usd(), Decimal::ONE, Some(dec!(5.00)));
        let discounts: Vec<Decimal> = order
            .lines
            .iter()
            .map(|l| l.line_discount.amount())
            .collect();
        assert_eq!(discounts, vec![dec!(1.67), dec!(1.67), dec!(1.66)]);
        assert_eq!(order.discount_total.amount(), dec!(5.00));
        assert_eq!(order.allowance_applied.amount(), dec!(5.00));
        assert_eq!(order.total.amount(), dec!(145.00));
    }

    #[test]
    fn nothing_left_means_no_discount() {
        let order = priced(
            &[line(dec!(100), 1, dec!(15))],
            usd(),
            usd(),
            Decimal::ONE,
            Some(Decimal::ZERO),
        );
        assert_eq!(order.discount_total.amount(), dec!(0.00));
        assert_eq!(order.allowance_applied.amount(), dec!(0.00));
        assert_eq!(order.total.amount(), dec!(100.00));
    }

    #[test]
    fn a_cap_off_the_currency_grid_is_never_rounded_up() {
        let jpy = CurrencyCode::parse("JPY").unwrap_or_else(|| unreachable!());
        // 100.50 left of a cap set before the group's currency became JPY.
        let order = priced(
            &[line_in(dec!(1000), jpy, 1, dec!(20))],
            jpy,
            jpy,
            Decimal::ONE,
            Some(dec!(100.50)),
        );
        assert_eq!(order.allowance_applied.amount(), dec!(100));
        assert_eq!(order.discount_total.amount(), dec!(100));
    }

    #[test]
    fn a_foreign_currency_order_is_capped_in_the_group_currency() {
        let eur = CurrencyCode::parse("EUR").unwrap_or_else(|| unreachable!());
        // 1 EUR = 1.10 USD; 10.00 USD left; full discount 20.00 EUR = 22.00 USD.
        let order = priced(
            &[line_in(dec!(100), eur, 1, dec!(20))],
            eur,
            usd(),
            dec!(1.10),
            Some(dec!(10.00)),
        );
        assert_eq!(order.discount_total.amount(), dec!(9.09));
        assert_eq!(order.allowance_applied.amount(), dec!(10.00));
        assert!(order.allowance_applied.amount() <= dec!(10.00));
    }

    proptest! {
        #[test]
        fn lines_always_sum_to_the_totals(
            lines in proptest::collection::vec((1i64..1_000_000, 1u32..1000, 0i64..=100), 1..50),
            cap in proptest::option::of(0i64..10_000_000),
        ) {
            let inputs: Vec<LineInput> = lines.iter().map(|(cents, q, p)| line(Decimal::new(*cents, 2), *q, Decimal::from(*p))).collect();
            let remaining = cap.map(|c| Decimal::new(c, 2));
            let order = priced(&inputs, usd(), usd(), Decimal::ONE, remaining);
            prop_assert_eq!(order.lines.iter().map(|l| l.line_list_total.amount()).sum::<Decimal>(), order.list_total.amount());
            prop_assert_eq!(order.lines.iter().map(|l| l.line_discount.amount()).sum::<Decimal>(), order.discount_total.amount());
            prop_assert_eq!(order.lines.iter().map(|l| l.line_total.amount()).sum::<Decimal>(), order.total.amount());
            prop_assert_eq!(order.list_total.amount() - order.discount_total.amount(), order.total.amount());
            for l in &order.lines {
                prop_assert!(l.line_discount.amount() >= Decimal::ZERO && l.line_discount.amount() <= l.line_list_total.amount());
                prop_assert_eq!(l.line_discount.amount().scale(), 2);
            }
            if let Some(left) = remaining {
                prop_assert!(order.allowance_applied.amount() <= left);
            }
            prop_assert_eq!(order.allowance_applied.amount(), order.discount_total.amount());
        }
    }

    /// A currency of each minor-unit size, and the largest amount in minor units it accepts.
    fn any_currency() -> impl Strategy<Value = (CurrencyCode, i64)> {
        prop_oneof![Just("JPY"), Just("USD"), Just("KWD")].prop_map(|code| {
            let currency = CurrencyCode::parse(code).unwrap();
            let max_units =
                money::max_amount(currency) * Decimal::new(10i64.pow(currency.exponent()), 0);
            (
                currency,
                i64::try_from(max_units.normalize().mantissa()).unwrap(),
            )
        })
    }

    /// Minor units in `0..=max`, half of the time at or next to the bounds.
    fn units(max: i64) -> impl Strategy<Value = i64> {
        prop_oneof![Just(max), Just(0), Just(1), max - 1000..=max, 0..=max]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Over the whole range the input rules allow (§2: 13 integer digits and the
        /// currency's decimals, quantities 1–1000, percentages 0–100 with 4 decimals, up to
        /// 50 lines), pricing, allocation and the allowance cap never overflow and still add up.
        #[test]
        fn the_whole_allowed_range_prices_without_overflow(
            ((currency, _max), lines, cap, fx_units, group_is_usd) in any_currency().prop_flat_map(|(currency, max)| (
                Just((currency, max)),
                proptest::collection::vec((units(max), prop_oneof![Just(1000u32), 1u32..=1000], prop_oneof![Just(1_000_000i64), 0i64..=1_000_000]), 1..=50),
                proptest::option::of(units(max)),
                prop_oneof![Just(1i64), Just(99_999_999i64), 1i64..=99_999_999],
                any::<bool>(),
            )),
        ) {
            let group = if group_is_usd { usd() } else { currency };
            let fx_rate = Decimal::new(fx_units, 4);
            let inputs: Vec<LineInput> = lines
                .iter()
                .map(|(price, quantity, percent)| {
                    line_in(Decimal::new(*price, currency.exponent()), currency, *quantity, Decimal::new(*percent, 4))
                })
                .collect();
            let remaining = cap.map(|c| Decimal::new(c, group.exponent()));
            let order = price_order(&inputs, currency, group, fx_rate, remaining);
            prop_assert!(order.is_ok(), "overflow pricing {inputs:?}");
            let order = order.unwrap();
            prop_assert_eq!(order.lines.iter().map(|l| l.line_discount.amount()).sum::<Decimal>(), order.discount_total.amount());
            prop_assert_eq!(order.list_total.amount() - order.discount_total.amount(), order.total.amount());
            if let Some(left) = remaining {
                prop_assert!(order.allowance_applied.amount() <= left);
            }
            for input in &inputs {
                prop_assert!(crate::domain::pricing::employee_unit_price(input.unit_list_price, input.discount_percent).is_ok());
            }
            let weights: Vec<Decimal> = order.lines.iter().map(|l| l.line_list_total.amount()).collect();
            let allocated = money::allocate(order.list_total.amount(), &weights, currency);
            prop_assert!(allocated.is_ok());
            prop_assert_eq!(allocated.unwrap().into_iter().sum::<Decimal>(), order.list_total.amount());
        }
    }
}
