-- Finance: closed periods (no entry may be dated in one, enforced here for every writer),
-- one-sided adjustments with their reason, and netting runs.

CREATE TABLE closed_periods (
    group_id uuid NOT NULL,
    -- The first day of the closed month.
    period date NOT NULL CHECK (extract(day FROM period) = 1),
    closed_by uuid NOT NULL,
    closed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, period),
    CONSTRAINT closed_periods_group_fkey FOREIGN KEY (group_id) REFERENCES companies (id),
    CONSTRAINT closed_periods_closer_same_group
        FOREIGN KEY (group_id, closed_by) REFERENCES employees (group_id, id)
);

-- A period stays closed.
CREATE FUNCTION closed_periods_stay_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'closed_periods is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER closed_periods_no_update_delete
    BEFORE UPDATE OR DELETE ON closed_periods
    FOR EACH ROW EXECUTE FUNCTION closed_periods_stay_closed();

-- No entry is dated in a closed period, whoever writes it. The booking takes the period's lock
-- in shared mode and closing takes it exclusively (src/finance/periods.rs), so a booking and the
-- close of its period never both commit: whichever comes second waits, then sees the other.
CREATE FUNCTION ledger_entries_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', NEW.date)::date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        hashtextextended('period:' || NEW.group_id::text || ':' || month::text, 0));
    IF EXISTS (SELECT 1 FROM closed_periods WHERE group_id = NEW.group_id AND period = month) THEN
        RAISE EXCEPTION 'period_closed:%', to_char(month, 'YYYY-MM')
            USING ERRCODE = 'P0001',
                  HINT = 'Book corrections in an open period.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_entries_open_period
    BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_open_period();

-- One-sided adjustments say why.
ALTER TABLE ledger_entries ADD COLUMN reason text;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_adjustment_has_reason CHECK (
    (kind = 'adjustment') = (reason IS NOT NULL) AND (reason IS NULL OR length(btrim(reason)) BETWEEN 1 AND 500));
-- Reports read a group's entries by pair.
CREATE INDEX ledger_entries_pair_idx
    ON ledger_entries (group_id, company_id, counterparty_company_id, date);

-- Netting runs: the transfers that cleared every shipped, unsettled intercompany order at once.
CREATE TABLE netting_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL,
    date date NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- [{from_company_id, to_company_id, amount, currency}]
    transfers jsonb NOT NULL,
    -- The intercompany orders it settled.
    order_ids uuid[] NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT netting_runs_group_id_id_key UNIQUE (group_id, id),
    CONSTRAINT netting_runs_group_fkey FOREIGN KEY (group_id) REFERENCES companies (id),
    CONSTRAINT netting_runs_creator_same_group
        FOREIGN KEY (group_id, created_by) REFERENCES employees (group_id, id)
);
CREATE INDEX netting_runs_group_idx ON netting_runs (group_id, created_at DESC, id DESC);

-- Employee-benefit tax (§7): a product also sold outside the group is qualified property; a
-- company's line of business (an industry code) decides whether a discount from a sister
-- company can be a qualified employee discount.
ALTER TABLE products ADD COLUMN offered_to_customers boolean NOT NULL DEFAULT true;
ALTER TABLE companies ADD COLUMN line_of_business text
    CONSTRAINT companies_line_of_business_format CHECK (line_of_business ~ '^[0-9A-Za-z][0-9A-Za-z.-]{0,15}$');
-- The benefits report reads a year's fulfilled orders of the group, a chunk of employees at a
-- time in employee order.
CREATE INDEX orders_group_fulfilled_idx ON orders (group_id, employee_id, updated_at)
    WHERE status = 'fulfilled';
