//! FX rules (IAS 21 as the spec applies it): which stored rate converts a pair, converting a
//! document amount into a company's currency, and the realised difference at settlement.

use rust_decimal::Decimal;

use super::codes::CurrencyCode;
use super::money;
use super::Overflow;

/// A rate as stored for a pair, or for its inverse pair (`inverted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRate {
    pub rate: Decimal,
    pub inverted: bool,
}

/// The rate that converts one unit of the requested base into the quote currency: the stored
/// rate itself, or 1 / the inverse pair's rate at full decimal precision (28 digits: rounding
/// it to a few places would move large converted amounts by more than a minor unit). `None`
/// for a non-positive stored rate (the database refuses those).
pub fn effective_rate(stored: StoredRate) -> Option<Decimal> {
    if stored.rate <= Decimal::ZERO {
        return None;
    }
    if !stored.inverted {
        return Some(stored.rate.normalize());
    }
    Decimal::ONE
        .checked_div(stored.rate)
        .map(|inverse| inverse.normalize())
}

/// `amount` (in the rate's base currency) in the quote currency `to`, rounded once to its
/// minor unit, half away from zero.
pub fn convert(amount: Decimal, rate: Decimal, to: CurrencyCode) -> Result<Decimal, Overflow> {
    Ok(money::round(money::mul(amount, rate)?, to))
}

/// The buyer's realised FX difference when a document of `document_amount` booked as
/// `booked` (buyer currency) is paid at `settle_rate`: positive is a loss (it cost more).
pub fn realised_difference(
    document_amount: Decimal,
    booked: Decimal,
    settle_rate: Decimal,
    buyer_currency: CurrencyCode,
) -> Result<Decimal, Overflow> {
    money::sub(
        convert(document_amount, settle_rate, buyer_currency)?,
        booked,
    )
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    // The checked functions, unwrapped: no value in these tests comes near an overflow.
    fn convert(amount: Decimal, rate: Decimal, to: CurrencyCode) -> Decimal {
        super::convert(amount, rate, to).unwrap()
    }
    fn realised_difference(
        document_amount: Decimal,
        booked: Decimal,
        settle_rate: Decimal,
        buyer_currency: CurrencyCode,
    ) -> Decimal {
        super::realised_difference(document_amount, booked, settle_rate, buyer_currency).unwrap()
    }

    fn usd() -> CurrencyCode {
        CurrencyCode::parse("USD").unwrap_or_else(|| unreachable!())
    }
    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").unwrap_or_else(|| unreachable!())
    }
    fn jpy() -> CurrencyCode {
        CurrencyCode::parse("JPY").unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn a_stored_rate_is_used_as_it_is() {
        let rate = effective_rate(StoredRate {
            rate: dec!(0.9200),
            inverted: false,
        });
        assert_eq!(rate, Some(dec!(0.92)));
    }

    #[test]
    fn the_inverse_pair_gives_one_over_its_rate() {
        // Only EUR→USD 1.25 is stored; USD→EUR is 0.8.
        let rate = effective_rate(StoredRate {
            rate: dec!(1.25),
            inverted: true,
        });
        assert_eq!(rate, Some(dec!(0.8)));
        // 1 / 3 to full precision.
        let third = effective_rate(StoredRate {
            rate: dec!(3),
            inverted: true,
        });
        assert_eq!(third, Some(dec!(0.3333333333333333333333333333)));
        assert_eq!(
            effective_rate(StoredRate {
                rate: Decimal::ZERO,
                inverted: true
            }),
            None
        );
    }

    #[test]
    fn conversion_rounds_once_to_the_target_minor_unit() {
        assert_eq!(convert(dec!(1000.00), dec!(0.92), eur()), dec!(920.00));
        assert_eq!(convert(dec!(10.005), dec!(1), usd()), dec!(10.01));
        assert_eq!(convert(dec!(99.99), dec!(151.237), jpy()), dec!(15122));
    }

    #[test]
    fn a_weaker_buyer_currency_at_settlement_is_a_loss() {
        // 1 000.00 USD booked at 0.90 EUR (900.00), paid when 1 USD = 0.95 EUR: 950.00.
        assert_eq!(
            realised_difference(dec!(1000.00), dec!(900.00), dec!(0.95), eur()),
            dec!(50.00)
        );
        assert_eq!(
            realised_difference(dec!(1000.00), dec!(900.00), dec!(0.85), eur()),
            dec!(-50.00)
        );
    }

    proptest! {
        /// Converting with a rate and back with its derived inverse lands within one minor unit
        /// of where it started (plus what the first rounding itself can move).
        #[test]
        fn inverse_rates_round_trip_within_a_minor_unit(
            cents in 1i64..10_000_000_000,
            rate_units in 1i64..100_000_000,
        ) {
            let amount = Decimal::new(cents, 2);
            let rate = Decimal::new(rate_units, 4); // 0.0001 … 9 999.9999
            let inverse = effective_rate(StoredRate { rate, inverted: true }).unwrap_or_default();
            let there = convert(amount, rate, usd());
            let back = convert(there, inverse, usd());
            // The first conversion rounds by at most half a cent, which the inverse scales by
            // 1/rate; the rest must be within one minor unit.
            let slack = dec!(0.01) + dec!(0.005) * inverse;
            prop_assert!((back - amount).abs() <= slack, "{amount} → {there} → {back}");
        }

        #[test]
        fn realised_difference_and_booking_add_up_to_the_payment(
            cents in 0i64..10_000_000_000,
            ship in 1i64..10_000_000,
            settle in 1i64..10_000_000,
        ) {
            let document = Decimal::new(cents, 2);
            let booked = convert(document, Decimal::new(ship, 5), eur());
            let paid = convert(document, Decimal::new(settle, 5), eur());
            let difference = realised_difference(document, booked, Decimal::new(settle, 5), eur());
            prop_assert_eq!(booked + difference, paid);
        }
    }
}
