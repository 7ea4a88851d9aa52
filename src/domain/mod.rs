//! Pure business rules: no actix, no diesel, no I/O. Everything here is unit- and property-tested.
//! No operator here may panic: arithmetic is checked (clippy's `arithmetic_side_effects` is
//! denied in this module) and an overflow surfaces as [`Overflow`].
#![deny(clippy::arithmetic_side_effects)]

pub mod allowance;
pub mod benefits;
pub mod calendar;
pub mod codes;
pub mod consolidation;
pub mod fx;
pub mod intercompany;
pub mod kinds;
pub mod lifecycle;
pub mod money;
pub mod netting;
pub mod payroll;
pub mod period;
pub mod pricing;
pub mod transfer_pricing;

/// An amount left the range a `Decimal` can hold. The input bounds (§2: 13 integer digits,
/// quantities up to 1000, percentages up to 100) keep every computation far from it, so this
/// is an internal error, never a client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("arithmetic overflow in a money computation")]
pub struct Overflow;

/// A new id for a test: distinct within the run and reproducible (domain code makes no ids).
#[cfg(test)]
pub(crate) fn test_id() -> uuid::Uuid {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    uuid::Uuid::from_u128(u128::from(NEXT.fetch_add(1, Ordering::Relaxed)))
}
