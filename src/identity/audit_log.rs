//! `GET /audit-events`: the audit log for admins and finance, newest first, filtered,
//! keyset-paginated.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::auth::{AdminOrFinance, Authorized};
use crate::audit::AuditEvent;
use crate::db::schema::audit_events;
use crate::error::ApiError;
use crate::pagination::Page;
use crate::state::AppState;

crate::paged_query! {
    pub struct AuditQuery {
        /// e.g. `company`, `employee`.
        #[param(pattern = r"^[^\u0000]*$")]
        pub entity_type: Option<String>,
        pub entity_id: Option<Uuid>,
        pub actor_id: Option<Uuid>,
        /// Only events at or after this instant (RFC 3339).
        pub since: Option<DateTime<Utc>>,
    }
}

/// List the audit events of the caller's group (admin, finance), newest first.
#[utoipa::path(
    tag = "audit", params(AuditQuery), security(("bearer" = ["admin", "finance"])),
    responses((status = 200, body = Page<AuditEvent>))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    caller: Authorized<AdminOrFinance>,
    state: web::Data<AppState>,
    query: crate::json::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let query = query.into_inner();
    let page = query.page::<i64>()?;
    let mut sql = audit_events::table
        .filter(audit_events::group_id.eq(caller.group_id))
        .select(AuditEvent::as_select())
        .order(audit_events::seq.desc())
        .limit(page.fetch())
        .into_boxed();
    if let Some(entity_type) = query.entity_type {
        sql = sql.filter(audit_events::entity_type.eq(entity_type));
    }
    if let Some(entity_id) = query.entity_id {
        sql = sql.filter(audit_events::entity_id.eq(entity_id));
    }
    if let Some(actor_id) = query.actor_id {
        sql = sql.filter(audit_events::actor_id.eq(actor_id));
    }
    if let Some(since) = query.since {
        sql = sql.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(after) = page.after {
        sql = sql.filter(audit_events::seq.lt(after));
    }
    let mut conn = state.pool.get().await?;
    let rows = sql.load(&mut conn).await?;
    Ok(web::Json(page.of(rows, |e| e.seq)))
}

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_events);
}
