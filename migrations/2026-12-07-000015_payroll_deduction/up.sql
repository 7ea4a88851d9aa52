-- Payroll deduction (§5): an employer may let its employees pay an order from wages over
-- several pay dates. A schedule is append-only: a change (cancellation, the end of employment)
-- is new lines, a cancelled line naming the line it replaces, and the lines standing always
-- sum to what the employee owes.

-- The employer's offer: all six settings or none.
ALTER TABLE companies
    ADD COLUMN payroll_enabled boolean,
    ADD COLUMN payroll_min_tenure_months integer
        CHECK (payroll_min_tenure_months BETWEEN 0 AND 600),
    ADD COLUMN payroll_instalments integer[]
        CHECK (cardinality(payroll_instalments) BETWEEN 1 AND 60
            AND array_position(payroll_instalments, NULL) IS NULL
            AND 1 <= ALL (payroll_instalments) AND 60 >= ALL (payroll_instalments)),
    ADD COLUMN payroll_max_share_of_pay numeric(7, 4)
        CHECK (payroll_max_share_of_pay > 0 AND payroll_max_share_of_pay <= 100),
    ADD COLUMN payroll_frequency text
        CHECK (payroll_frequency IN ('monthly', 'semi_monthly', 'biweekly')),
    ADD COLUMN payroll_first_pay_date date
        CHECK (payroll_first_pay_date BETWEEN '2000-01-01' AND '2100-12-31'),
    ADD CONSTRAINT companies_payroll_whole CHECK (num_nulls(payroll_enabled,
        payroll_min_tenure_months, payroll_instalments, payroll_max_share_of_pay,
        payroll_frequency, payroll_first_pay_date) IN (0, 6));

-- What payroll deduction needs to know of an employee (set by admin or finance).
ALTER TABLE employees
    ADD COLUMN hired_on date CHECK (hired_on BETWEEN '1900-01-01' AND '2100-12-31'),
    ADD COLUMN pay_per_period numeric CHECK (pay_per_period > 0);

-- An order paid from wages: over how many pay dates (null: paid otherwise).
ALTER TABLE orders ADD COLUMN payroll_instalments integer
    CHECK (payroll_instalments BETWEEN 1 AND 60);

CREATE TABLE payroll_deductions (
    order_id uuid NOT NULL,
    line_no integer NOT NULL CHECK (line_no > 0),
    group_id uuid NOT NULL,
    employee_id uuid NOT NULL,
    -- The employer whose payroll deducts it (the employee's company when the order was placed).
    company_id uuid NOT NULL,
    pay_date date NOT NULL,
    amount numeric NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    kind text NOT NULL CHECK (kind IN ('instalment', 'refund', 'balance')),
    -- Stored `due` or `cancelled`; `deducted` is shown once the pay date has come.
    status text NOT NULL CHECK (status IN ('due', 'cancelled')),
    -- The line this one replaces (a cancellation names the line it cancels).
    replaces integer,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT payroll_deductions_replaces_once UNIQUE (order_id, replaces),
    CONSTRAINT payroll_deductions_replaces_line
        FOREIGN KEY (order_id, replaces) REFERENCES payroll_deductions (order_id, line_no),
    CONSTRAINT payroll_deductions_order_same_group
        FOREIGN KEY (group_id, order_id) REFERENCES orders (group_id, id),
    CONSTRAINT payroll_deductions_employee_same_group
        FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id),
    CONSTRAINT payroll_deductions_company_same_group
        FOREIGN KEY (group_id, company_id) REFERENCES companies (group_id, id),
    CONSTRAINT payroll_deductions_cancel_replaces
        CHECK (status = 'due' OR replaces IS NOT NULL),
    CONSTRAINT payroll_deductions_sign CHECK (CASE kind WHEN 'refund' THEN amount < 0
        ELSE amount >= 0 END)
);
-- The payroll file of a day, page by page.
CREATE INDEX payroll_deductions_day_idx
    ON payroll_deductions (group_id, pay_date, employee_id, order_id, line_no);
-- An employee's lines still to come (the end of employment).
CREATE INDEX payroll_deductions_employee_idx ON payroll_deductions (employee_id, pay_date);

-- What stands due per employee and pay date, kept by every change of a schedule: the share of
-- pay is checked against it by a conditional upsert, which sees the latest committed row, so
-- that racing orders (on any number of instances) cannot together pass it.
CREATE TABLE payroll_due (
    employee_id uuid NOT NULL,
    pay_date date NOT NULL,
    group_id uuid NOT NULL,
    amount numeric NOT NULL,
    PRIMARY KEY (employee_id, pay_date),
    CONSTRAINT payroll_due_employee_same_group
        FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id)
);

CREATE FUNCTION payroll_deductions_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payroll_deductions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER payroll_deductions_no_update_delete
    BEFORE UPDATE OR DELETE ON payroll_deductions
    FOR EACH ROW EXECUTE FUNCTION payroll_deductions_fixed();
CREATE TRIGGER payroll_deductions_no_truncate
    BEFORE TRUNCATE ON payroll_deductions
    FOR EACH STATEMENT EXECUTE FUNCTION payroll_deductions_fixed();

-- At commit, the lines standing (replaced by no later line) and due sum to the order's total,
-- or to nothing once it is cancelled (what was deducted, less its refund).
CREATE FUNCTION payroll_schedule_check(p_order uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_standing numeric;
    v_lines bigint;
    v_owed numeric;
BEGIN
    SELECT coalesce(sum(d.amount) FILTER (WHERE d.status = 'due'), 0), count(*)
    INTO v_standing, v_lines
    FROM payroll_deductions d
    WHERE d.order_id = p_order
        AND NOT EXISTS (SELECT 1 FROM payroll_deductions r
                        WHERE r.order_id = d.order_id AND r.replaces = d.line_no);
    IF v_lines = 0 THEN
        RETURN;
    END IF;
    SELECT CASE WHEN o.status = 'cancelled' THEN 0 ELSE o.total END INTO v_owed
    FROM orders o WHERE o.id = p_order;
    IF v_standing IS DISTINCT FROM v_owed THEN
        RAISE EXCEPTION 'the payroll schedule of order % sums to %, not %', p_order,
            v_standing, v_owed USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE FUNCTION payroll_deductions_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM payroll_schedule_check(NEW.order_id);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER payroll_deductions_balanced
    AFTER INSERT ON payroll_deductions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payroll_deductions_balanced();

CREATE FUNCTION orders_payroll_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM payroll_schedule_check(NEW.id);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER orders_payroll_balanced
    AFTER UPDATE OF status ON orders DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.payroll_instalments IS NOT NULL)
    EXECUTE FUNCTION orders_payroll_balanced();
