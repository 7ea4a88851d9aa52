//! FX rates: finance records them; every signed-in employee reads them; every conversion in
//! the service (employee orders, intercompany legs, settlements) goes through [`queries::rate`].

pub mod dto;
pub mod handlers;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_rates)
        .service(handlers::create_rate);
}
