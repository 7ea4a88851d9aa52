//! The OpenAPI document. Paths are collected from the handlers registered in
//! [`crate::routes::api_routes`] (utoipa-actix-web), so a route cannot exist undocumented;
//! this module adds the frame: info, security scheme, shared schemas and error responses.

use actix_web::App;
use serde_json::{json, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::domain::calendar::BusinessZone;
use crate::domain::codes::{CountryCode, CurrencyCode, SicCode};
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

/// The problem responses an operation can give, each derived from what the operation takes:
/// a body (400 malformed, 413, 415, 422), parameters (400), a bearer token (401), roles
/// listed as the bearer requirement's scopes (403), a path id (404), the database (503).
/// Statuses a handler declares itself (409, 429, a 403 of its own) keep their description and
/// get the problem body. Nothing is left to a catch-all `default`, so a status the document
/// does not list is a bug a fuzzer reports.
fn describe_problems(openapi: &mut Value) {
    let Some(paths) = openapi.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item
            .iter_mut()
            .filter(|(m, _)| METHODS.contains(&m.as_str()))
        {
            describe_operation(path, operation);
        }
    }
}

/// The problem responses of one operation at `path` (see [`describe_problems`]).
fn describe_operation(path: &str, operation: &mut Value) {
    let has_body = operation.get("requestBody").is_some();
    let has_params = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let bearer = operation
        .get("security")
        .and_then(Value::as_array)
        .and_then(|requirements| {
            requirements
                .iter()
                .find_map(|r| r.get("bearer").and_then(Value::as_array))
        })
        .cloned();
    if bearer.is_none() {
        // Public: say so explicitly (an absent `security` would inherit a default).
        operation["security"] = json!([]);
    }
    let roles: Vec<String> = bearer
        .iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    let responses = &mut operation["responses"];
    if let Some(map) = responses.as_object_mut() {
        map.remove("default");
    }
    if has_body || has_params {
        add_problem(
            responses,
            "400",
            "Malformed JSON, or an invalid path, query or header parameter \
             (`validation_failed`, naming the parameter in `errors`)"
                .into(),
        );
    }
    if bearer.is_some() {
        add_problem(
            responses,
            "401",
            "Missing, invalid or expired token, or an employee who is no longer active \
             (`unauthorized`)"
                .into(),
        );
    }
    if !roles.is_empty() {
        add_problem(
            responses,
            "403",
            format!(
                "The caller has none of the roles {} (`forbidden`); checked before the \
                 body is read",
                roles.join(", ")
            ),
        );
    }
    if path.contains('{') {
        add_problem(
            responses,
            "404",
            "No such resource, or one the caller may not see (`not_found`)".into(),
        );
    }
    let declared: Vec<String> = responses
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for status in declared
        .iter()
        .filter(|s| s.starts_with('4') || s.starts_with('5'))
    {
        add_problem(responses, status, String::new());
    }
    if has_body {
        body_problems(responses);
    }
    server_problems(responses, path);
    describe_successes(responses);
}

/// What a body can be refused for: 413, 415, 422.
fn body_problems(responses: &mut Value) {
    add_problem(
        responses,
        "413",
        "The body exceeds BODY_LIMIT_BYTES (`payload_too_large`)".into(),
    );
    add_problem(
        responses,
        "415",
        "The body is not `application/json` (`unsupported_media_type`)".into(),
    );
    add_problem(
        responses,
        "422",
        "Invalid fields: wrong type, missing, unknown, out of bounds, or text \
         holding U+0000 (`validation_failed`, naming each field in `errors`)"
            .into(),
    );
}

/// What can fail on the server's side: 500 always, 503 wherever the database is used.
fn server_problems(responses: &mut Value, path: &str) {
    add_problem(
        responses,
        "500",
        "An unexpected error (`internal_error`); the cause is logged with the request id, \
         never sent"
            .into(),
    );
    if path != "/health/live" {
        add_problem(
            responses,
            "503",
            "The database is unavailable or busy (`unavailable`); retry after \
             `Retry-After` seconds"
                .into(),
        );
    }
}

/// Success responses: utoipa leaves the description out when none is written.
fn describe_successes(responses: &mut Value) {
    if let Some(map) = responses.as_object_mut() {
        for (status, response) in map.iter_mut() {
            if response.get("description").is_none_or(|d| d == "") {
                response["description"] = Value::String(
                    actix_web::http::StatusCode::from_bytes(status.as_bytes())
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Response")
                        .to_owned(),
                );
            }
        }
    }
}

/// Adds (or completes) the problem response `status`: a declared one keeps its description.
fn add_problem(responses: &mut Value, status: &str, description: String) {
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    let mut entry = responses
        .get(status)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if entry.get("description").is_none_or(|d| d == "") {
        entry.insert("description".into(), Value::String(description));
    }
    entry.insert(
        "content".into(),
        json!({PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}),
    );
    if let Some(header) = problem_header(status) {
        entry.insert("headers".into(), header);
    }
    responses.insert(status.into(), Value::Object(entry));
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Headers that a problem of this status always carries.
fn problem_header(status: &str) -> Option<Value> {
    match status {
        "429" | "503" => Some(json!({"Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": true,
            "schema": {"type": "string", "pattern": "^[0-9]+$"}
        }})),
        "401" => Some(json!({"WWW-Authenticate": {
            "description": "Always `Bearer`",
            "required": true,
            "schema": {"type": "string"}
        }})),
        _ => None,
    }
}

/// OpenAPI links from each creating operation (`POST /x` answering 201) to every operation
/// under `/x/{id}`, with the id taken from the created resource, so clients and fuzzers can
/// follow a new resource through the operations that use it.
fn link_created_resources(openapi: &mut Value) {
    let Some(paths) = openapi.get("paths").and_then(Value::as_object).cloned() else {
        return;
    };
    for (path, item) in &paths {
        if item.pointer("/post/responses/201").is_none() {
            continue;
        }
        let mut links = serde_json::Map::new();
        for (other, other_item) in &paths {
            let Some(rest) = other
                .strip_prefix(path.as_str())
                .and_then(|r| r.strip_prefix("/{"))
            else {
                continue;
            };
            let Some(parameter) = rest.split('}').next() else {
                continue;
            };
            for (_, operation) in other_item
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(m, _)| METHODS.contains(&m.as_str()))
            {
                let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                links.insert(
                    id.to_owned(),
                    json!({
                        "operationId": id,
                        "parameters": {parameter: "$response.body#/id"},
                        "description": format!("`{parameter}` is the created resource's `id`"),
                    }),
                );
            }
        }
        // A new category is also the `category_id` of a tier's category discount.
        if path.ends_with("/categories") {
            links.insert(
                "put_category_discount".into(),
                json!({
                    "operationId": "put_category_discount",
                    "parameters": {"category_id": "$response.body#/id"},
                    "description": "`category_id` is the created category's `id`",
                }),
            );
        }
        if !links.is_empty() {
            if let Some(created) = openapi.pointer_mut(&format!(
                "/paths/{}/post/responses/201",
                path.replace('~', "~0").replace('/', "~1")
            )) {
                created["links"] = Value::Object(links);
            }
        }
    }
}

/// ISO 4217 codes: the document lists exactly the codes the server accepts.
impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An ISO 4217 currency code"))
            .enum_values(Some(CurrencyCode::all()))
            .into()
    }
}
impl utoipa::ToSchema for CurrencyCode {}

/// ISO 3166-1 alpha-2 codes: the document lists exactly the codes the server accepts.
impl utoipa::PartialSchema for CountryCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An ISO 3166-1 alpha-2 country code"))
            .enum_values(Some(CountryCode::all()))
            .into()
    }
}
impl utoipa::ToSchema for CountryCode {}

/// An IANA time zone name, named `TimeZone` in the document.
impl utoipa::PartialSchema for BusinessZone {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An IANA time zone name"))
            .examples(["America/New_York"])
            .max_length(Some(64))
            .pattern(Some("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"))
            .into()
    }
}
impl utoipa::ToSchema for BusinessZone {
    fn name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
}

/// A four-digit SIC industry code.
impl utoipa::PartialSchema for SicCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A four-digit SIC industry code"))
            .examples(["5311"])
            .pattern(Some("^[0-9]{4}$"))
            .into()
    }
}
impl utoipa::ToSchema for SicCode {}

/// `ProductView` flattens `Option<ProductAdminFields>` (present for admins only), which utoipa
/// cannot express; the document lists those fields as optional properties of `ProductView`,
/// so an employee's item (without them) and an admin's (with them) both validate.
fn admin_fields_optional(openapi: &mut Value) {
    let Ok(admin) = serde_json::to_value(
        <crate::catalog::dto::ProductAdminFields as utoipa::PartialSchema>::schema(),
    ) else {
        return;
    };
    let Some(view) = openapi
        .pointer_mut("/components/schemas/ProductView/properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, mut schema) in admin
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
    {
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .map(|d| format!("Admins only. {d}"))
            .unwrap_or_else(|| "Admins only.".into());
        if let Some(fields) = schema.as_object_mut() {
            fields.insert("description".into(), Value::String(description));
        }
        view.insert(name, schema);
    }
}

/// Constraints the server enforces that utoipa's attributes cannot state.
fn refine_schemas(openapi: &mut Value) {
    // A stock adjustment of zero changes nothing and is refused.
    if let Some(delta) = openapi.pointer_mut("/components/schemas/StockAdjustment/properties/delta")
    {
        delta["not"] = json!({"const": 0});
    }
}

/// The paths and operations as utoipa collects them from the registered handlers (the route
/// table reads this); what is served and committed is [`document`].
pub fn collected() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiFrame::openapi())
        .configure(crate::routes::api_routes)
        .split_for_parts();
    api
}

/// The complete document, exactly as served and committed: what utoipa collects, completed
/// by the steps above. It stays a JSON value because some of what they add (`not`, response
/// headers marked `required`) has no place in utoipa's types.
pub fn document() -> Value {
    let mut value = serde_json::to_value(collected()).unwrap_or_else(|_| json!({}));
    // Relative: the server that serves this document, wherever it is deployed.
    if let Some(document) = value.as_object_mut() {
        document.insert(
            "servers".into(),
            json!([{
                "url": "/",
                "description": "The server that serves this document (`/api-docs/openapi.json`)"
            }]),
        );
    }
    admin_fields_optional(&mut value);
    refine_schemas(&mut value);
    describe_problems(&mut value);
    link_created_resources(&mut value);
    value
}

/// The document as pretty JSON with a trailing newline (the committed file's format).
pub fn document_json() -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(&document())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every enum has one spelling: what serde writes is what the database stores (`as_str`),
    /// exactly the document's list, and each listed value is accepted back as input.
    macro_rules! round_trip {
        ($document:expr, $($name:literal => $type:ty),+ $(,)?) => {$({
            let listed = $document["components"]["schemas"][$name]["enum"].clone();
            let written: Vec<Value> = <$type>::ALL
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect();
            assert_eq!(listed, Value::Array(written.clone()), "{}", $name);
            for (variant, json) in <$type>::ALL.iter().zip(&written) {
                assert_eq!(json.as_str(), Some(variant.as_str()), "{}", $name);
                let read: Option<$type> = serde_json::from_value(json.clone()).ok();
                assert_eq!(read, Some(*variant), "{} {json}", $name);
            }
        })+};
    }

    #[test]
    fn every_enum_round_trips_with_one_spelling() {
        let document = document();
        round_trip!(document,
            "Role" => crate::identity::auth::Role,
            "EmploymentType" => crate::identity::dto::EmploymentType,
            "ClientType" => crate::identity::dto::ClientType,
            "BenefitTaxRule" => crate::identity::dto::BenefitTaxRule,
            "ProductKind" => crate::catalog::dto::ProductKind,
            "LimitPeriod" => crate::catalog::dto::LimitPeriod,
            "OrderStatus" => crate::orders::dto::OrderStatus,
        );
        assert_eq!(
            document["components"]["schemas"]["BenefitTaxRule"]["enum"],
            json!([
                "none",
                "us_irc_132",
                "de_estg_8_3",
                "uk_bik_cost",
                "fr_urssaf_30",
                "es_lirpf_ordinary"
            ])
        );
    }

    #[test]
    fn every_operation_documents_its_problems_and_public_ones_say_so() {
        let document = document();
        assert!(document["servers"][0]["url"].is_string());
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let responses = operation["responses"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                assert!(!responses.contains_key("default"), "{method} {path}");
                for (status, response) in &responses {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status}"
                    );
                }
                assert!(responses.contains_key("500"), "{method} {path}");
                let public = operation["security"] == json!([]);
                assert_eq!(
                    public,
                    ["/api/v1/auth/login", "/health/live", "/health/ready"]
                        .contains(&path.as_str()),
                    "{method} {path}"
                );
                if !public {
                    assert!(responses.contains_key("401"), "{method} {path}");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
            }
        }
        let mut ids: Vec<&str> = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, item)| item.as_object().into_iter().flatten())
            .filter_map(|(_, operation)| operation["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds must be unique");
        let created = &document["paths"]["/api/v1/products"]["post"]["responses"]["201"];
        assert_eq!(
            created["links"]["get_product"]["parameters"]["id"],
            "$response.body#/id"
        );
    }
}
