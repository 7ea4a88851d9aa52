//! The states and kinds the business speaks of, as enums: one spelling each, shared by the
//! API (serde), the document (utoipa) and the database (mapped once in `db::enums`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares `ALL`, `as_str`, `parse` and `Display` from one table of spellings, so the three
/// can never disagree.
macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: [Self; [$($text),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Where an order is in its life: `placed` → `fulfilled` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Fulfilled,
    Cancelled,
}
spelled!(OrderStatus { Placed => "placed", Fulfilled => "fulfilled", Cancelled => "cancelled" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    Goods,
    Service,
}
spelled!(ProductKind { Goods => "goods", Service => "service" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitPeriod {
    Month,
    Year,
}
spelled!(LimitPeriod { Month => "month", Year => "year" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentType {
    Direct,
    Outsourced,
}
spelled!(EmploymentType { Direct => "direct", Outsourced => "outsourced" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Executive,
    Operational,
    Commercial,
}
spelled!(ClientType { Executive => "executive", Operational => "operational", Commercial => "commercial" });

/// The employer's rule for the taxable part of an employee discount (§7). The spellings are
/// the statutes' (serde's snake_case would make them `us_irc132`, `de_estg83`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BenefitTaxRule {
    /// Nothing computed.
    None,
    /// IRC §132(c) qualified employee discount.
    #[serde(rename = "us_irc_132")]
    UsIrc132,
    /// §8 Abs. 3 EStG: 4 % markdown and the yearly Rabattfreibetrag.
    #[serde(rename = "de_estg_8_3")]
    DeEstg83,
    /// UK benefit in kind at the employer's cost.
    UkBikCost,
    /// URSSAF tolerance of 30 %.
    #[serde(rename = "fr_urssaf_30")]
    FrUrssaf30,
    /// Art. 43 LIRPF ordinary discounts.
    EsLirpfOrdinary,
}
spelled!(BenefitTaxRule {
    None => "none",
    UsIrc132 => "us_irc_132",
    DeEstg83 => "de_estg_8_3",
    UkBikCost => "uk_bik_cost",
    FrUrssaf30 => "fr_urssaf_30",
    EsLirpfOrdinary => "es_lirpf_ordinary",
});

/// A household member's relation to the employee (§5; IRC §132(h)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Spouse,
    DependentChild,
    SurvivingSpouse,
}
spelled!(Relationship {
    Spouse => "spouse",
    DependentChild => "dependent_child",
    SurvivingSpouse => "surviving_spouse",
});

/// Why a former employee still shops (§5; IRC §132(h)(1)): retired or left on disability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Former {
    Retired,
    Disabled,
}
spelled!(Former { Retired => "retired", Disabled => "disabled" });

/// How often an employer pays its employees (§5 payroll deduction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayFrequency {
    /// Once a month, on the day of `first_pay_date` (the month's last day where it is shorter).
    Monthly,
    /// Twice a month, fifteen days apart: on the day of `first_pay_date` and fifteen days
    /// after (or before, from the 16th on), each the month's last day where it is shorter.
    SemiMonthly,
    /// Every fourteen days from `first_pay_date`.
    Biweekly,
}
spelled!(PayFrequency {
    Monthly => "monthly",
    SemiMonthly => "semi_monthly",
    Biweekly => "biweekly",
});

/// How an employee order is paid: `payroll` deducts it from wages over instalments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Payroll,
}
spelled!(PaymentMethod { Payroll => "payroll" });

/// What a payroll deduction line is: an instalment of the order, the refund of what was
/// deducted when it is cancelled, or the balance due at once when employment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeductionKind {
    Instalment,
    Refund,
    Balance,
}
spelled!(DeductionKind { Instalment => "instalment", Refund => "refund", Balance => "balance" });

/// Where a payroll deduction line is: `due` on its pay date, `deducted` once that date has
/// come (shown, never stored: the day decides it), or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeductionStatus {
    Due,
    Deducted,
    Cancelled,
}
spelled!(DeductionStatus { Due => "due", Deducted => "deducted", Cancelled => "cancelled" });

/// Which company of an intercompany pair a ledger entry is booked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerSide {
    Seller,
    Buyer,
}
spelled!(LedgerSide { Seller => "seller", Buyer => "buyer" });

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's spelling (what the API says) is the table's (what the database stores).
    fn agrees<T>(all: &[T])
    where
        T: Copy + Serialize + std::fmt::Display + PartialEq + std::fmt::Debug,
    {
        for value in all {
            let json = serde_json::to_value(value).unwrap_or_default();
            assert_eq!(json.as_str(), Some(value.to_string().as_str()));
        }
    }

    #[test]
    fn every_spelling_is_the_same_for_the_api_and_the_database() {
        agrees(&OrderStatus::ALL);
        agrees(&ProductKind::ALL);
        agrees(&LimitPeriod::ALL);
        agrees(&EmploymentType::ALL);
        agrees(&ClientType::ALL);
        agrees(&BenefitTaxRule::ALL);
        agrees(&LedgerSide::ALL);
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(
            BenefitTaxRule::parse("us_irc_132"),
            Some(BenefitTaxRule::UsIrc132)
        );
        assert_eq!(LimitPeriod::parse("week"), None);
    }
}
