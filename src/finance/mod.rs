//! Finance: month close (enforced by the database for every booking path), one-sided
//! adjustments, reconciliation of both legs per pair, consolidation eliminations, internal
//! sales, and multilateral netting of open intercompany documents.

pub mod adjustments;
pub mod benefits;
pub mod dto;
pub mod eliminations;
pub mod netting;
pub mod open_items;
pub mod payroll;
pub mod periods;
pub mod reconciliation;
pub mod reports;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(periods::close_period)
        .service(periods::list_periods)
        .service(adjustments::create_adjustment)
        .service(reconciliation::reconciliation)
        .service(eliminations::eliminations)
        .service(eliminations::report_inventory)
        .service(reports::internal_sales)
        .service(benefits::employee_benefits)
        .service(benefits::imputed::imputed_income)
        .service(payroll::payroll_deductions)
        .service(netting::proposal)
        .service(netting::run)
        .service(netting::list_runs);
}
