//! Identity and access: companies (the group tree), employees, login, tokens, roles.

pub mod audit_log;
pub mod auth;
pub mod bootstrap;
pub mod dto;
pub mod handlers;
pub mod password;
pub mod queries;
pub mod throttle;
pub mod token;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::login)
        .service(handlers::me)
        .service(handlers::list_companies)
        .service(handlers::create_company)
        .service(handlers::get_company)
        .service(handlers::update_company)
        .service(handlers::list_employees)
        .service(handlers::create_employee)
        .service(handlers::get_employee)
        .service(handlers::update_employee);
}
