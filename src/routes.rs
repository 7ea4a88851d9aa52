//! Every API route in one list: the server serves it (`startup`) and the OpenAPI document is
//! collected from it (`openapi`), so neither can hold a route the other lacks.

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Every API route, registered through utoipa-actix-web so each one lands in the OpenAPI document.
pub fn api_routes(cfg: &mut ServiceConfig) {
    cfg.service(crate::health::live)
        .service(crate::health::ready);
    cfg.service(
        scope::scope("/api/v1")
            .configure(crate::identity::routes)
            .configure(crate::catalog::routes)
            .configure(crate::orders::routes)
            .configure(crate::fx::routes)
            .configure(crate::intercompany::routes)
            .configure(crate::finance::routes)
            .configure(crate::feedback::routes)
            .configure(crate::kpis::routes)
            .configure(crate::identity::audit_log::routes),
    );
}
