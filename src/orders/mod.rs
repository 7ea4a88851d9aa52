//! Employee orders: quotes, idempotent placement, cancellation and fulfilment.

pub mod dto;
pub mod handlers;
pub mod idempotency;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::quote_order)
        .service(handlers::place_order)
        .service(handlers::list_orders)
        .service(handlers::get_order)
        .service(handlers::cancel_order)
        .service(handlers::fulfil_order);
}
