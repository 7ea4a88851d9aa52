-- The facts an order's employee-benefit tax depends on (§7), read as they stand when the order
-- is fulfilled; src/orders/benefit_facts.rs converts the amounts and records one row per line.
--   $1 group, $2 order.
-- The tier test of Reg. §1.132-8(a) is made among the employer's active employees (and the
-- buyer, active or not): `all_hce` is whether everyone of the buyer's tier there is highly
-- compensated, `best_non_hce_percent` the best discount on the line's category of any tier
-- with a member there who is not.
SELECT l.line_no, l.product_id, l.quantity, l.line_list_total, l.line_total,
       p.unit_cost, p.kind, p.offered_to_customers,
       o.currency AS order_currency, o.group_currency, o.employee_id, o.seller_company_id,
       s.qualified_discount_gp_percent AS seller_gp, s.line_of_business AS seller_lob,
       e.company_id AS employer_id, ec.benefit_tax_rule AS rule,
       ec.line_of_business AS employer_lob, ec.currency AS employer_currency,
       e.highly_compensated, tier.all_hce, tier.percent AS tier_percent,
       best.percent AS best_non_hce_percent
FROM orders o
JOIN order_lines l ON l.order_id = o.id
JOIN products p ON p.id = l.product_id
JOIN companies s ON s.id = o.seller_company_id
JOIN employees e ON e.id = o.employee_id
JOIN companies ec ON ec.id = e.company_id
LEFT JOIN LATERAL (
    SELECT coalesce(d.discount_percent, t.discount_percent) AS percent,
           (SELECT bool_and(m.highly_compensated) FROM employees m
            WHERE m.tier_id = t.id AND m.company_id = e.company_id
                AND (m.active OR m.id = e.id)) AS all_hce
    FROM discount_tiers t
    LEFT JOIN tier_category_discounts d ON d.tier_id = t.id AND d.category_id = p.category_id
    WHERE t.id = e.tier_id
) tier ON true
LEFT JOIN LATERAL (
    SELECT max(coalesce(d.discount_percent, t.discount_percent)) AS percent
    FROM discount_tiers t
    LEFT JOIN tier_category_discounts d ON d.tier_id = t.id AND d.category_id = p.category_id
    WHERE t.group_id = o.group_id
        AND EXISTS (SELECT 1 FROM employees m
                    WHERE m.tier_id = t.id AND m.company_id = e.company_id AND m.active
                        AND NOT m.highly_compensated)
) best ON true
WHERE o.group_id = $1 AND o.id = $2
ORDER BY l.line_no
