//! Internal-service KPIs (PRODUCT.md §8): per selling company and month, how fast and how well
//! it served its internal clients (employees and sister companies) and what they said. One SQL
//! statement (`report.sql`) computes every figure with aggregates over indexed columns.

pub mod dto;
pub mod handlers;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::internal_service);
}
