//! A million intercompany ledger entries for the reports to chew on, shared by the finance
//! and replica benchmarks: `orders` intercompany orders between the four companies
//! `…0010`–`…0013` of group `root` (USD and EUR), shipped and settled in March 2026, created by
//! `finance@jkl.example`, with five entries each.

use diesel_async::{AsyncPgConnection, RunQueryDsl};

async fn sql(conn: &mut AsyncPgConnection, text: &str) {
    diesel::sql_query(text)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {text}"));
}

/// Inserts the orders and their entries (the closed-month triggers off while they load).
pub async fn seed(conn: &mut AsyncPgConnection, root: &str, orders: u64) {
    // Intercompany orders between the four companies (seller i, buyer i+1), shipped and settled
    // in March, with their entries: receivable, payable, two settlements, the FX difference.
    sql(conn, "ALTER TABLE ledger_entries DISABLE TRIGGER USER").await;
    sql(conn, &format!(
        "INSERT INTO intercompany_orders (id, group_id, status, buyer_company_id, seller_company_id, currency, total, \
                                          order_date, created_by, ship_date, shipped_at, settle_date, settled_at) \
         SELECT md5('ic' || n)::uuid, '{root}', 'settled', \
                ('00000000-0000-0000-0000-00000000001' || ((n + 1) % 4))::uuid, \
                ('00000000-0000-0000-0000-00000000001' || (n % 4))::uuid, \
                CASE WHEN n % 4 IN (1, 3) THEN 'EUR' ELSE 'USD' END, 100 + n % 900, date '2026-03-01', \
                (SELECT id FROM employees WHERE email = 'finance@jkl.example'), \
                date '2026-03-02' + n % 10, now(), date '2026-03-15' + n % 10, now() \
         FROM generate_series(1, {orders}) n")).await;
    sql(conn, &format!(
        "INSERT INTO ledger_entries (group_id, posting_id, order_id, company_id, counterparty_company_id, side, kind, \
                                     amount, currency, document_amount, document_currency, rate, date) \
         SELECT '{root}', o.id, o.id, \
                CASE WHEN k.side = 'seller' THEN o.seller_company_id ELSE o.buyer_company_id END, \
                CASE WHEN k.side = 'seller' THEN o.buyer_company_id ELSE o.seller_company_id END, \
                k.side, k.kind, \
                CASE WHEN k.kind = 'fx_difference' THEN 0.50 ELSE k.sign * o.total END, \
                CASE WHEN k.side = 'seller' THEN o.currency ELSE b.currency END, \
                CASE WHEN k.kind = 'fx_difference' THEN 0 ELSE k.sign * o.total END, o.currency, 1, \
                CASE WHEN k.kind IN ('receivable', 'payable') THEN o.ship_date ELSE o.settle_date END \
         FROM intercompany_orders o JOIN companies b ON b.id = o.buyer_company_id \
         CROSS JOIN (VALUES ('seller', 'receivable', 1), ('buyer', 'payable', 1), ('seller', 'settlement', -1), \
                            ('buyer', 'settlement', -1), ('buyer', 'fx_difference', 0)) AS k(side, kind, sign)")).await;
    sql(conn, "ALTER TABLE ledger_entries ENABLE TRIGGER USER").await;
}
