-- The employee-benefits figures of 2026 as one hand-written SQL aggregate: the yardstick the
-- finance bench holds the service's report to (benches/finance.rs). The rules of
-- src/domain/benefits for the four the bench uses (us_irc_132, de_estg_8_3, uk_bik_cost,
-- es_lirpf_ordinary), with {ROOT} the group and {EMPLOYEES} a filter on employee_id.
WITH lines AS (
    SELECT b.*, b.list_total - b.paid_total AS discount,
           CASE WHEN b.rule = 'de_estg_8_3' AND b.seller_company_id = b.employer_company_id
                THEN greatest(round(b.list_total * 0.96, 2) - b.paid_total, 0) ELSE 0 END AS de_benefit,
           CASE WHEN b.rule = 'es_lirpf_ordinary' AND b.list_total - b.paid_total <= b.list_total * 0.15
                THEN b.list_total - b.paid_total ELSE 0 END AS es_ordinary
    FROM benefit_lines b
    WHERE b.group_id = '{ROOT}' AND b.fulfilled_at >= '2026-01-01' AND b.fulfilled_at < '2027-01-01'
        AND {EMPLOYEES}
), running AS (
    SELECT l.*,
           coalesce(sum(de_benefit + es_ordinary) OVER earlier, 0) AS used_before
    FROM lines l
    WINDOW earlier AS (PARTITION BY employee_id, employer_company_id, rule, currency
                       ORDER BY fulfilled_at, order_id, line_no
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), assessed AS (
    SELECT r.*,
           CASE r.rule
               WHEN 'de_estg_8_3' THEN least(de_benefit, 1080 - least(1080, used_before))
               WHEN 'es_lirpf_ordinary' THEN least(es_ordinary, 1000 - least(1000, used_before))
               ELSE 0
           END AS allowance,
           CASE r.rule
               WHEN 'us_irc_132' THEN
                   CASE WHEN (highly_compensated AND tier_discriminatory) OR NOT offered_to_customers
                             OR left(seller_line_of_business, 2) <> left(employer_line_of_business, 2)
                        THEN discount
                        ELSE greatest(discount - round(list_total * CASE WHEN product_kind = 'service' THEN 20
                                                       ELSE coalesce(seller_gp_percent, 0) END / 100, 2), 0)
                   END
               WHEN 'de_estg_8_3' THEN
                   CASE WHEN seller_company_id <> employer_company_id THEN discount
                        ELSE de_benefit - least(de_benefit, 1080 - least(1080, used_before)) END
               WHEN 'uk_bik_cost' THEN greatest(cost_total - paid_total, 0)
               WHEN 'es_lirpf_ordinary' THEN
                   CASE WHEN es_ordinary = 0 THEN discount
                        ELSE es_ordinary - least(es_ordinary, 1000 - least(1000, used_before)) END
           END AS taxable
    FROM running r
)
SELECT employee_id, employer_company_id, rule, currency, count(DISTINCT order_id) AS orders,
       sum(list_total) AS list_total, sum(paid_total) AS paid_total, sum(discount) AS discount_total,
       sum(greatest(discount - taxable, 0)) AS qualified, sum(taxable) AS taxable,
       sum(allowance) AS allowance_used, sum(round(taxable * to_group_rate, 2)) AS taxable_group
FROM assessed
GROUP BY employee_id, employer_company_id, rule, currency
ORDER BY employee_id
