-- The payroll deductions of one pay date (finance::payroll): the lines due on it that no
-- later line replaced, a page at a time in (employee, order, line) order. An instalment runs
-- from the first to the last pay date of its order's instalments still standing; a refund or
-- a balance falls on its one date.
--
-- $1 group  $2 pay date  $3-$5 after (employee, order, line)  $6 rows
SELECT d.employee_id, e.full_name AS employee_name, d.company_id, d.order_id, d.line_no,
    d.kind, d.amount, d.currency,
    CASE d.kind WHEN 'instalment' THEN r.first_date ELSE d.pay_date END AS start_date,
    CASE d.kind WHEN 'instalment' THEN r.last_date ELSE d.pay_date END AS stop_date
FROM payroll_deductions d
JOIN employees e ON e.id = d.employee_id
CROSS JOIN LATERAL (
    SELECT min(i.pay_date) AS first_date, max(i.pay_date) AS last_date
    FROM payroll_deductions i
    WHERE i.order_id = d.order_id AND i.kind = 'instalment' AND i.status = 'due'
        AND NOT EXISTS (SELECT 1 FROM payroll_deductions x
                        WHERE x.order_id = i.order_id AND x.replaces = i.line_no)) r
WHERE d.group_id = $1 AND d.pay_date = $2 AND d.status = 'due'
    AND NOT EXISTS (SELECT 1 FROM payroll_deductions x
                    WHERE x.order_id = d.order_id AND x.replaces = d.line_no)
    AND (d.employee_id, d.order_id, d.line_no) > ($3, $4, $5)
ORDER BY d.employee_id, d.order_id, d.line_no
LIMIT $6
