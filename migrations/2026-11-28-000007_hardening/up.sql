-- Token lifecycle (§3): every access token carries its employee's credential version, and a
-- token whose version is not the current one is refused. The version moves on a password
-- change, a deactivation and the removal of any role; the trigger does it, so no code path
-- (API, bootstrap, seed, a manual UPDATE) can forget, and none can move it back.
ALTER TABLE employees ADD COLUMN credential_version integer NOT NULL DEFAULT 1;

CREATE FUNCTION employees_credential_version() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR (OLD.active AND NOT NEW.active)
       OR NOT (OLD.roles <@ NEW.roles) THEN
        NEW.credential_version := OLD.credential_version + 1;
    ELSE
        NEW.credential_version := OLD.credential_version;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER employees_credential_version
    BEFORE UPDATE ON employees
    FOR EACH ROW EXECUTE FUNCTION employees_credential_version();

-- Cached employees (src/catalog/cache.rs) carry the version too: a password change, which the
-- listing trigger ignores, must reach every instance's cache.
CREATE TRIGGER employees_credential_change
    AFTER UPDATE ON employees
    FOR EACH ROW
    WHEN (OLD.credential_version IS DISTINCT FROM NEW.credential_version)
    EXECUTE FUNCTION notify_listing_change();

-- Login throttle (§3, docs/SECURITY.md). `login_throttle` keeps its fixed-window counters, now
-- keyed by account *and* address (`account:<email>|address:<ip>`) and by address; these two
-- tables slow guessing one account from many addresses without letting anyone lock its owner
-- out from one address.
CREATE TABLE login_failures (
    account text NOT NULL,
    address text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_account_idx ON login_failures (account, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);

-- The next moment an account under a per-account pace admits an attempt.
CREATE TABLE login_pace (
    account text PRIMARY KEY,
    next_attempt_at timestamptz NOT NULL
);
