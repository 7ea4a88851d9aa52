//! Intercompany trade: transfer-pricing policies, intercompany orders priced by them, and the
//! ledger entries both companies book (receivable and payable at shipping, settlement and the
//! buyer's realised FX difference), derived from one document in one transaction.
//!
//! Orders are built as employee orders are: `validation` checks a request's shape, `pricing`
//! prices it under the seller's policies, `placement` writes it in one statement
//! (`placement.sql`), `transitions` moves it along its lifecycle, `views` formats orders for
//! the API and `queries` reads existing ones; `access` decides who sees and moves an order.
//! `ledger` books the legs; `policies`, `versions`, `true_ups` and `exceptions` serve
//! transfer pricing.

pub mod access;
pub mod dto;
pub mod exceptions;
pub mod handlers;
pub mod ledger;
pub mod placement;
pub mod policies;
pub mod pricing;
pub mod queries;
pub mod transitions;
pub mod true_ups;
pub mod validation;
pub mod versions;
pub mod views;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(policies::list_policies)
        .service(policies::create_policy)
        .service(policies::update_policy)
        .service(versions::supersede)
        .service(handlers::quote_order)
        .service(handlers::create_order)
        .service(handlers::list_orders)
        .service(handlers::get_order)
        .service(handlers::accept_order)
        .service(handlers::reject_order)
        .service(handlers::ship_order)
        .service(handlers::settle_order)
        .service(handlers::cancel_order)
        .service(true_ups::preview)
        .service(true_ups::book)
        .service(exceptions::exceptions);
}
