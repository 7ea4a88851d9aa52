-- Whether a month is open no longer depends on the database session's time zone (PRODUCT.md
-- §2). `date_trunc('month', p_day)` on a date went through timestamptz, so a session in a zone
-- whose clocks skip midnight could truncate to the wrong day; truncating the date as a plain
-- timestamp has no zone at all.
CREATE OR REPLACE FUNCTION books_open_on(p_group uuid, p_day date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', p_day::timestamp)::date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('books:' || p_group::text, 0));
    IF EXISTS (SELECT 1 FROM closed_periods WHERE group_id = p_group AND period >= month) THEN
        RAISE EXCEPTION 'period_closed:%', to_char(month, 'YYYY-MM')
            USING ERRCODE = 'P0001',
                  HINT = 'Book corrections in an open period.';
    END IF;
END;
$$;
