//! What happens to requests no route took, or took only by a path parameter that does not
//! parse: the route table (from the OpenAPI document) tells an unknown path (404) or a bad
//! parameter (400) from a method the path does not have (405, exact `Allow`).

use actix_web::error::PathError;
use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;

/// Known path templates and their methods, taken from the OpenAPI document, so the fallback
/// can tell "no such resource" (404) from "no such method here" (405).
pub struct RouteTable(Vec<(Vec<Segment>, Vec<Method>)>);

enum Segment {
    Literal(String),
    Parameter,
}

impl RouteTable {
    pub fn from_openapi(openapi: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<(Vec<Segment>, Vec<Method>)> = openapi
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let mut methods = Vec::new();
                for (present, method) in [
                    (item.get.is_some(), Method::GET),
                    (item.post.is_some(), Method::POST),
                    (item.put.is_some(), Method::PUT),
                    (item.patch.is_some(), Method::PATCH),
                    (item.delete.is_some(), Method::DELETE),
                ] {
                    if present {
                        methods.push(method);
                    }
                }
                (Self::segments(template), methods)
            })
            .collect();
        for fixed in [
            "/metrics",
            "/api-docs/openapi.json",
            "/docs",
            "/docs/{file}",
        ] {
            routes.push((Self::segments(fixed), vec![Method::GET]));
        }
        Self(routes)
    }

    fn segments(template: &str) -> Vec<Segment> {
        template
            .trim_matches('/')
            .split('/')
            .map(|part| {
                if part.starts_with('{') && part.ends_with('}') {
                    Segment::Parameter
                } else {
                    Segment::Literal(part.to_owned())
                }
            })
            .collect()
    }

    /// The methods of the route `path` names, exactly as the router matches it: no trailing
    /// or doubled slash (those are 404), and a literal segment wins over a parameter, so
    /// `/orders/quote` is the quote route (POST) and not `/orders/{id}` (GET).
    pub fn allowed_methods(&self, path: &str) -> Vec<Method> {
        let Some(rest) = path.strip_prefix('/') else {
            return Vec::new();
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Vec::new();
        }
        let mut best: Option<(Vec<bool>, Vec<Method>)> = None;
        for (segments, methods) in &self.0 {
            let matches = segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(segment, part)| match segment {
                        Segment::Parameter => true,
                        Segment::Literal(literal) => literal == part,
                    });
            if !matches {
                continue;
            }
            // Literal segments, left to right: the more specific route compares greater.
            let shape: Vec<bool> = segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect();
            match &mut best {
                Some((best_shape, best_methods)) if *best_shape == shape => {
                    best_methods.extend(methods.iter().cloned());
                }
                Some((best_shape, _)) if *best_shape > shape => {}
                _ => best = Some((shape, methods.clone())),
            }
        }
        best.map(|(_, methods)| methods).unwrap_or_default()
    }
}

/// Requests no route took: 404 for an unknown path, `OPTIONS` → 204 with `Allow`, any other
/// method → 405 with `Allow` (exactly the route's methods).
pub async fn fallback(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    let allowed = routes.allowed_methods(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound);
    }
    if req.method() == Method::OPTIONS {
        return Ok(HttpResponse::NoContent()
            .insert_header(header::Allow(allowed))
            .finish());
    }
    Err(ApiError::MethodNotAllowed { allowed })
}

/// A path parameter that does not parse is a 400 naming the parameter (never repeating what
/// was sent: §2) — unless the path names a more specific route that lacks this method: actix
/// falls through from `/orders/quote` (POST only) to `/orders/{id}` for a GET, which is a 405
/// with `Allow: POST`, not a bad id. Every typed path parameter is a UUID (periods are read as
/// text and checked by their handler).
pub fn path_error(_: PathError, req: &HttpRequest) -> actix_web::Error {
    let allowed = req
        .app_data::<web::Data<RouteTable>>()
        .map(|routes| routes.allowed_methods(req.path()))
        .unwrap_or_default();
    if !allowed.is_empty() && !allowed.contains(req.method()) {
        return ApiError::MethodNotAllowed { allowed }.into();
    }
    let field = req
        .match_info()
        .iter()
        .find(|(_, value)| uuid::Uuid::parse_str(value).is_err())
        .map_or("id", |(name, _)| name);
    ApiError::bad_field(field, "must be a UUID").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_openapi(&crate::openapi::collected())
    }

    #[test]
    fn allow_lists_exactly_the_route_methods() {
        let routes = table();
        assert_eq!(
            routes.allowed_methods("/api/v1/orders/quote"),
            vec![Method::POST]
        );
        assert_eq!(
            routes.allowed_methods("/api/v1/orders/0b8f4d1e-0000-4000-8000-000000000000"),
            vec![Method::GET]
        );
        assert_eq!(routes.allowed_methods("/api/v1/me"), vec![Method::GET]);
        for odd in [
            "/api/v1/me/",
            "/api//v1/me",
            "//api/v1/me",
            "/api/v1/orders//cancel",
            "",
        ] {
            assert!(routes.allowed_methods(odd).is_empty(), "{odd}");
        }
    }
}
