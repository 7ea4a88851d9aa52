-- Catalog: categories, products, per-category tier discounts.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Allowances keep the scale they were entered with.
ALTER TABLE discount_tiers ALTER COLUMN annual_allowance TYPE numeric;
ALTER TABLE discount_tiers ADD CONSTRAINT discount_tiers_code_format
    CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$');

CREATE TABLE categories (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code text NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_code_key UNIQUE (code),
    CONSTRAINT categories_code_format CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$')
);

CREATE TABLE products (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sku text NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    category_id uuid NOT NULL REFERENCES categories (id),
    seller_company_id uuid NOT NULL REFERENCES companies (id),
    kind text NOT NULL CHECK (kind IN ('goods', 'service')),
    -- In the seller's currency.
    list_price numeric NOT NULL CHECK (list_price >= 0),
    unit_cost numeric NOT NULL CHECK (unit_cost >= 0),
    stock_on_hand integer NOT NULL DEFAULT 0 CHECK (stock_on_hand >= 0),
    employee_eligible boolean NOT NULL DEFAULT true,
    intercompany_eligible boolean NOT NULL DEFAULT true,
    active boolean NOT NULL DEFAULT true,
    purchase_limit_quantity integer CHECK (purchase_limit_quantity > 0),
    purchase_limit_period text CHECK (purchase_limit_period IN ('month', 'year')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    CONSTRAINT products_purchase_limit_complete
        CHECK ((purchase_limit_quantity IS NULL) = (purchase_limit_period IS NULL))
);
-- The employee listing walks sku order over visible products, optionally by category or seller.
CREATE INDEX products_visible_sku_idx ON products (sku) WHERE active AND employee_eligible;
CREATE INDEX products_visible_category_idx ON products (category_id, sku) WHERE active AND employee_eligible;
CREATE INDEX products_visible_seller_idx ON products (seller_company_id, sku) WHERE active AND employee_eligible;
CREATE INDEX products_category_idx ON products (category_id);
CREATE INDEX products_seller_idx ON products (seller_company_id);
-- Substring search on name or sku. Catalog writes are rare and searches frequent: no pending
-- list, so new products are searchable through the index at once.
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX products_sku_trgm_idx ON products USING gin (lower(sku) gin_trgm_ops) WITH (fastupdate = off);

CREATE TABLE tier_category_discounts (
    tier_id uuid NOT NULL REFERENCES discount_tiers (id) ON DELETE CASCADE,
    category_id uuid NOT NULL REFERENCES categories (id),
    discount_percent numeric(7, 4) NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    PRIMARY KEY (tier_id, category_id)
);
CREATE INDEX tier_category_discounts_category_idx ON tier_category_discounts (category_id);
