//! Employee orders: quotes, idempotent placement, cancellation and fulfilment.
//!
//! `validation` checks a request's shape, `pricing` prices it for the signed-in employee,
//! `placement` writes it in one statement (`placement.sql`), `views` formats orders for the
//! API and `queries` reads and moves existing orders; `benefit_facts` fixes, at fulfilment,
//! what each line's employee-benefit tax depends on. Stock belongs to `inventory`, the
//! allowance and purchase limits to `ledger`.

pub mod benefit_facts;
pub mod dto;
pub mod gate;
pub mod handlers;
pub mod placement;
pub mod pricing;
pub mod queries;
mod statement;
pub mod validation;
pub mod views;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::quote_order)
        .service(handlers::place_order)
        .service(handlers::list_orders)
        .service(handlers::get_order)
        .service(handlers::cancel_order)
        .service(handlers::fulfil_order);
}
