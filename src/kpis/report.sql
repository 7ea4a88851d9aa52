-- The internal-service report (PRODUCT.md §8) of one month, per selling company of a group.
-- $1 group, $2 first instant of the month, $3 first instant of the next, $4 one company or NULL,
-- $5 the instant the month is seen from (its end, or now while it runs), $6 the group's time
-- zone (a promised day ends at its local midnight).
-- The month's orders are those placed (created) in it; lead times are measured on them from the
-- moments the actions happened (never a booking date the seller chose). Promises are measured
-- on the orders promised for a day of the month: on time when shipped by the end of that day,
-- late otherwise (shipped later or not at all); overdue are those past their promised day and
-- not shipped when the month is seen.
WITH employee AS (
    SELECT o.seller_company_id AS company_id,
           count(*) AS orders,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM o.fulfilled_at - o.created_at)) AS fulfilment_p50,
           count(*) FILTER (WHERE o.status = 'fulfilled') AS eligible,
           count(f.id) AS feedback,
           sum(f.rating) AS rating_sum,
           count(f.replied_at) AS replied
    FROM orders o
    LEFT JOIN feedback f ON f.order_id = o.id
    WHERE o.group_id = $1 AND o.created_at >= $2 AND o.created_at < $3
      AND ($4::uuid IS NULL OR o.seller_company_id = $4)
    GROUP BY o.seller_company_id
), intercompany AS (
    SELECT o.seller_company_id AS company_id,
           count(*) AS orders,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM o.accepted_at - o.created_at)) AS acceptance_p50,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM o.shipped_at - o.accepted_at)) AS shipping_p50,
           count(*) FILTER (WHERE o.status = 'rejected') AS rejected,
           count(*) FILTER (WHERE o.status = 'rejected' OR o.accepted_at IS NOT NULL) AS decided,
           count(*) FILTER (WHERE o.ship_date IS NOT NULL) AS eligible,
           count(f.id) AS feedback,
           sum(f.rating) AS rating_sum,
           count(f.replied_at) AS replied
    FROM intercompany_orders o
    LEFT JOIN feedback f ON f.intercompany_order_id = o.id
    WHERE o.group_id = $1 AND o.created_at >= $2 AND o.created_at < $3
      AND ($4::uuid IS NULL OR o.seller_company_id = $4)
    GROUP BY o.seller_company_id
), promised AS (
    SELECT o.seller_company_id AS company_id,
           count(*) FILTER (WHERE o.promised_date >= ($2 AT TIME ZONE $6)::date
                              AND o.promised_date < ($3 AT TIME ZONE $6)::date) AS promised,
           count(*) FILTER (WHERE o.promised_date >= ($2 AT TIME ZONE $6)::date
                              AND o.promised_date < ($3 AT TIME ZONE $6)::date
                              AND o.shipped_at < (o.promised_date + 1)::timestamp AT TIME ZONE $6)
               AS on_time,
           count(*) FILTER (WHERE (o.promised_date + 1)::timestamp AT TIME ZONE $6 <= $5
                              AND (o.shipped_at IS NULL OR o.shipped_at > $5)) AS overdue
    FROM intercompany_orders o
    WHERE o.group_id = $1 AND o.promised_date IS NOT NULL
      AND o.promised_date < ($3 AT TIME ZONE $6)::date
      AND o.status NOT IN ('rejected', 'cancelled')
      AND ($4::uuid IS NULL OR o.seller_company_id = $4)
    GROUP BY o.seller_company_id
)
SELECT c.id AS company_id,
       coalesce(e.orders, 0) AS employee_orders,
       round((e.fulfilment_p50 / 3600)::numeric, 2) AS employee_fulfilment_hours_p50,
       coalesce(i.orders, 0) AS intercompany_orders,
       round((i.acceptance_p50 / 3600)::numeric, 2) AS acceptance_hours_p50,
       round((i.shipping_p50 / 3600)::numeric, 2) AS shipping_hours_p50,
       round(p.on_time::numeric / nullif(p.promised, 0), 4) AS on_time_rate,
       coalesce(p.overdue, 0) AS overdue_open,
       round(i.rejected::numeric / nullif(i.decided, 0), 4) AS rejection_rate,
       coalesce(e.feedback, 0) + coalesce(i.feedback, 0) AS feedback_count,
       round((coalesce(e.rating_sum, 0) + coalesce(i.rating_sum, 0))::numeric
             / nullif(coalesce(e.feedback, 0) + coalesce(i.feedback, 0), 0), 2) AS average_rating,
       round((coalesce(e.feedback, 0) + coalesce(i.feedback, 0))::numeric
             / nullif(coalesce(e.eligible, 0) + coalesce(i.eligible, 0), 0), 4) AS response_rate,
       round((coalesce(e.replied, 0) + coalesce(i.replied, 0))::numeric
             / nullif(coalesce(e.feedback, 0) + coalesce(i.feedback, 0), 0), 4) AS replied_rate
FROM companies c
LEFT JOIN employee e ON e.company_id = c.id
LEFT JOIN intercompany i ON i.company_id = c.id
LEFT JOIN promised p ON p.company_id = c.id
WHERE c.group_id = $1 AND ($4::uuid IS NULL OR c.id = $4)
ORDER BY c.code, c.id
