-- Places an employee order in one statement (see orders::placement). Locks are taken in the
-- one order every writer follows: the idempotency key (an advisory lock), the allowance row,
-- then — after the order, its lines, the audit event and the stored response are written, so
-- that a product's row is held as briefly as its stock row is in a flash sale — the products
-- in id order; the purchase-limit and pay-date rows of the employee come last. Each step that
-- can fall short raises where it falls short (abort_statement, or the stock CHECK), which
-- rolls the whole statement back; the reason is parsed once into `AbortReason`. A product gone
-- since the read fails its line's foreign key. {record_change} and {store_answer} are the
-- heads of the audit log's and the keys' INSERT, filled in from `write` and `idempotency`,
-- which own those tables.
--
-- $1 product ids (id order)  $2 quantities      $3 key lock name     $4 employee
-- $5 allowance year          $6 allowance charge $7 allowance seen    $8 allowance cap
-- $9-$11 limited lines: product, period start, quantity
-- $12 order id  $13 seller  $14 currency  $15 list total  $16 discount total  $17 total
-- $18 group currency  $19 fx rate  $20 now
-- $21-$28 lines: product, quantity, unit list price, discount %, list total, discount,
--         total, limit period start
-- $29 response body  $30 request id  $31 key  $32 scope  $33 request hash  $34 group
-- $35 the household member it is bought for (null: the employee)
-- $36-$37 payroll instalments: pay date, amount (empty: not paid from wages)
-- $38 the most that may stand due on a pay date  $39 the employer  $40 instalments
-- $41-$42 each product's purchase limit as the read saw it (in $1's order): quantity, period
WITH claim AS (
    SELECT CASE WHEN pg_try_advisory_xact_lock(hashtextextended($3, 0)) THEN true
        ELSE abort_statement('request_in_progress') END AS claimed),
charge AS (
    INSERT INTO allowance_usage AS a (employee_id, year, used)
    SELECT $4, $5, $6 FROM claim
    ON CONFLICT (employee_id, year) DO UPDATE SET used = a.used + EXCLUDED.used
    -- Without a cap the discount is the whole discount whatever was used: charged outright.
    -- With one, only if the allowance is still what the read priced against.
    WHERE CASE WHEN $8::numeric IS NULL OR (a.used = $7 AND a.used + EXCLUDED.used <= $8)
        THEN true ELSE abort_statement('allowance_moved') END
    RETURNING 1),
o AS (
    INSERT INTO orders (id, status, employee_id, seller_company_id, currency, list_total,
        discount_total, total, allowance_applied, allowance_year, group_currency, fx_rate,
        created_at, updated_at, group_id, for_member_id, payroll_instalments)
    SELECT $12, 'placed', $4, $13, $14, $15, $16, $17, $6, $5, $18, $19, $20, $20, $34, $35,
        $40
    FROM charge
    RETURNING id, number),
lines AS (
    INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_list_price,
        discount_percent, line_list_total, line_discount, line_total, limit_period_start,
        group_id)
    SELECT o.id, l.line_no::int4, l.product_id, l.quantity, l.unit_list_price,
        l.discount_percent, l.line_list_total, l.line_discount, l.line_total, l.period, $34
    FROM o, unnest($21::uuid[], $22::int4[], $23::numeric[], $24::numeric[],
        $25::numeric[], $26::numeric[], $27::numeric[], $28::date[]) WITH ORDINALITY
        AS l(product_id, quantity, unit_list_price, discount_percent, line_list_total,
             line_discount, line_total, period, line_no)
    RETURNING product_id),
body AS (SELECT jsonb_set($29::jsonb, '{number}', to_jsonb(o.number)) AS view FROM o),
audit AS (
    {record_change}
    SELECT $34, $4, 'order.placed', 'order', o.id, NULL::jsonb, body.view, $30 FROM o, body
    RETURNING 1),
stored AS (
    -- A key stored since the read (its request finished meanwhile) fails the key's primary key.
    {store_answer}
    SELECT $4, $31, $32, $33, 201, body.view FROM body, audit
    RETURNING 1),
locked AS (
    SELECT p.id FROM products p, stored
    WHERE p.id IN (SELECT product_id FROM lines)
    ORDER BY p.id
    FOR NO KEY UPDATE OF p),
stock AS (
    -- Short stock fails products_stock_on_hand_check. A purchase limit set or changed since
    -- the read (which counted the order against the limit it saw, or against none) aborts,
    -- and the order is read again.
    UPDATE products p SET stock_on_hand = p.stock_on_hand - s.quantity
    FROM unnest($1::uuid[], $2::int4[], $41::int4[], $42::text[])
        AS s(id, quantity, limit_quantity, limit_period)
    WHERE p.id = s.id AND p.id IN (SELECT id FROM locked)
        AND CASE WHEN p.id <> s.id THEN false
            WHEN (p.purchase_limit_quantity, p.purchase_limit_period)
                IS NOT DISTINCT FROM (s.limit_quantity, s.limit_period) THEN true
            ELSE abort_statement('limit_moved') END
    RETURNING p.id)
-- Only an order paid from wages sends what follows, up to the closing marker.
--<payroll>
, payroll AS (
    INSERT INTO payroll_due AS d (employee_id, pay_date, group_id, amount)
    SELECT $4, s.pay_date, $34, s.amount
    FROM unnest($36::date[], $37::numeric[]) AS s(pay_date, amount)
    WHERE CASE WHEN s.amount <= $38 THEN true
        ELSE abort_statement('deduction_share_exceeded:' || s.pay_date) END
    ORDER BY s.pay_date
    ON CONFLICT (employee_id, pay_date) DO UPDATE SET amount = d.amount + EXCLUDED.amount
    WHERE CASE WHEN d.amount + EXCLUDED.amount <= $38 THEN true
        ELSE abort_statement('deduction_share_exceeded:' || d.pay_date) END
    RETURNING 1),
schedule AS (
    INSERT INTO payroll_deductions (order_id, line_no, group_id, employee_id, company_id,
        pay_date, amount, currency, kind, status, created_at)
    SELECT o.id, s.line_no::int4, $34, $4, $39, s.pay_date, s.amount, $14, 'instalment',
        'due', $20
    FROM o, unnest($36::date[], $37::numeric[]) WITH ORDINALITY AS s(pay_date, amount, line_no)
    RETURNING 1)
--</payroll>
-- Only an order with purchase-limited lines sends what follows, up to the closing marker
-- (orders::placement keeps or cuts it, so PostgreSQL never starts writes that cannot happen).
--<limits>
, limited AS (
    INSERT INTO purchase_limit_usage AS u (employee_id, product_id, period_start, quantity,
        group_id)
    SELECT $4, x.product_id, x.period_start, x.quantity, $34
    FROM unnest($9::uuid[], $10::date[], $11::int4[]) AS x(product_id, period_start, quantity)
    ON CONFLICT (employee_id, product_id, period_start)
    DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity
    WHERE CASE WHEN u.quantity + EXCLUDED.quantity <=
            (SELECT p.purchase_limit_quantity FROM products p WHERE p.id = EXCLUDED.product_id)
        THEN true ELSE abort_statement('purchase_limit_exceeded:' || EXCLUDED.product_id) END
    RETURNING 1)
--</limits>
-- The count reads all of `stock`, so every product is locked and its stock taken here. The
-- sections above, which nothing reads, run to completion after it: PostgreSQL runs such writes
-- last declared first, so the purchase-limit rows are locked before the pay-date rows.
SELECT o.number FROM o WHERE (SELECT count(*) FROM stock) > 0
