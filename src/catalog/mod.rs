//! Catalog and employee pricing: categories, discount tiers, products, stock.

pub mod cache;
pub mod dto;
pub mod handlers;
pub mod products;
pub mod queries;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::list_categories)
        .service(handlers::create_category)
        .service(handlers::list_tiers)
        .service(handlers::create_tier)
        .service(handlers::update_tier)
        .service(handlers::put_category_discount)
        .service(products::list_products)
        .service(products::create_product)
        .service(products::get_product)
        .service(products::update_product)
        .service(products::adjust_stock);
}
