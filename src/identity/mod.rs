//! Identity and access: companies (the group tree), employees, login, tokens, roles.

pub mod audit_log;
pub mod auth;
pub mod bootstrap;
pub mod dto;
pub mod employees;
pub mod handlers;
pub mod household;
pub mod password;
pub mod queries;
pub mod throttle;
pub mod token;

/// What identity alone keeps for the whole process, registered as app data of its own (as the
/// listing cache is) so that the shared `AppState` does not tie every capability to identity:
/// the keys that issue and verify tokens, and the password hasher.
pub struct Keys {
    pub tokens: token::TokenKeys,
    pub passwords: password::PasswordHasher,
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(handlers::login)
        .service(handlers::me)
        .service(household::list_household)
        .service(household::add_household_member)
        .service(household::remove_household_member)
        .service(handlers::list_companies)
        .service(handlers::create_company)
        .service(handlers::get_company)
        .service(handlers::update_company)
        .service(employees::list_employees)
        .service(employees::create_employee)
        .service(employees::get_employee)
        .service(employees::update_employee);
}
