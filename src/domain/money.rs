//! Money rules: strict parsing of amounts and percentages, half-away-from-zero rounding to a
//! currency's minor unit, formatting on the minor-unit grid, and largest-remainder allocation
//! so that parts always sum to the whole. Arithmetic is checked: an overflow is an
//! [`Overflow`] error, never a panic (and with the input bounds below it cannot happen).

use std::str::FromStr as _;

use rust_decimal::{Decimal, RoundingStrategy};

use super::codes::CurrencyCode;
use super::Overflow;

/// Most integer digits an amount may have (`9999999999999.99`).
pub const AMOUNT_INTEGER_DIGITS: usize = 13;
/// Most integer and decimal digits a percentage may have (`9999.9999`).
pub const PERCENT_INTEGER_DIGITS: usize = 4;
pub const PERCENT_DECIMALS: u32 = 4;

/// Parses a plain decimal string: an optional `-`, 1 to `max_integer` digits, and optionally a
/// `.` followed by 1 to `max_decimals` digits. Nothing else: no exponent, `+`, `_`, spaces,
/// leading `.` or trailing `.`; too many decimals are refused, never rounded away.
pub fn parse_plain_decimal(
    raw: &str,
    max_integer: usize,
    max_decimals: u32,
) -> Result<Decimal, String> {
    let shape = || {
        if max_decimals == 0 {
            format!("must be a whole number written as a plain decimal string of at most {max_integer} digits, such as \"1250\"")
        } else {
            format!(
                "must be a plain decimal string with at most {max_integer} integer digits and {max_decimals} decimals, such as \"12.{}\"",
                "5".repeat(usize::try_from(max_decimals).unwrap_or(0))
            )
        }
    };
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((integer, fraction)) => (integer, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let well_formed = digits(integer)
        && integer.len() <= max_integer
        && fraction.is_none_or(|f| {
            digits(f) && usize::try_from(max_decimals).is_ok_and(|max| f.len() <= max)
        });
    if !well_formed {
        return Err(shape());
    }
    Decimal::from_str(raw).map_err(|_| shape())
}

/// An amount in `currency`: a plain decimal string with at most 13 integer digits and at most
/// the currency's minor-unit digits (`"12.50"`, JPY `"1250"`). Negative amounts parse; callers
/// that need a non-negative amount use [`parse_non_negative_amount`].
pub fn parse_amount(raw: &str, currency: CurrencyCode) -> Result<Decimal, String> {
    let value = parse_plain_decimal(raw, AMOUNT_INTEGER_DIGITS, currency.exponent())?;
    Ok(round(value, currency))
}

/// [`parse_amount`], refusing amounts below zero.
pub fn parse_non_negative_amount(raw: &str, currency: CurrencyCode) -> Result<Decimal, String> {
    let value = parse_amount(raw, currency)?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err("must not be negative".into());
    }
    Ok(value)
}

/// A percentage: a plain decimal string with at most 4 integer digits and 4 decimals.
pub fn parse_percent(raw: &str) -> Result<Decimal, String> {
    parse_plain_decimal(raw, PERCENT_INTEGER_DIGITS, PERCENT_DECIMALS)
}

/// The largest amount [`parse_amount`] accepts in `currency` (and its negative the smallest).
pub fn max_amount(currency: CurrencyCode) -> Decimal {
    let text = format!(
        "{}{}{}",
        "9".repeat(AMOUNT_INTEGER_DIGITS),
        if currency.exponent() > 0 { "." } else { "" },
        "9".repeat(usize::try_from(currency.exponent()).unwrap_or(0))
    );
    Decimal::from_str(&text).unwrap_or(Decimal::MAX)
}

/// `a + b`, or [`Overflow`].
pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

/// `a - b`, or [`Overflow`].
pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

/// `a × b`, or [`Overflow`].
pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_mul(b).ok_or(Overflow)
}

/// `a ÷ b`, or [`Overflow`] (also for a zero divisor).
pub fn div(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_div(b).ok_or(Overflow)
}

/// The sum of `values`, or [`Overflow`].
pub fn sum(values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, Overflow> {
    values.into_iter().try_fold(Decimal::ZERO, add)
}

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
pub fn allocate(
    total: Decimal,
    weights: &[Decimal],
    currency: CurrencyCode,
) -> Result<Vec<Decimal>, Overflow> {
    if weights.is_empty() {
        return Ok(Vec::new());
    }
    let unit = Decimal::new(1, currency.exponent());
    let weights: Vec<Decimal> = if sum(weights.iter().copied())?.is_zero() {
        vec![Decimal::ONE; weights.len()]
    } else {
        weights.to_vec()
    };
    let weight_sum = sum(weights.iter().copied())?;
    let units_total = div(total, unit)?.trunc();
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for weight in &weights {
        // Exact when the product fits a Decimal; for very large amounts the share is taken
        // first (28 significant digits), and the correction below keeps the sum exact.
        let exact = match units_total.checked_mul(*weight) {
            Some(product) => div(product, weight_sum)?,
            None => mul(units_total, div(*weight, weight_sum)?)?,
        };
        let floor = exact.floor();
        parts.push(floor);
        remainders.push(sub(exact, floor)?);
    }
    let mut leftover = sub(units_total, sum(parts.iter().copied())?)?;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    let remainder = |index: usize| remainders.get(index).copied().unwrap_or_default();
    order.sort_by(|&a, &b| remainder(b).cmp(&remainder(a)).then(a.cmp(&b)));
    for &index in &order {
        if leftover <= Decimal::ZERO {
            break;
        }
        if let Some(part) = parts.get_mut(index) {
            *part = add(*part, Decimal::ONE)?;
            leftover = sub(leftover, Decimal::ONE)?;
        }
    }
    // Only reachable through the approximate share: take back from the smallest remainders.
    for &index in order.iter().rev() {
        if leftover >= Decimal::ZERO {
            break;
        }
        if let Some(part) = parts.get_mut(index).filter(|part| **part > Decimal::ZERO) {
            *part = sub(*part, Decimal::ONE)?;
            leftover = add(leftover, Decimal::ONE)?;
        }
    }
    parts
        .into_iter()
        .map(|units| {
            let mut amount = mul(units, unit)?;
            amount.rescale(currency.exponent());
            Ok(amount)
        })
        .collect()
}

/// An amount with its currency. Built rounded to the currency's minor unit (half away from
/// zero), so every `Money` sits on its currency's grid; arithmetic is checked and refuses to
/// mix currencies, and its `Display` is the API's string ("12.50", JPY "1250").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: CurrencyCode,
}

/// Why a money computation failed: an overflow, or two currencies mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error(transparent)]
    Overflow(#[from] Overflow),
    #[error("{0} and {1} cannot be added or compared")]
    CurrencyMismatch(CurrencyCode, CurrencyCode),
}

impl From<MoneyError> for Overflow {
    /// Mixed currencies are a programming error inside the domain; callers that cannot mix
    /// them (one order, one currency) report it like an overflow: an internal error.
    fn from(_: MoneyError) -> Self {
        Overflow
    }
}

impl Money {
    /// `amount` rounded to `currency`'s minor unit.
    pub fn new(amount: Decimal, currency: CurrencyCode) -> Self {
        Self {
            amount: round(amount, currency),
            currency,
        }
    }

    pub fn zero(currency: CurrencyCode) -> Self {
        Self::new(Decimal::ZERO, currency)
    }

    pub fn amount(self) -> Decimal {
        self.amount
    }

    pub fn currency(self) -> CurrencyCode {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.amount.is_zero()
    }

    fn same(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same(other)?;
        Ok(Self::new(add(self.amount, other.amount)?, self.currency))
    }

    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.same(other)?;
        Ok(Self::new(sub(self.amount, other.amount)?, self.currency))
    }

    /// The smaller of two amounts of one currency.
    pub fn min(self, other: Self) -> Result<Self, MoneyError> {
        self.same(other)?;
        Ok(if other.amount < self.amount {
            other
        } else {
            self
        })
    }

    /// This amount times `factor` (a quantity), rounded.
    pub fn times(self, factor: Decimal) -> Result<Self, Overflow> {
        Ok(Self::new(mul(self.amount, factor)?, self.currency))
    }

    /// `percent` % of this amount, rounded half away from zero (15 % of 0.30 → 0.05).
    pub fn percent(self, percent: Decimal) -> Result<Self, Overflow> {
        Ok(Self::new(
            div(mul(self.amount, percent)?, Decimal::ONE_HUNDRED)?,
            self.currency,
        ))
    }

    /// This amount at `rate` in `to`, rounded to `to`'s minor unit.
    pub fn convert(self, rate: Decimal, to: CurrencyCode) -> Result<Self, Overflow> {
        Ok(Self::new(mul(self.amount, rate)?, to))
    }

    /// The sum of `values`, all in `currency`.
    pub fn sum(
        currency: CurrencyCode,
        values: impl IntoIterator<Item = Self>,
    ) -> Result<Self, MoneyError> {
        values
            .into_iter()
            .try_fold(Self::zero(currency), Self::checked_add)
    }

    /// Splits this amount over parts in proportion to `weights` by largest remainder
    /// ([`allocate`]): the parts sum to the whole.
    pub fn allocate(self, weights: &[Decimal]) -> Result<Vec<Self>, Overflow> {
        Ok(allocate(self.amount, weights, self.currency)?
            .into_iter()
            .map(|part| Self::new(part, self.currency))
            .collect())
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.amount)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod money_type_tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn code(raw: &str) -> CurrencyCode {
        CurrencyCode::parse(raw).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn money_sits_on_its_currency_grid_and_never_mixes_currencies() {
        let (usd, eur, jpy) = (code("USD"), code("EUR"), code("JPY"));
        assert_eq!(Money::new(dec!(0.045), usd).to_string(), "0.05");
        assert_eq!(Money::new(dec!(12.5), usd).to_string(), "12.50");
        assert_eq!(Money::new(dec!(1062.5), jpy).to_string(), "1063");
        assert_eq!(
            Money::new(dec!(1), usd).checked_add(Money::new(dec!(1), eur)),
            Err(MoneyError::CurrencyMismatch(usd, eur))
        );
        let sum = Money::new(dec!(0.10), usd).checked_add(Money::new(dec!(0.20), usd));
        assert_eq!(sum.map(Money::amount), Ok(dec!(0.30)));
        // 15 % of 0.30 is 0.045: half away from zero.
        assert_eq!(
            Money::new(dec!(0.30), usd)
                .percent(dec!(15))
                .map(Money::amount),
            Ok(dec!(0.05))
        );
        // Converted and rounded in the target currency.
        let yen = Money::new(dec!(10.00), usd).convert(dec!(155.555), jpy);
        assert_eq!(
            yen.map(|m| (m.amount(), m.currency())),
            Ok((dec!(1556), jpy))
        );
        let parts = Money::new(dec!(5.00), usd).allocate(&[dec!(1), dec!(1), dec!(1)]);
        let parts: Vec<String> = parts
            .unwrap_or_default()
            .iter()
            .map(Money::to_string)
            .collect();
        assert_eq!(parts, vec!["1.67", "1.67", "1.66"]);
        assert_eq!(Money::sum(usd, []).map(Money::is_zero), Ok(true));
    }
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
        assert_eq!(parts, Ok(vec![dec!(1.67), dec!(1.67), dec!(1.66)]));
    }

    proptest! {
        #[test]
        fn allocation_sums_exactly(total_cents in 0i64..10_000_000, weights in proptest::collection::vec(0i64..100_000, 1..50)) {
            let total = Decimal::new(total_cents, 2);
            let weights: Vec<Decimal> = weights.into_iter().map(|w| Decimal::new(w, 2)).collect();
            let parts = allocate(total, &weights, usd()).unwrap_or_default();
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

#[cfg(test)]
mod parse_tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn currency(code: &str) -> CurrencyCode {
        CurrencyCode::parse(code).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn amounts_are_plain_decimals_within_the_currency() {
        let usd = currency("USD");
        let jpy = currency("JPY");
        assert_eq!(
            parse_amount("12.5", usd).map(|d| d.to_string()),
            Ok("12.50".into())
        );
        assert_eq!(
            parse_amount("-0.01", usd).map(|d| d.to_string()),
            Ok("-0.01".into())
        );
        assert_eq!(
            parse_amount("1250", jpy).map(|d| d.to_string()),
            Ok("1250".into())
        );
        assert_eq!(
            parse_amount("9999999999999.99", usd),
            Ok(dec!(9999999999999.99))
        );
        assert_eq!(max_amount(usd), dec!(9999999999999.99));
        assert_eq!(max_amount(jpy), dec!(9999999999999));
        for bad in [
            "12.505",
            "10.505",
            "1.000000000000000000000000000001",
            "12.500",
            "1e3",
            "1E3",
            "1_000.00",
            "+5.00",
            " 5.00",
            "5.00 ",
            "5 .00",
            ".5",
            "5.",
            "-",
            "",
            "--1",
            "0x10",
            "1,5",
            "NaN",
            "10000000000000",
            "1000000000000000000000000000",
            "١٢",
        ] {
            assert!(parse_amount(bad, usd).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_amount("1250.5", jpy).is_err());
        assert!(parse_non_negative_amount("-1", usd).is_err());
        assert_eq!(parse_non_negative_amount("-0", usd), Ok(dec!(0.00)));
    }

    #[test]
    fn percentages_have_at_most_four_and_four_digits() {
        assert_eq!(parse_percent("15"), Ok(dec!(15)));
        assert_eq!(parse_percent("12.5"), Ok(dec!(12.5)));
        assert_eq!(parse_percent("9999.9999"), Ok(dec!(9999.9999)));
        for bad in ["10000", "1.00001", "1e1", "+1", " 1", "1_0", "15%", ""] {
            assert!(parse_percent(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
