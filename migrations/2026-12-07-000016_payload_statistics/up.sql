-- JSON payload columns (stored responses, audit snapshots, stored reports) are never filtered
-- or joined on: the planner needs no statistics for them, and sampling them made every ANALYZE
-- of the tables that hold them (idempotency keys and audit events grow with every order) dearer.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t
            ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema() AND c.data_type = 'jsonb'
            AND t.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET STATISTICS 0', r.table_name,
            r.column_name);
    END LOOP;
END $$;
