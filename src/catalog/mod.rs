//! Catalog and employee pricing: categories, discount tiers, products, stock.

pub mod cache;
pub mod dto;
pub mod handlers;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_categories)
        .service(handlers::create_category)
        .service(handlers::list_tiers)
        .service(handlers::create_tier)
        .service(handlers::update_tier)
        .service(handlers::put_category_discount)
        .service(handlers::list_products)
        .service(handlers::create_product)
        .service(handlers::get_product)
        .service(handlers::update_product)
        .service(handlers::adjust_stock);
}
