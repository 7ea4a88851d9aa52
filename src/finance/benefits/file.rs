//! The benefits CSV files (the payroll files): streamed a chunk of employees at a time, the
//! next chunk read while the current one is computed.

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use uuid::Uuid;

use super::year::{assemble, load, LineRow, Scope};
use super::BenefitItem;
use crate::csv::{record, Column};
use crate::db::DbPool as Pool;
use crate::domain::codes::CurrencyCode;
use crate::error::ApiError;

/// Employees per database round trip of a file (JSON pages take `limit`).
pub(super) const CHUNK: i64 = 1000;

pub(super) const CSV_ITEM: [Column; 14] = crate::csv_columns![
    employee_id, company_id, client_type, rule, currency, orders, #list_total, #paid_total,
    #discount_total, #qualified_discount, #taxable_excess, #allowance_used, #taxable_excess_group,
    group_currency,
];

pub(super) const CSV_LINE: [Column; 17] = crate::csv_columns![
    employee_id, company_id, rule, currency, order_id, line_no, fulfilled_on, product_id,
    seller_company_id, quantity, #list_total, #paid_total, #discount, #qualified_discount,
    #taxable_excess, #allowance_used, reason,
];

/// The benefits file's records of a chunk: one per item, or one per line with `detail=lines`.
pub(super) fn report_records(
    items: &[BenefitItem],
    group_currency: CurrencyCode,
    out: &mut String,
) {
    for item in items {
        item_records(item, group_currency, out);
    }
}

fn item_records(item: &BenefitItem, group_currency: CurrencyCode, out: &mut String) {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let Some(lines) = &item.lines else {
        out.push_str(&record(
            &CSV_ITEM,
            &[
                item.employee_id.to_string(),
                item.company_id.to_string(),
                item.client_type.to_string(),
                item.rule.to_string(),
                item.currency.clone(),
                item.orders.to_string(),
                item.list_total.clone(),
                item.paid_total.clone(),
                item.discount_total.clone(),
                text(&item.qualified_discount),
                text(&item.taxable_excess),
                text(&item.allowance_used),
                text(&item.taxable_excess_group),
                group_currency.to_string(),
            ],
        ));
        return;
    };
    for line in lines {
        out.push_str(&record(
            &CSV_LINE,
            &[
                item.employee_id.to_string(),
                item.company_id.to_string(),
                item.rule.to_string(),
                item.currency.clone(),
                line.order_id.to_string(),
                line.line_no.to_string(),
                line.fulfilled_on.to_string(),
                line.product_id.to_string(),
                line.seller_company_id.to_string(),
                line.quantity.to_string(),
                line.list_total.clone(),
                line.paid_total.clone(),
                line.discount.clone(),
                text(&line.qualified_discount),
                text(&line.taxable_excess),
                text(&line.allowance_used),
                serde_json::to_value(line.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ],
        ));
    }
}

/// The next chunk of the payroll file: read already, or being read.
enum Next {
    Ready(Vec<LineRow>),
    Loading(tokio::task::JoinHandle<Result<Vec<LineRow>, ApiError>>),
}

impl Next {
    async fn rows(self) -> Result<Vec<LineRow>, ApiError> {
        match self {
            Self::Ready(rows) => Ok(rows),
            Self::Loading(task) => task.await.map_err(|e| ApiError::internal(e.to_string()))?,
        }
    }
}

fn load_next(pool: &Pool, scope: Scope, after: Uuid) -> Next {
    let pool = pool.clone();
    Next::Loading(actix_web::rt::spawn(async move {
        let mut conn = pool.get().await?;
        load(&mut conn, scope, after, CHUNK).await
    }))
}

/// How a file writes a chunk's items.
pub(super) type Writer = fn(&[BenefitItem], CurrencyCode, &mut String);

/// A payroll file: `header`, then one chunk of employees per round trip written by `write` as
/// it comes, so memory stays flat however many employees there are and the first bytes leave
/// at once. The next chunk is read while this one is computed (on a blocking thread), so
/// PostgreSQL and the service work side by side. `first` is read before the answer starts, so
/// that a failure there is still a problem answer.
pub(super) fn stream(
    pool: Pool,
    scope: Scope,
    first: Vec<LineRow>,
    header: String,
    write: Writer,
) -> HttpResponse {
    let stream = futures_util::stream::unfold(
        (Some(Next::Ready(first)), Some(header)),
        move |(next, header)| {
            let pool = pool.clone();
            async move {
                let next = next?;
                let text = async {
                    let rows = next.rows().await?;
                    let next = <[LineRow]>::last(&rows).map(|row| row.employee_id);
                    let loading = next.map(|after| load_next(&pool, scope, after));
                    let text = tokio::task::spawn_blocking(move || {
                        let mut text = header.unwrap_or_default();
                        write(&assemble(&rows, scope)?, scope.group_currency, &mut text);
                        Ok::<_, ApiError>(text)
                    })
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))??;
                    Ok::<_, ApiError>((text, loading))
                }
                .await;
                match text {
                    Ok((text, _)) if text.is_empty() => None,
                    Ok((text, loading)) => Some((
                        Ok::<Bytes, actix_web::Error>(Bytes::from(text)),
                        (loading, None),
                    )),
                    Err(error) => {
                        tracing::error!(%error, "benefits export failed midway");
                        let failed = actix_web::error::ErrorInternalServerError("export failed");
                        Some((Err(failed), (None, None)))
                    }
                }
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .streaming(stream)
}
