-- Lines shipped in a month outside the arm's-length range they were priced under, in order
-- number and line order (bytewise, as the stored pages of a closed month compare them), after a
-- keyset cursor.
-- $1 group, $2 the month's first day, $3 the next month's, $4/$5 the cursor (number, line_no)
-- or NULL, $6 how many.
SELECT o.id AS order_id, o.number, l.line_no, o.seller_company_id, o.buyer_company_id,
       l.product_id, l.quantity, o.currency, l.unit_cost, l.unit_transfer_price,
       l.markup_percent, l.min_markup_percent, l.max_markup_percent, l.policy_id, o.ship_date
FROM intercompany_orders o
JOIN intercompany_order_lines l ON l.order_id = o.id
WHERE o.group_id = $1 AND o.ship_date >= $2 AND o.ship_date < $3
  AND l.outside_arms_length_range
  AND ($4::text IS NULL OR (o.number COLLATE "C", l.line_no) > ($4::text COLLATE "C", $5::integer))
ORDER BY o.number COLLATE "C", l.line_no
LIMIT $6
