//! Intercompany order rules: the statuses (their transition table is in `lifecycle`), and the
//! two legs both companies book, derived from one document amount so that they cannot disagree.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codes::CurrencyCode;
use super::kinds::LedgerSide;
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

/// Which side of an intercompany pair a one-sided adjustment (a credit note, a dispute)
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentSide {
    /// The seller's receivable (`company_id` is the seller).
    Receivable,
    /// The buyer's payable (`company_id` is the buyer).
    Payable,
}

/// A one-sided adjustment of the booking company (`own` currency) against its counterparty:
/// its document is the seller's, so its amount is written in the seller's currency and booked
/// in the booking company's at the date's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjustment {
    pub side: AdjustmentSide,
    pub own: CurrencyCode,
    pub counterparty: CurrencyCode,
}

/// A zero adjustment changes nothing and would only clutter reconciliation: refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroAdjustment;

impl Adjustment {
    /// The seller's currency: the booking company's own for a receivable, the
    /// counterparty's for a payable.
    pub fn document_currency(self) -> CurrencyCode {
        match self.side {
            AdjustmentSide::Receivable => self.own,
            AdjustmentSide::Payable => self.counterparty,
        }
    }

    /// The side of the pair the entry is booked for.
    pub fn ledger_side(self) -> LedgerSide {
        match self.side {
            AdjustmentSide::Receivable => LedgerSide::Seller,
            AdjustmentSide::Payable => LedgerSide::Buyer,
        }
    }

    /// The document amount (signed, in the document currency), unless it is zero.
    pub fn document_amount(self, amount: Decimal) -> Result<Decimal, ZeroAdjustment> {
        if amount.is_zero() {
            Err(ZeroAdjustment)
        } else {
            Ok(amount)
        }
    }

    /// The entry's amount in the booking company's currency: `document_amount` at `rate`
    /// (document → own), rounded once to `own`'s minor unit.
    pub fn booked(self, document_amount: Decimal, rate: Decimal) -> Result<Decimal, Overflow> {
        fx::convert(document_amount, rate, self.own)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustment_is_written_in_the_sellers_currency_and_booked_in_its_own() {
        let (usd, eur) = (
            CurrencyCode::parse("USD").unwrap(),
            CurrencyCode::parse("EUR").unwrap(),
        );
        let receivable = Adjustment {
            side: AdjustmentSide::Receivable,
            own: usd,
            counterparty: eur,
        };
        assert_eq!(receivable.document_currency(), usd);
        assert_eq!(receivable.ledger_side(), LedgerSide::Seller);
        let payable = Adjustment {
            side: AdjustmentSide::Payable,
            own: eur,
            counterparty: usd,
        };
        assert_eq!(payable.document_currency(), usd);
        assert_eq!(payable.ledger_side(), LedgerSide::Buyer);
        // -10.00 USD at 0.9 → -9.00 EUR; rounded half away from zero to the cent.
        assert_eq!(
            payable.booked(Decimal::new(-1000, 2), Decimal::new(9, 1)),
            Ok(Decimal::new(-900, 2))
        );
        assert_eq!(
            payable.booked(Decimal::new(-1, 2), Decimal::new(5, 1)),
            Ok(Decimal::new(-1, 2))
        );
        assert_eq!(payable.document_amount(Decimal::ZERO), Err(ZeroAdjustment));
        assert_eq!(payable.document_amount(Decimal::ONE), Ok(Decimal::ONE));
        assert_eq!(payable.booked(Decimal::MAX, Decimal::TWO), Err(Overflow));
    }

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
