-- Each pair's intercompany inventory reported for one month, with the pair's margin over the
-- lines shipped in the 12 months to the month's end (PRODUCT.md §7).
-- $1 group, $2 the month's first day, $3 the window's first day, $4 the next month's first day.
WITH held AS (
    SELECT seller_company_id, buyer_company_id, currency, amount
    FROM intercompany_inventory
    WHERE group_id = $1 AND period = $2
), shipped AS (
    SELECT o.seller_company_id, o.buyer_company_id,
           sum(l.line_total) AS revenue, sum(l.quantity * l.unit_cost) AS cost
    FROM intercompany_orders o
    JOIN intercompany_order_lines l ON l.order_id = o.id
    JOIN held h USING (seller_company_id, buyer_company_id)
    WHERE o.group_id = $1 AND o.ship_date >= $3 AND o.ship_date < $4
    GROUP BY 1, 2
)
SELECT h.seller_company_id, h.buyer_company_id, h.currency, h.amount,
       coalesce(s.revenue, 0) AS revenue, coalesce(s.cost, 0) AS cost
FROM held h
LEFT JOIN shipped s USING (seller_company_id, buyer_company_id)
ORDER BY 1, 2
