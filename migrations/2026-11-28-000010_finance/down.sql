DROP TABLE netting_runs;
DROP INDEX ledger_entries_pair_idx;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_adjustment_has_reason;
ALTER TABLE ledger_entries DROP COLUMN reason;
DROP TRIGGER ledger_entries_open_period ON ledger_entries;
DROP FUNCTION ledger_entries_open_period();
DROP TABLE closed_periods;
DROP FUNCTION closed_periods_stay_closed();
