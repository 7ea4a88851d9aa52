//! The domain's enums (and currency codes) as database values, mapped once: each is stored as its `as_str`
//! spelling in a `text` column (checked there by a CHECK constraint) and read back through
//! `parse`, so rows and binds carry the enum, never a string.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

use crate::domain::codes::CurrencyCode;
use crate::domain::intercompany::Status as IntercompanyStatus;
use crate::domain::kinds::{
    BenefitTaxRule, ClientType, DeductionKind, DeductionStatus, EmploymentType, Former, LedgerSide,
    LimitPeriod, OrderStatus, PayFrequency, ProductKind, Relationship,
};

macro_rules! text_enum {
    ($($ty:ty),+ $(,)?) => {$(
        impl ToSql<Text, Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $ty {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let raw = <String as FromSql<Text, Pg>>::from_sql(value)?;
                <$ty>::parse(&raw).ok_or_else(|| {
                    format!("unknown {} in the database: {raw:?}", stringify!($ty)).into()
                })
            }
        }

        impl Queryable<Text, Pg> for $ty {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $ty {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for $ty {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Text> for &$ty {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for &$ty {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }
    )+};
}

text_enum!(
    OrderStatus,
    ProductKind,
    LimitPeriod,
    EmploymentType,
    ClientType,
    BenefitTaxRule,
    Relationship,
    Former,
    IntercompanyStatus,
    LedgerSide,
    PayFrequency,
    DeductionKind,
    DeductionStatus,
    // Not an enum, but read and bound the same way: a currency column holds an ISO 4217 code
    // (checked by its CHECK constraint), parsed once as it is read.
    CurrencyCode,
);
