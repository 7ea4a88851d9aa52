-- Employee orders, the ledgers that enforce the annual allowance and purchase limits, and
-- idempotency keys.

CREATE SEQUENCE order_number_seq;

CREATE TABLE orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number text NOT NULL DEFAULT ('EO-' || lpad(nextval('order_number_seq')::text, 8, '0')),
    status text NOT NULL CHECK (status IN ('placed', 'fulfilled', 'cancelled')),
    employee_id uuid NOT NULL REFERENCES employees (id),
    seller_company_id uuid NOT NULL REFERENCES companies (id),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    list_total numeric NOT NULL CHECK (list_total >= 0),
    discount_total numeric NOT NULL CHECK (discount_total >= 0),
    total numeric NOT NULL CHECK (total >= 0),
    -- The discount in the group currency, counted against the annual allowance.
    allowance_applied numeric NOT NULL CHECK (allowance_applied >= 0),
    allowance_year integer NOT NULL,
    group_currency text NOT NULL CHECK (group_currency ~ '^[A-Z]{3}$'),
    fx_rate numeric NOT NULL CHECK (fx_rate > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_number_key UNIQUE (number),
    CONSTRAINT orders_totals_add_up CHECK (total = list_total - discount_total)
);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_employee_idx ON orders (employee_id, created_at DESC, id DESC);
CREATE INDEX orders_seller_idx ON orders (seller_company_id, created_at DESC, id DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no integer NOT NULL CHECK (line_no >= 1),
    product_id uuid NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_list_price numeric NOT NULL CHECK (unit_list_price >= 0),
    discount_percent numeric NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    line_list_total numeric NOT NULL CHECK (line_list_total >= 0),
    line_discount numeric NOT NULL CHECK (line_discount >= 0 AND line_discount <= line_list_total),
    line_total numeric NOT NULL,
    -- The purchase-limit period this line counts in (NULL: the product had no limit).
    limit_period_start date,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT order_lines_product_once UNIQUE (order_id, product_id),
    CONSTRAINT order_lines_total_adds_up CHECK (line_total = line_list_total - line_discount)
);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

-- Discount used per employee and calendar year, in the group currency. Every order of an
-- employee locks this row first, which serialises that employee's orders.
CREATE TABLE allowance_usage (
    employee_id uuid NOT NULL REFERENCES employees (id),
    year integer NOT NULL,
    used numeric NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (employee_id, year)
);

-- Quantity bought per employee, product and limit period (month or year start).
CREATE TABLE purchase_limit_usage (
    employee_id uuid NOT NULL REFERENCES employees (id),
    product_id uuid NOT NULL REFERENCES products (id),
    period_start date NOT NULL,
    quantity integer NOT NULL CHECK (quantity >= 0),
    PRIMARY KEY (employee_id, product_id, period_start)
);

CREATE TABLE idempotency_keys (
    employee_id uuid NOT NULL REFERENCES employees (id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- Which operation the key was used for, and a hash of its body.
    scope text NOT NULL,
    request_hash text NOT NULL,
    response_status integer NOT NULL,
    response_body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (employee_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
