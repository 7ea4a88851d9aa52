//! Intercompany order rules: the statuses (their transition table is in `lifecycle`), and the
//! two legs both companies book, derived from one document amount so that they cannot disagree.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codes::CurrencyCode;
use super::{fx, money, Overflow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Requested,
    Accepted,
    Rejected,
    Shipped,
    Settled,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Self::Requested,
        Self::Accepted,
        Self::Rejected,
        Self::Shipped,
        Self::Settled,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Shipped => "shipped",
            Self::Settled => "settled",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The legs booked at shipping: the seller's receivable in the document currency and the
/// buyer's payable in its own currency at the ship date's rate, from one document amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipLegs {
    pub receivable: Decimal,
    pub payable: Decimal,
}

pub fn ship_legs(
    document_total: Decimal,
    rate: Decimal,
    buyer_currency: CurrencyCode,
) -> Result<ShipLegs, Overflow> {
    Ok(ShipLegs {
        receivable: document_total,
        payable: fx::convert(document_total, rate, buyer_currency)?,
    })
}

/// The entries booked at settlement, as signed changes of each side's open balance: the
/// seller's receivable is cleared in the document currency; the buyer pays the document amount
/// at the settle date's rate, which clears its payable together with the realised FX
/// difference (positive = loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleLegs {
    pub seller_settlement: Decimal,
    pub buyer_settlement: Decimal,
    pub fx_difference: Decimal,
}

pub fn settle_legs(
    document_total: Decimal,
    booked_payable: Decimal,
    settle_rate: Decimal,
    buyer_currency: CurrencyCode,
) -> Result<SettleLegs, Overflow> {
    Ok(SettleLegs {
        seller_settlement: money::sub(Decimal::ZERO, document_total)?,
        buyer_settlement: money::sub(
            Decimal::ZERO,
            fx::convert(document_total, settle_rate, buyer_currency)?,
        )?,
        fx_difference: fx::realised_difference(
            document_total,
            booked_payable,
            settle_rate,
            buyer_currency,
        )?,
    })
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    // The checked functions, unwrapped: no value in these tests comes near an overflow.
    fn ship_legs(total: Decimal, rate: Decimal, buyer: CurrencyCode) -> ShipLegs {
        super::ship_legs(total, rate, buyer).unwrap()
    }
    fn settle_legs(
        total: Decimal,
        booked: Decimal,
        rate: Decimal,
        buyer: CurrencyCode,
    ) -> SettleLegs {
        super::settle_legs(total, booked, rate, buyer).unwrap()
    }
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn eur() -> CurrencyCode {
        CurrencyCode::parse("EUR").unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn every_status_is_spelled_once() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn shipped_at_one_rate_and_settled_at_another() {
        // 1 234.56 USD shipped at 0.9000 EUR, settled at 0.9300 EUR.
        let legs = ship_legs(dec!(1234.56), dec!(0.9), eur());
        assert_eq!(legs.receivable, dec!(1234.56));
        assert_eq!(legs.payable, dec!(1111.10)); // 1 111.104 → 1 111.10
        let settled = settle_legs(legs.receivable, legs.payable, dec!(0.93), eur());
        assert_eq!(settled.seller_settlement, dec!(-1234.56));
        assert_eq!(settled.buyer_settlement, dec!(-1148.14)); // 1 148.1408
        assert_eq!(settled.fx_difference, dec!(37.04)); // a loss
                                                        // The buyer's payable is cleared exactly.
        assert_eq!(
            legs.payable + settled.buyer_settlement + settled.fx_difference,
            Decimal::ZERO
        );
    }

    proptest! {
        #[test]
        fn both_sides_clear_to_zero_after_settlement(
            cents in 0i64..10_000_000_000_000,
            ship in 1i64..100_000_000,
            settle in 1i64..100_000_000,
        ) {
            let total = Decimal::new(cents, 2);
            let legs = ship_legs(total, Decimal::new(ship, 6), eur());
            let settled = settle_legs(total, legs.payable, Decimal::new(settle, 6), eur());
            prop_assert_eq!(legs.receivable + settled.seller_settlement, Decimal::ZERO);
            prop_assert_eq!(legs.payable + settled.buyer_settlement + settled.fx_difference, Decimal::ZERO);
        }
    }
}
