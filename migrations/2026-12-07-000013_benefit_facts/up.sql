-- Employee benefits an auditor can sign (§7): the facts each line's tax depends on, fixed when
-- its order is fulfilled, and the rules of the five countries the group employs people in.

-- The employer's rule: US, German, British, French and Spanish rules beside `none`.
ALTER TABLE companies DROP CONSTRAINT companies_benefit_tax_rule_check;
ALTER TABLE companies ADD CONSTRAINT companies_benefit_tax_rule_check CHECK (
    benefit_tax_rule IN ('none', 'us_irc_132', 'de_estg_8_3', 'uk_bik_cost', 'fr_urssaf_30',
                         'es_lirpf_ordinary'));

-- `line_of_business` is a four-digit SIC industry code (its first two digits are the major
-- group Reg. §1.132-4(a)(2) compares). Codes in the old free format cannot be read as one and
-- are cleared: with no code, a line counts as in the employee's line of business, as before
-- for a company without one.
ALTER TABLE companies DROP CONSTRAINT companies_line_of_business_format;
UPDATE companies SET line_of_business = NULL WHERE line_of_business !~ '^[0-9]{4}$';
ALTER TABLE companies ADD CONSTRAINT companies_line_of_business_format
    CHECK (line_of_business ~ '^[0-9]{4}$');

-- §414(q): set by admin or finance; decides the non-discrimination test of Reg. §1.132-8.
ALTER TABLE employees ADD COLUMN highly_compensated boolean NOT NULL DEFAULT false;

-- Digits of a currency's minor unit (ISO 4217), as src/domain/codes.rs has them; a test keeps
-- the two tables equal.
CREATE FUNCTION currency_exponent(p_code text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_code IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF',
                        'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0
        WHEN p_code IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
        ELSE 2
    END
$$;

-- One row per line of a fulfilled employee order: every fact its tax depends on, as it stood
-- when the order was fulfilled. The benefits report reads only this table, so a later change
-- of a company, product, employee or tier changes no figure already earned. Append-only.
CREATE TABLE benefit_lines (
    group_id uuid NOT NULL,
    order_id uuid NOT NULL,
    line_no integer NOT NULL,
    -- Whose benefit it is (the employee, also for a household member's order) and employer.
    employee_id uuid NOT NULL,
    employer_company_id uuid NOT NULL,
    rule text NOT NULL CHECK (rule IN ('none', 'us_irc_132', 'de_estg_8_3', 'uk_bik_cost',
                                       'fr_urssaf_30', 'es_lirpf_ordinary')),
    employer_line_of_business text CHECK (employer_line_of_business ~ '^[0-9]{4}$'),
    -- The moment of the fulfilment: the year it counts in is the group calendar's (its time
    -- zone cannot move once a month is closed), as for every other report.
    fulfilled_at timestamptz NOT NULL,
    seller_company_id uuid NOT NULL,
    seller_gp_percent numeric(8, 4),
    seller_line_of_business text CHECK (seller_line_of_business ~ '^[0-9]{4}$'),
    product_id uuid NOT NULL,
    product_kind text NOT NULL CHECK (product_kind IN ('goods', 'service')),
    offered_to_customers boolean NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    -- In the employer's (payroll) currency at the fulfilment day's rate, each rounded once to
    -- its minor unit: list price, price paid and the seller's cost of the line.
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    list_total numeric NOT NULL CHECK (list_total >= 0),
    paid_total numeric NOT NULL CHECK (paid_total >= 0 AND paid_total <= list_total),
    cost_total numeric NOT NULL CHECK (cost_total >= 0),
    -- One unit of the employer's currency in the group currency on that day.
    group_currency text NOT NULL CHECK (group_currency ~ '^[A-Z]{3}$'),
    to_group_rate numeric NOT NULL CHECK (to_group_rate > 0),
    highly_compensated boolean NOT NULL,
    -- The line was priced by a tier whose members are all highly compensated and whose discount
    -- on the line's category beats every tier with a non-HCE member of the employer.
    tier_discriminatory boolean NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT benefit_lines_line_same_group
        FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no),
    CONSTRAINT benefit_lines_order_same_group
        FOREIGN KEY (group_id, order_id) REFERENCES orders (group_id, id),
    CONSTRAINT benefit_lines_employee_same_group
        FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id),
    CONSTRAINT benefit_lines_employer_same_group
        FOREIGN KEY (group_id, employer_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT benefit_lines_seller_same_group
        FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id)
);
-- The report walks a year's lines employee by employee, in the order they were earned.
CREATE INDEX benefit_lines_report_idx
    ON benefit_lines (group_id, employee_id, fulfilled_at, order_id, line_no);

CREATE FUNCTION benefit_lines_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'benefit_lines is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER benefit_lines_no_update_delete
    BEFORE UPDATE OR DELETE ON benefit_lines
    FOR EACH ROW EXECUTE FUNCTION benefit_lines_fixed();
CREATE TRIGGER benefit_lines_no_truncate
    BEFORE TRUNCATE ON benefit_lines
    FOR EACH STATEMENT EXECUTE FUNCTION benefit_lines_fixed();

-- Orders fulfilled before this migration: their facts as master data stands now (the best
-- record there is), converted as fulfilment converts: the fulfilment day's rate of the pair, else
-- through the group currency (the day's rate into it, or the order's own rate when none is
-- stored, then the day's rate out of it). No tier was tested for discrimination then: false. A
-- line no rate can convert would be left out; `benefit_lines_backfill_gaps` below counts them,
-- so that the gap is visible rather than silent.
-- Four-digit codes in `line_of_business` are kept and read as SIC from now on: a group that
-- entered NAICS codes should review them (docs/API.md says so).
CREATE FUNCTION pg_temp.day_rate(p_group uuid, p_base text, p_quote text, p_day date)
    RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_base = p_quote THEN 1
                ELSE (SELECT CASE WHEN r.inverted THEN 1 / r.rate ELSE r.rate END
                      FROM fx_lookup(p_group, p_base, p_quote, p_day) r) END
$$;
WITH facts AS (
    SELECT o.group_id, l.order_id, l.line_no, o.employee_id, e.company_id AS employer_id,
           ec.benefit_tax_rule AS rule, ec.line_of_business AS employer_lob,
           o.fulfilled_at,
           (o.fulfilled_at AT TIME ZONE coalesce(root.time_zone, 'UTC'))::date AS fulfilled_on,
           o.seller_company_id, s.qualified_discount_gp_percent AS seller_gp,
           s.line_of_business AS seller_lob, l.product_id, p.kind, p.offered_to_customers,
           l.quantity, o.currency AS order_currency, ec.currency, o.group_currency, o.fx_rate,
           l.line_list_total, l.line_total, p.unit_cost * l.quantity AS cost,
           e.highly_compensated
    FROM orders o
    JOIN order_lines l ON l.order_id = o.id
    JOIN products p ON p.id = l.product_id
    JOIN employees e ON e.id = o.employee_id
    JOIN companies ec ON ec.id = e.company_id
    JOIN companies s ON s.id = o.seller_company_id
    JOIN companies root ON root.id = o.group_id
    WHERE o.status = 'fulfilled' AND o.fulfilled_at IS NOT NULL
), rated AS (
    SELECT f.*,
           coalesce(pg_temp.day_rate(f.group_id, f.order_currency, f.currency, f.fulfilled_on),
                    coalesce(pg_temp.day_rate(f.group_id, f.order_currency, f.group_currency,
                                              f.fulfilled_on), f.fx_rate)
                    * pg_temp.day_rate(f.group_id, f.group_currency, f.currency, f.fulfilled_on))
               AS to_employer,
           pg_temp.day_rate(f.group_id, f.currency, f.group_currency, f.fulfilled_on) AS to_group
    FROM facts f
)
INSERT INTO benefit_lines (group_id, order_id, line_no, employee_id, employer_company_id, rule,
                           employer_line_of_business, fulfilled_at,
                           seller_company_id, seller_gp_percent, seller_line_of_business,
                           product_id, product_kind, offered_to_customers, quantity, currency,
                           list_total, paid_total, cost_total, group_currency, to_group_rate,
                           highly_compensated, tier_discriminatory)
SELECT group_id, order_id, line_no, employee_id, employer_id, rule, employer_lob, fulfilled_at,
       seller_company_id, seller_gp,
       seller_lob, product_id, kind, offered_to_customers, quantity, currency,
       round(line_list_total * to_employer, currency_exponent(currency)),
       least(round(line_total * to_employer, currency_exponent(currency)),
             round(line_list_total * to_employer, currency_exponent(currency))),
       round(cost * to_employer, currency_exponent(currency)),
       group_currency, coalesce(to_group, fx_rate / to_employer), highly_compensated, false
FROM rated
WHERE to_employer IS NOT NULL;

-- What the backfill could not convert (no rate at all between the currencies): the lines of
-- orders fulfilled before this migration that have no facts. Empty where nothing was missed.
CREATE VIEW benefit_lines_backfill_gaps AS
    SELECT l.order_id, l.line_no
    FROM orders o JOIN order_lines l ON l.order_id = o.id
    WHERE o.status = 'fulfilled'
        AND NOT EXISTS (SELECT 1 FROM benefit_lines b
                        WHERE b.order_id = l.order_id AND b.line_no = l.line_no);
