-- Appends lines to payroll schedules (see payroll::schedule::append) and moves what stands due
-- per pay date with them: a due line adds its amount, a cancellation takes the cancelled
-- amount back. The totals are updated in pay-date order, the order in which placing an order
-- takes them, so that the two never wait on each other in a circle.
--
-- $1 group  $2 employee  $3 now
-- $4-$12 lines: order, line number, employer, currency, pay date, amount, kind, status,
--        the line it replaces
WITH ins AS (
    INSERT INTO payroll_deductions (order_id, line_no, group_id, employee_id, company_id,
        pay_date, amount, currency, kind, status, replaces, created_at)
    SELECT l.order_id, l.line_no, $1, $2, l.company_id, l.pay_date, l.amount, l.currency,
        l.kind, l.status, l.replaces, $3
    FROM unnest($4::uuid[], $5::int4[], $6::uuid[], $7::text[], $8::date[], $9::numeric[],
        $10::text[], $11::text[], $12::int4[])
        AS l(order_id, line_no, company_id, currency, pay_date, amount, kind, status, replaces)
    RETURNING pay_date, CASE status WHEN 'due' THEN amount ELSE -amount END AS delta),
due AS (
    INSERT INTO payroll_due AS d (employee_id, pay_date, group_id, amount)
    SELECT $2, ins.pay_date, $1, sum(ins.delta) FROM ins
    GROUP BY ins.pay_date
    ORDER BY ins.pay_date
    ON CONFLICT (employee_id, pay_date) DO UPDATE SET amount = d.amount + EXCLUDED.amount
    RETURNING 1)
SELECT (SELECT count(*) FROM ins) AS lines, (SELECT count(*) FROM due) AS dates
