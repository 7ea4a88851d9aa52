//! Ids: where new ones come from, and the typed ids that keep one kind of id from being passed
//! where another belongs.
//!
//! New ids are random (version 4) UUIDs made here only (clippy's `disallowed-methods` refuses
//! `Uuid::new_v4` elsewhere), so that a change of id scheme, such as time-ordered ids that are
//! kinder to B-tree indexes, is one change.
//!
//! A typed id ([`typed_id!`]) is a UUID that says what it identifies. It is bound and read as
//! a `uuid` column, serialised as the bare UUID, and converts to and from `Uuid` only where
//! said, so that a company id given where a group id belongs does not compile. `GroupId`, the
//! tenancy boundary every query is scoped to, is the first; `OrderId` (an employee order),
//! `IcOrderId` (an intercompany order), `CompanyId`, `ProductId` and `EmployeeId` follow. The
//! domain keeps plain UUIDs (it knows no diesel): a typed id becomes one where it is called.

use uuid::Uuid;

/// A new, random id.
#[allow(clippy::disallowed_methods)]
pub fn fresh() -> Uuid {
    Uuid::new_v4()
}

/// Declares a typed id: `typed_id!(/// what it identifies
/// GroupId);` gives a `Copy` newtype over `Uuid` with serde (transparent), diesel (`uuid`
/// columns, nullable too) and `Display`; `Uuid::from(id)` and `Id::from(uuid)` convert where a
/// boundary (a token's claim, a path segment) names the kind.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
            diesel::expression::AsExpression,
            diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id of this kind.
            pub fn fresh() -> Self {
                Self(fresh())
            }

            /// The UUID underneath, for a place that takes any id (a log field, an audit entry).
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <Uuid as diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::to_sql(
                    &self.0, out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <Uuid as diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::from_sql(
                    value,
                )
                .map(Self)
            }
        }
    };
}

typed_id!(
    /// A group: the tenant every query is scoped to (its root company's id).
    GroupId
);

typed_id!(
    /// An employee order.
    OrderId
);

typed_id!(
    /// An intercompany order.
    IcOrderId
);

typed_id!(
    /// A company of a group (a group's root company's id is also its `GroupId`).
    CompanyId
);

typed_id!(
    /// A product of the catalog.
    ProductId
);

typed_id!(
    /// An employee: a person who signs in, buys and acts (every audit event's actor).
    EmployeeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_id_is_its_uuid_on_the_wire() {
        let raw = fresh();
        let group = GroupId::from(raw);
        assert_eq!(Uuid::from(group), raw);
        assert_eq!(group.to_string(), raw.to_string());
        let json = serde_json::to_string(&group).unwrap_or_default();
        assert_eq!(json, format!("\"{raw}\""));
        let back: GroupId = serde_json::from_str(&json).unwrap_or_else(|_| unreachable!());
        assert_eq!(back, group);
    }
}
