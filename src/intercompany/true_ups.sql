-- The year's intercompany sales per seller, buyer and policy (see intercompany::true_ups):
-- revenue and cost of what shipped in [$2, $3), with the range the lines were priced under,
-- and what true-ups of year $4 already booked on the seller's side. $1 is the group.
WITH shipped AS (
    SELECT o.seller_company_id, o.buyer_company_id, l.policy_id, o.currency,
           l.min_markup_percent, l.max_markup_percent,
           sum(l.line_total) AS revenue, sum(l.quantity * l.unit_cost) AS cost
    FROM intercompany_orders o
    JOIN intercompany_order_lines l ON l.order_id = o.id
    WHERE o.group_id = $1 AND o.ship_date >= $2 AND o.ship_date < $3
    GROUP BY 1, 2, 3, 4, 5, 6),
booked AS (
    SELECT company_id AS seller_company_id, counterparty_company_id AS buyer_company_id,
           policy_id, sum(document_amount) AS booked
    FROM ledger_entries
    WHERE group_id = $1 AND kind = 'true_up' AND side = 'seller' AND true_up_year = $4
    GROUP BY 1, 2, 3)
SELECT s.seller_company_id, s.buyer_company_id, s.policy_id, s.currency,
       s.min_markup_percent, s.max_markup_percent,
       s.revenue, s.cost, coalesce(b.booked, 0) AS booked
FROM shipped s LEFT JOIN booked b USING (seller_company_id, buyer_company_id, policy_id)
ORDER BY 1, 2, 3
