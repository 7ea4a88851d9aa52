-- Places an intercompany order in one statement (see intercompany::placement): the order and
-- its lines, priced beforehand in the same transaction. $1 group, $2 buyer, $3 seller,
-- $4 currency, $5 total, $6 order date, $7 created by, $8 now; the lines as arrays in their
-- order: $9 product, $10 quantity, $11 policy, $12 method, $13 percent, $14 min markup,
-- $15 max markup, $16 unit cost, $17 unit transfer price, $18 line total, $19 markup,
-- $20 outside the arm's-length range.
WITH o AS (
    INSERT INTO intercompany_orders (group_id, status, buyer_company_id, seller_company_id,
        currency, total, order_date, created_by, created_at, updated_at)
    VALUES ($1, 'requested', $2, $3, $4, $5, $6, $7, $8, $8)
    RETURNING id, number, status, buyer_company_id, seller_company_id, currency, total,
        order_date, promised_date, ship_date, settle_date, created_at, updated_at),
lines AS (
    INSERT INTO intercompany_order_lines (group_id, order_id, line_no, product_id, quantity,
        policy_id, method, percent, min_markup_percent, max_markup_percent, unit_cost,
        unit_transfer_price, line_total, markup_percent, outside_arms_length_range)
    SELECT $1, o.id, l.line_no::int4, l.product_id, l.quantity, l.policy_id, l.method,
        l.percent, l.min_markup, l.max_markup, l.unit_cost, l.unit_transfer_price,
        l.line_total, l.markup, l.outside
    FROM o, unnest($9::uuid[], $10::int4[], $11::uuid[], $12::text[], $13::numeric[],
        $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[], $18::numeric[],
        $19::numeric[], $20::bool[]) WITH ORDINALITY
        AS l(product_id, quantity, policy_id, method, percent, min_markup, max_markup,
             unit_cost, unit_transfer_price, line_total, markup, outside, line_no)
    RETURNING 1)
SELECT o.* FROM o
