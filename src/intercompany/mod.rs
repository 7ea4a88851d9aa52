//! Intercompany trade: transfer-pricing policies, intercompany orders priced by them, and the
//! ledger entries both companies book (receivable and payable at shipping, settlement and the
//! buyer's realised FX difference), derived from one document in one transaction.

pub mod dto;
pub mod exceptions;
pub mod handlers;
pub mod ledger;
pub mod policies;
pub mod queries;
pub mod true_ups;
pub mod versions;

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
