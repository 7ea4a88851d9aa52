//! The OpenAPI document. Paths are collected from the handlers registered in
//! [`crate::startup::api_routes`] (utoipa-actix-web), so a route cannot exist undocumented;
//! this module adds the frame: info, security scheme, shared schemas and error responses.

use actix_web::App;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem, PROBLEM_JSON};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "internal-store",
        description = "Internal-client commerce for a corporate group: employee purchases at tiered \
                       discounts, intercompany orders priced by transfer-pricing policy, and finance \
                       reconciliation. Money is a decimal string beside its ISO 4217 currency; every \
                       error is RFC 9457 application/problem+json with a stable `code`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Frame),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "identity", description = "Login, companies, employees"),
        (name = "catalog", description = "Categories, discount tiers, products and employee prices"),
        (name = "orders", description = "Employee orders"),
        (name = "fx", description = "FX rates"),
        (name = "intercompany", description = "Transfer-pricing policies and intercompany orders"),
        (name = "finance", description = "Period close, adjustments, reconciliation, eliminations, netting"),
        (name = "feedback", description = "Internal clients' feedback on their orders and the seller's reply"),
        (name = "kpis", description = "Internal-service KPIs per selling company"),
        (name = "audit", description = "Append-only audit log"),
    )
)]
struct ApiFrame;

struct Frame;

impl Modify for Frame {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation may fail with a problem document; declare it once for all of them.
fn add_problem_responses(openapi: &mut utoipa::openapi::OpenApi) {
    let problem = ResponseBuilder::new()
        .description("Error, as RFC 9457 problem details")
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for item in openapi.paths.paths.values_mut() {
        let operations: [&mut Option<Operation>; 5] = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            operation
                .responses
                .responses
                .entry("default".into())
                .or_insert_with(|| problem.clone().into());
        }
    }
}

/// The complete document, exactly as served and committed.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiFrame::openapi())
        .configure(crate::startup::api_routes)
        .split_for_parts();
    add_problem_responses(&mut api);
    api
}

/// The document as pretty JSON with a trailing newline (the committed file's format).
pub fn document_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(&document())?))
}
