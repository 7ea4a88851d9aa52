//! The integration tests, one binary: every capability's stories over HTTP against a real
//! PostgreSQL (`helpers` builds the database, the application, actors and races).
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests drive the service from outside: they read the real time and make ids freely.
#![allow(
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::too_many_lines
)]

mod helpers;

mod benefits;
mod books;
mod catalog;
mod demo;
mod feedback;
mod finance;
mod foundation;
mod identity;
mod intercompany;
mod migrations;
mod orders;
mod owasp;
mod private_cluster;
mod replicas;
mod schema;
mod tenancy;
