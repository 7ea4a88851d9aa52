-- Books an auditor signs (PRODUCT.md §6–§8): months close in order and nothing is dated into
-- or before a closed one (FX rates and intercompany inventory included); a closed month keeps
-- its reports as they stood; buyers report the intercompany goods they hold; policy terms are
-- versioned and every line keeps the terms it was priced with.

-- One lock per group for the books: every booking takes it shared, closing takes it
-- exclusively, so a booking and the close of a month at or after its date never both commit.
-- An entry may not be dated in a closed month nor before one: closing a month closes the books
-- up to its end (months close in order, src/finance/periods.rs).
CREATE FUNCTION books_open_on(p_group uuid, p_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', p_day)::date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('books:' || p_group::text, 0));
    IF EXISTS (SELECT 1 FROM closed_periods WHERE group_id = p_group AND period >= month) THEN
        RAISE EXCEPTION 'period_closed:%', to_char(month, 'YYYY-MM')
            USING ERRCODE = 'P0001',
                  HINT = 'Book corrections in an open period.';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION ledger_entries_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM books_open_on(NEW.group_id, NEW.date);
    RETURN NEW;
END;
$$;

-- A rate dated in a closed month would move that month's remeasurement: none is added there,
-- moved into or out of it, or removed from it.
CREATE FUNCTION fx_rates_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM books_open_on(OLD.group_id, OLD.date);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    PERFORM books_open_on(NEW.group_id, NEW.date);
    RETURN NEW;
END;
$$;
CREATE TRIGGER fx_rates_open_period
    BEFORE INSERT OR UPDATE OR DELETE ON fx_rates
    FOR EACH ROW EXECUTE FUNCTION fx_rates_open_period();

-- Reports of a closed month as they stood when it closed: the JSON answer, byte for byte.
CREATE TABLE closed_period_reports (
    group_id uuid NOT NULL,
    period date NOT NULL,
    report text NOT NULL CHECK (report IN ('reconciliation', 'eliminations', 'internal_sales',
                                           'transfer_pricing_exceptions', 'internal_service_kpis')),
    body text NOT NULL,
    PRIMARY KEY (group_id, period, report),
    CONSTRAINT closed_period_reports_period_fkey
        FOREIGN KEY (group_id, period) REFERENCES closed_periods (group_id, period)
);
CREATE TRIGGER closed_period_reports_no_update_delete
    BEFORE UPDATE OR DELETE ON closed_period_reports
    FOR EACH ROW EXECUTE FUNCTION closed_periods_stay_closed();
CREATE TRIGGER closed_period_reports_no_truncate
    BEFORE TRUNCATE ON closed_period_reports
    FOR EACH STATEMENT EXECUTE FUNCTION closed_periods_stay_closed();

-- What each buyer holds at a month's end of goods bought from a sister company, at transfer
-- price in the document currency (the seller's): the base of the unrealised-profit elimination.
CREATE TABLE intercompany_inventory (
    group_id uuid NOT NULL,
    period date NOT NULL CHECK (extract(day FROM period) = 1),
    seller_company_id uuid NOT NULL,
    buyer_company_id uuid NOT NULL,
    amount numeric NOT NULL CHECK (amount >= 0 AND amount < 10000000000000),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reported_by uuid NOT NULL,
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, period, seller_company_id, buyer_company_id),
    CONSTRAINT intercompany_inventory_seller_same_group
        FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT intercompany_inventory_buyer_same_group
        FOREIGN KEY (group_id, buyer_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT intercompany_inventory_reporter_same_group
        FOREIGN KEY (group_id, reported_by) REFERENCES employees (group_id, id),
    CONSTRAINT intercompany_inventory_two_companies CHECK (buyer_company_id <> seller_company_id)
);
CREATE FUNCTION intercompany_inventory_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM books_open_on(OLD.group_id, OLD.period);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    PERFORM books_open_on(NEW.group_id, NEW.period);
    RETURN NEW;
END;
$$;
CREATE TRIGGER intercompany_inventory_open_period
    BEFORE INSERT OR UPDATE OR DELETE ON intercompany_inventory
    FOR EACH ROW EXECUTE FUNCTION intercompany_inventory_open_period();

-- Policy versions: a new version names the one it supersedes.
ALTER TABLE transfer_pricing_policies ADD COLUMN supersedes uuid;
ALTER TABLE transfer_pricing_policies ADD CONSTRAINT transfer_pricing_policies_supersedes_same_group
    FOREIGN KEY (group_id, supersedes) REFERENCES transfer_pricing_policies (group_id, id);
CREATE UNIQUE INDEX transfer_pricing_policies_superseded_once
    ON transfer_pricing_policies (supersedes) WHERE supersedes IS NOT NULL;

-- Each line keeps the terms it was priced with.
ALTER TABLE intercompany_order_lines
    ADD COLUMN percent numeric(8, 4),
    ADD COLUMN min_markup_percent numeric(8, 4),
    ADD COLUMN max_markup_percent numeric(8, 4);
UPDATE intercompany_order_lines l
   SET percent = p.percent, min_markup_percent = p.min_markup_percent,
       max_markup_percent = p.max_markup_percent
  FROM transfer_pricing_policies p
 WHERE p.id = l.policy_id;
ALTER TABLE intercompany_order_lines ALTER COLUMN percent SET NOT NULL;

-- Once a line was priced with a policy, its terms never change (only `valid_to` may be set);
-- a change is a new version (POST …/supersede).
CREATE FUNCTION transfer_pricing_policies_terms_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.method, NEW.percent, NEW.min_markup_percent, NEW.max_markup_percent,
        NEW.target_markup_percent, NEW.seller_company_id, NEW.buyer_company_id,
        NEW.category_id, NEW.valid_from)
       IS DISTINCT FROM
       (OLD.method, OLD.percent, OLD.min_markup_percent, OLD.max_markup_percent,
        OLD.target_markup_percent, OLD.seller_company_id, OLD.buyer_company_id,
        OLD.category_id, OLD.valid_from)
       AND EXISTS (SELECT 1 FROM intercompany_order_lines WHERE policy_id = OLD.id) THEN
        RAISE EXCEPTION 'policy_in_use:%', OLD.id
            USING ERRCODE = 'P0001',
                  HINT = 'Supersede the policy with a new version.';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER transfer_pricing_policies_terms_fixed
    BEFORE UPDATE ON transfer_pricing_policies
    FOR EACH ROW EXECUTE FUNCTION transfer_pricing_policies_terms_fixed();

-- The KPI report reads the orders promised in a month; internal sales the orders fulfilled in
-- one.
CREATE INDEX intercompany_orders_promised_idx ON intercompany_orders (group_id, promised_date)
    WHERE promised_date IS NOT NULL;
CREATE INDEX orders_group_fulfilled_at_idx ON orders (group_id, fulfilled_at)
    WHERE status = 'fulfilled';

-- A netting run says whether its number of transfers is the proven minimum: earlier runs used
-- the largest-first rule and are not known to be.
ALTER TABLE netting_runs ADD COLUMN exact boolean NOT NULL DEFAULT false;
ALTER TABLE netting_runs ALTER COLUMN exact SET DEFAULT true;

-- A settlement of a document other than an order (a true-up, a countered adjustment) names the
-- posting it clears; each side of a document is settled once, whoever writes it.
ALTER TABLE ledger_entries ADD COLUMN settles_posting_id uuid;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_settles_only_by_settlement CHECK (
    settles_posting_id IS NULL OR kind IN ('settlement', 'fx_difference'));
CREATE UNIQUE INDEX ledger_entries_settled_once ON ledger_entries (settles_posting_id, side)
    WHERE kind = 'settlement' AND settles_posting_id IS NOT NULL;
-- Netting reads the group's open true-ups and adjustments.
CREATE INDEX ledger_entries_open_items_idx ON ledger_entries (group_id, date)
    WHERE kind IN ('true_up', 'adjustment');
-- The true-up and adjustment postings a netting run settled besides orders.
ALTER TABLE netting_runs ADD COLUMN settled_postings uuid[] NOT NULL DEFAULT '{}';

-- Business dates are the group's (PRODUCT.md §2): the root company's IANA time zone decides
-- where a day, a month and a year begin. (Names are checked against the zone database by the
-- service; the pattern keeps the column to names.)
ALTER TABLE companies ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT companies_time_zone_name CHECK (time_zone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$');
