//! Pure business rules: no actix, no diesel, no I/O. Everything here is unit- and property-tested.

pub mod allowance;
pub mod benefits;
pub mod codes;
pub mod fx;
pub mod intercompany;
pub mod money;
pub mod netting;
pub mod period;
pub mod pricing;
pub mod transfer_pricing;
