//! Feedback from internal clients (PRODUCT.md §8): the employee who bought a fulfilled order,
//! or a purchaser of the buyer of a shipped intercompany order, rates it once (1–5, with an
//! optional comment), may change it for 7 days, and the seller's admins or purchasers answer
//! once. Companies read what they received through `GET /feedback`.

pub mod dto;
pub mod handlers;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_feedback)
        .service(handlers::give_order_feedback)
        .service(handlers::edit_order_feedback)
        .service(handlers::get_order_feedback)
        .service(handlers::reply_order_feedback)
        .service(handlers::give_intercompany_feedback)
        .service(handlers::edit_intercompany_feedback)
        .service(handlers::get_intercompany_feedback)
        .service(handlers::reply_intercompany_feedback);
}
