//! Money rules: half-away-from-zero rounding to a currency's minor unit, formatting on the
//! minor-unit grid, and largest-remainder allocation so that parts always sum to the whole.

use rust_decimal::{Decimal, RoundingStrategy};

use super::codes::CurrencyCode;

/// Rounds half away from zero to the currency's minor unit (15 % of 0.30 = 0.045 → 0.05).
pub fn round(amount: Decimal, currency: CurrencyCode) -> Decimal {
    let mut rounded =
        amount.round_dp_with_strategy(currency.exponent(), RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(currency.exponent());
    rounded
}

/// Formats an amount with exactly the currency's minor-unit digits ("12.50", JPY "1250").
pub fn format(amount: Decimal, currency: CurrencyCode) -> String {
    round(amount, currency).to_string()
}

/// Splits `total` (on the minor-unit grid) over parts in proportion to `weights` by largest
/// remainder: each part gets its floor share, and the leftover minor units go one by one to
/// the parts with the largest remainders (ties to the earlier part). The parts sum to `total`.
/// With all-zero weights, the total is spread evenly.
pub fn allocate(total: Decimal, weights: &[Decimal], currency: CurrencyCode) -> Vec<Decimal> {
    if weights.is_empty() {
        return Vec::new();
    }
    let unit = Decimal::new(1, currency.exponent());
    let weight_sum: Decimal = weights.iter().copied().sum();
    let equal = Decimal::ONE;
    let weights: Vec<Decimal> = if weight_sum.is_zero() {
        vec![equal; weights.len()]
    } else {
        weights.to_vec()
    };
    let weight_sum: Decimal = weights.iter().copied().sum();
    let units_total = (total / unit).trunc();
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for weight in &weights {
        let exact = units_total * weight / weight_sum;
        let floor = exact.floor();
        parts.push(floor);
        remainders.push(exact - floor);
    }
    let assigned: Decimal = parts.iter().copied().sum();
    let mut leftover = units_total - assigned;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
    for index in order {
        if leftover <= Decimal::ZERO {
            break;
        }
        parts[index] += Decimal::ONE;
        leftover -= Decimal::ONE;
    }
    parts
        .into_iter()
        .map(|units| {
            let mut amount = units * unit;
            amount.rescale(currency.exponent());
            amount
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }

    fn jpy() -> CurrencyCode {
        CurrencyCode::parse("JPY").unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn rounding_is_half_away_from_zero_not_bankers() {
        assert_eq!(round(dec!(0.045), usd()), dec!(0.05));
        assert_eq!(round(dec!(0.025), usd()), dec!(0.03));
        assert_eq!(round(dec!(-0.025), usd()), dec!(-0.03));
        assert_eq!(round(dec!(1249.5), jpy()), dec!(1250));
        assert_eq!(format(dec!(12.5), usd()), "12.50");
        assert_eq!(format(dec!(1250), jpy()), "1250");
    }

    #[test]
    fn a_cap_over_three_equal_lines_is_split_167_167_166() {
        let parts = allocate(dec!(5.00), &[dec!(10), dec!(10), dec!(10)], usd());
        assert_eq!(parts, vec![dec!(1.67), dec!(1.67), dec!(1.66)]);
    }

    proptest! {
        #[test]
        fn allocation_sums_exactly(total_cents in 0i64..10_000_000, weights in proptest::collection::vec(0i64..100_000, 1..50)) {
            let total = Decimal::new(total_cents, 2);
            let weights: Vec<Decimal> = weights.into_iter().map(|w| Decimal::new(w, 2)).collect();
            let parts = allocate(total, &weights, usd());
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().copied().sum::<Decimal>(), total);
            prop_assert!(parts.iter().all(|p| *p >= Decimal::ZERO && p.scale() == 2));
        }

        #[test]
        fn rounding_is_idempotent_and_on_the_grid(units in -1_000_000_000i64..1_000_000_000, scale in 0u32..8) {
            let amount = Decimal::new(units, scale);
            let once = round(amount, usd());
            prop_assert_eq!(round(once, usd()), once);
            prop_assert_eq!(once.scale(), 2);
            prop_assert!((once - amount).abs() <= dec!(0.005));
        }
    }
}

/// Parses a non-negative amount given as a decimal string on the currency's minor-unit grid.
pub fn parse_amount(raw: &str, currency: CurrencyCode) -> Result<Decimal, String> {
    let value: Decimal = raw
        .trim()
        .parse()
        .map_err(|_| "must be a decimal string such as \"12.50\"".to_owned())?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err("must not be negative".into());
    }
    if value.scale() > currency.exponent() && round(value, currency) != value {
        return Err(format!(
            "has more decimals than {} allows ({})",
            currency,
            currency.exponent()
        ));
    }
    Ok(round(value, currency))
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn amounts_must_fit_the_currency() {
        let usd = CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!());
        let jpy = CurrencyCode::parse("JPY").unwrap_or_else(|| unreachable!());
        assert_eq!(
            parse_amount("12.5", usd).map(|d| d.to_string()),
            Ok("12.50".into())
        );
        assert!(parse_amount("12.505", usd).is_err());
        assert!(parse_amount("-1", usd).is_err());
        assert!(parse_amount("abc", usd).is_err());
        assert!(parse_amount("1250.5", jpy).is_err());
        assert_eq!(
            parse_amount("1250", jpy).map(|d| d.to_string()),
            Ok("1250".into())
        );
    }
}
