ALTER TABLE companies DROP COLUMN time_zone;
ALTER TABLE netting_runs DROP COLUMN settled_postings;
DROP INDEX ledger_entries_open_items_idx;
DROP INDEX ledger_entries_settled_once;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_settles_only_by_settlement;
ALTER TABLE ledger_entries DROP COLUMN settles_posting_id;
ALTER TABLE netting_runs DROP COLUMN exact;
DROP INDEX orders_group_fulfilled_at_idx;
DROP INDEX intercompany_orders_promised_idx;
DROP TRIGGER transfer_pricing_policies_terms_fixed ON transfer_pricing_policies;
DROP FUNCTION transfer_pricing_policies_terms_fixed();
ALTER TABLE intercompany_order_lines
    DROP COLUMN percent,
    DROP COLUMN min_markup_percent,
    DROP COLUMN max_markup_percent;
DROP INDEX transfer_pricing_policies_superseded_once;
ALTER TABLE transfer_pricing_policies DROP CONSTRAINT transfer_pricing_policies_supersedes_same_group;
ALTER TABLE transfer_pricing_policies DROP COLUMN supersedes;
DROP TABLE intercompany_inventory;
DROP FUNCTION intercompany_inventory_open_period();
DROP TABLE closed_period_reports;
DROP TRIGGER fx_rates_open_period ON fx_rates;
DROP FUNCTION fx_rates_open_period();
CREATE OR REPLACE FUNCTION ledger_entries_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP FUNCTION books_open_on(uuid, date);
