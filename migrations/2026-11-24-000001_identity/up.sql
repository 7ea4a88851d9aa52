-- Companies (a group tree), discount tiers, employees, login throttling and the append-only audit log.

CREATE TABLE companies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code text NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    parent_id uuid REFERENCES companies (id),
    -- The ultimate parent (itself for a root); maintained by the application under a lock.
    group_id uuid NOT NULL REFERENCES companies (id) DEFERRABLE INITIALLY DEFERRED,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    benefit_tax_rule text NOT NULL DEFAULT 'none' CHECK (benefit_tax_rule IN ('none', 'us_irc_132')),
    qualified_discount_gp_percent numeric(7, 4) CHECK (qualified_discount_gp_percent BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT companies_code_key UNIQUE (code),
    CONSTRAINT companies_code_format CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$'),
    CONSTRAINT companies_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id),
    CONSTRAINT companies_root_is_own_group CHECK (parent_id IS NOT NULL OR group_id = id)
);
CREATE INDEX companies_parent_id_idx ON companies (parent_id);
CREATE INDEX companies_group_id_idx ON companies (group_id, code);

CREATE TABLE discount_tiers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code text NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    discount_percent numeric(7, 4) NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    -- In the group currency; NULL = unlimited.
    annual_allowance numeric(20, 4) CHECK (annual_allowance >= 0),
    eligible_employment_types text[] NOT NULL DEFAULT ARRAY['direct', 'outsourced']::text[]
        CHECK (eligible_employment_types <@ ARRAY['direct', 'outsourced']::text[]),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT discount_tiers_code_key UNIQUE (code)
);

CREATE TABLE employees (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    full_name text NOT NULL CHECK (length(btrim(full_name)) BETWEEN 1 AND 200),
    company_id uuid NOT NULL REFERENCES companies (id),
    employment_type text NOT NULL CHECK (employment_type IN ('direct', 'outsourced')),
    client_type text NOT NULL CHECK (client_type IN ('executive', 'operational', 'commercial')),
    tier_id uuid REFERENCES discount_tiers (id),
    roles text[] NOT NULL CHECK (
        cardinality(roles) >= 1
        AND roles <@ ARRAY['employee', 'purchaser', 'finance', 'admin']::text[]
    ),
    active boolean NOT NULL DEFAULT true,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Unique regardless of case; also the keyset order of the employee list.
CREATE UNIQUE INDEX employees_email_key ON employees (lower(email));
CREATE INDEX employees_company_id_idx ON employees (company_id, lower(email));
CREATE INDEX employees_tier_id_idx ON employees (tier_id);

-- Failed-login counters in fixed windows, keyed by account (`account:<email>`) or address
-- (`address:<ip>`). Kept in the database so that every instance shares them.
CREATE TABLE login_throttle (
    key text PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures >= 0)
);

CREATE TABLE audit_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id uuid REFERENCES employees (id),
    action text NOT NULL,
    entity_type text NOT NULL,
    entity_id uuid NOT NULL,
    before jsonb,
    after jsonb,
    request_id text
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, seq);
CREATE INDEX audit_events_entity_type_idx ON audit_events (entity_type, seq);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, seq);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- The audit log is append-only for everyone, the application's own user included.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
