-- The benefit lines of the next employees (src/finance/benefits/year.rs), in the order they
-- were earned: an employee's lines together, in fulfilment order.
--   $1 group, $2 and $3 the lines' bounds (the group calendar's midnights: January 1st of the
--   year, and the end of the year or month reported), $4 the last employee of the previous
--   chunk (nil: none), $5 employees, $6 the start of what is reported (an employee is chosen
--   for a line from then; a month's report reads the lines before it for the allowances).
-- `chosen` walks benefit_lines_report_idx and stops after $5 employees; their client types are
-- looked up one by one (a join let the planner hash the whole employees table per chunk).
WITH chosen AS MATERIALIZED (
    SELECT c.employee_id,
           (SELECT e.client_type FROM employees e WHERE e.id = c.employee_id) AS client_type
    FROM (SELECT DISTINCT employee_id FROM benefit_lines
          WHERE group_id = $1 AND employee_id > $4 AND fulfilled_at >= $6 AND fulfilled_at < $3
          ORDER BY employee_id
          LIMIT $5) c
)
SELECT b.employee_id, b.employer_company_id, c.client_type, b.rule, b.currency,
       b.to_group_rate, b.order_id, b.line_no, b.fulfilled_at, b.product_id,
       b.seller_company_id, b.quantity, b.list_total, b.paid_total, b.cost_total,
       b.product_kind, b.offered_to_customers, b.seller_gp_percent, b.seller_line_of_business,
       b.employer_line_of_business, b.highly_compensated, b.tier_discriminatory
FROM chosen c
JOIN benefit_lines b ON b.group_id = $1 AND b.employee_id = c.employee_id
    AND b.fulfilled_at >= $2 AND b.fulfilled_at < $3
ORDER BY b.employee_id, b.fulfilled_at, b.order_id, b.line_no
