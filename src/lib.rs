//! internal-store: internal-client commerce for a corporate group.
//!
//! Capabilities live in their own modules (`identity`, `audit`, …), each with `handlers`,
//! `dto` and `queries`; pure business rules live in `domain` and know nothing of HTTP or SQL.
// Every numeric conversion says what happens when it does not fit (`try_from`), never `as`.
#![deny(clippy::as_conversions)]

pub mod audit;
pub mod body;
pub mod bookings;
pub mod catalog;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod demo;
pub mod docs;
pub mod domain;
pub mod error;
pub mod feedback;
pub mod fields;
pub mod finance;
pub mod frozen;
pub mod fx;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod intercompany;
pub mod inventory;
pub mod json;
pub mod kpis;
pub mod ledger;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod orders;
pub mod pagination;
pub mod payroll;
pub mod routes;
pub mod routing;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod validation;
pub mod write;
