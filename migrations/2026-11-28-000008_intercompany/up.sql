-- Intercompany trade: FX rates, transfer-pricing policies, intercompany orders and the ledger
-- entries both companies book for them. Everything is scoped to a group with composite foreign
-- keys, as in migration 000006.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- FX rates ---------------------------------------------------------------------------------------
-- One unit of `base` is worth `rate` units of `quote` from `date` on (until a later rate).
CREATE TABLE fx_rates (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL REFERENCES companies (id),
    base text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
    quote text NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
    rate numeric NOT NULL CHECK (rate > 0),
    date date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fx_rates_distinct_currencies CHECK (base <> quote),
    -- Also the lookup: the latest rate on or before a day is one backward index probe.
    CONSTRAINT fx_rates_group_pair_date_key UNIQUE (group_id, base, quote, date)
);

-- The stored rate for a pair on a day: the latest on or before it, recorded either for the pair
-- or for its inverse (then `inverted` is set and the caller takes 1/rate: src/domain/fx.rs owns
-- the arithmetic). On the same day the pair itself wins. So the inverse is used when only it
-- exists, and a stale rate of one direction never hides a newer one of the other. No row: no
-- rate.
CREATE FUNCTION fx_lookup(p_group uuid, p_base text, p_quote text, p_date date)
    RETURNS TABLE (rate numeric, inverted boolean, date date)
    LANGUAGE sql STABLE
AS $$
    SELECT rate, inverted, date FROM (
        (SELECT r.rate, false AS inverted, r.date, 0 AS preference FROM fx_rates r
          WHERE r.group_id = p_group AND r.base = p_base AND r.quote = p_quote AND r.date <= p_date
          ORDER BY r.date DESC LIMIT 1)
        UNION ALL
        (SELECT r.rate, true, r.date, 1 FROM fx_rates r
          WHERE r.group_id = p_group AND r.base = p_quote AND r.quote = p_base AND r.date <= p_date
          ORDER BY r.date DESC LIMIT 1)
    ) found
    ORDER BY date DESC, preference
    LIMIT 1
$$;

-- Transfer-pricing policies ------------------------------------------------------------------------
CREATE TABLE transfer_pricing_policies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL,
    seller_company_id uuid NOT NULL,
    buyer_company_id uuid,
    category_id uuid,
    method text NOT NULL CHECK (method IN ('cost_plus', 'resale_minus', 'comparable_price')),
    percent numeric(8, 4) NOT NULL,
    min_markup_percent numeric(8, 4),
    max_markup_percent numeric(8, 4),
    target_markup_percent numeric(8, 4),
    valid_from date NOT NULL,
    valid_to date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfer_pricing_policies_group_id_id_key UNIQUE (group_id, id),
    CONSTRAINT transfer_pricing_policies_seller_same_group
        FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT transfer_pricing_policies_buyer_same_group
        FOREIGN KEY (group_id, buyer_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT transfer_pricing_policies_category_same_group
        FOREIGN KEY (group_id, category_id) REFERENCES categories (group_id, id),
    CONSTRAINT transfer_pricing_policies_not_self CHECK (buyer_company_id <> seller_company_id),
    CONSTRAINT transfer_pricing_policies_validity CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CONSTRAINT transfer_pricing_policies_range CHECK (
        min_markup_percent IS NULL OR max_markup_percent IS NULL
        OR min_markup_percent <= max_markup_percent),
    CONSTRAINT transfer_pricing_policies_target_in_range CHECK (
        target_markup_percent IS NULL OR (
            (min_markup_percent IS NULL OR target_markup_percent >= min_markup_percent)
            AND (max_markup_percent IS NULL OR target_markup_percent <= max_markup_percent))),
    CONSTRAINT transfer_pricing_policies_resale_below_100 CHECK (
        method <> 'resale_minus' OR percent <= 100),
    CONSTRAINT transfer_pricing_policies_price_not_negative CHECK (
        method = 'resale_minus' OR percent >= -100),
    -- Two policies of the same seller, buyer and category (the same specificity for the same
    -- trade) never overlap in time: the choice for an order date is never ambiguous.
    CONSTRAINT transfer_pricing_policies_no_overlap EXCLUDE USING gist (
        group_id WITH =,
        seller_company_id WITH =,
        (coalesce(buyer_company_id, '00000000-0000-0000-0000-000000000000'::uuid)) WITH =,
        (coalesce(category_id, '00000000-0000-0000-0000-000000000000'::uuid)) WITH =,
        daterange(valid_from, valid_to, '[]') WITH &&)
);
CREATE INDEX transfer_pricing_policies_seller_idx
    ON transfer_pricing_policies (group_id, seller_company_id, valid_from DESC);

-- Intercompany orders ----------------------------------------------------------------------------
CREATE SEQUENCE intercompany_order_number_seq;

CREATE TABLE intercompany_orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL,
    number text NOT NULL DEFAULT ('IC-' || lpad(nextval('intercompany_order_number_seq')::text, 8, '0')),
    status text NOT NULL CHECK (status IN ('requested', 'accepted', 'rejected', 'shipped', 'settled', 'cancelled')),
    buyer_company_id uuid NOT NULL,
    seller_company_id uuid NOT NULL,
    -- The document currency: the seller's.
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total numeric NOT NULL CHECK (total >= 0),
    -- The day whose policies priced the order.
    order_date date NOT NULL,
    created_by uuid NOT NULL,
    promised_date date,
    accepted_at timestamptz,
    shipped_at timestamptz,
    ship_date date,
    settled_at timestamptz,
    settle_date date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT intercompany_orders_number_key UNIQUE (number),
    CONSTRAINT intercompany_orders_group_id_id_key UNIQUE (group_id, id),
    CONSTRAINT intercompany_orders_buyer_same_group
        FOREIGN KEY (group_id, buyer_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT intercompany_orders_seller_same_group
        FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT intercompany_orders_creator_same_group
        FOREIGN KEY (group_id, created_by) REFERENCES employees (group_id, id),
    CONSTRAINT intercompany_orders_two_companies CHECK (buyer_company_id <> seller_company_id),
    CONSTRAINT intercompany_orders_shipped_has_date CHECK (
        (status IN ('shipped', 'settled')) = (ship_date IS NOT NULL)),
    CONSTRAINT intercompany_orders_settled_has_date CHECK ((status = 'settled') = (settle_date IS NOT NULL))
);
CREATE INDEX intercompany_orders_group_idx ON intercompany_orders (group_id, created_at DESC, id DESC);
CREATE INDEX intercompany_orders_buyer_idx ON intercompany_orders (group_id, buyer_company_id, created_at DESC, id DESC);
CREATE INDEX intercompany_orders_seller_idx ON intercompany_orders (group_id, seller_company_id, created_at DESC, id DESC);
CREATE INDEX intercompany_orders_status_idx ON intercompany_orders (group_id, status, created_at DESC, id DESC);
-- Year-end true-ups read the year's shipped orders.
CREATE INDEX intercompany_orders_ship_date_idx ON intercompany_orders (group_id, ship_date)
    WHERE ship_date IS NOT NULL;

CREATE TABLE intercompany_order_lines (
    group_id uuid NOT NULL,
    order_id uuid NOT NULL,
    line_no integer NOT NULL CHECK (line_no >= 1),
    product_id uuid NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    policy_id uuid NOT NULL,
    method text NOT NULL CHECK (method IN ('cost_plus', 'resale_minus', 'comparable_price')),
    unit_cost numeric NOT NULL CHECK (unit_cost >= 0),
    unit_transfer_price numeric NOT NULL CHECK (unit_transfer_price >= 0),
    line_total numeric NOT NULL,
    -- Markup on cost in percent; NULL when the unit cost is zero.
    markup_percent numeric,
    outside_arms_length_range boolean NOT NULL,
    PRIMARY KEY (order_id, line_no),
    CONSTRAINT intercompany_order_lines_product_once UNIQUE (order_id, product_id),
    CONSTRAINT intercompany_order_lines_order_same_group
        FOREIGN KEY (group_id, order_id) REFERENCES intercompany_orders (group_id, id) ON DELETE CASCADE,
    CONSTRAINT intercompany_order_lines_product_same_group
        FOREIGN KEY (group_id, product_id) REFERENCES products (group_id, id),
    CONSTRAINT intercompany_order_lines_policy_same_group
        FOREIGN KEY (group_id, policy_id) REFERENCES transfer_pricing_policies (group_id, id),
    CONSTRAINT intercompany_order_lines_total CHECK (line_total = unit_transfer_price * quantity)
);
CREATE INDEX intercompany_order_lines_product_idx ON intercompany_order_lines (product_id);
CREATE INDEX intercompany_order_lines_policy_idx ON intercompany_order_lines (policy_id);

-- Ledger entries -----------------------------------------------------------------------------------
-- What each company books. `amount` is in the booking company's `currency`; `document_amount`
-- in the document currency (the seller's), converted at `rate`. Amounts are signed changes of the
-- booking side's open balance: a receivable or payable adds, a settlement clears it; an FX
-- difference is the buyer's realised gain (negative) or loss (positive) in its own currency.
-- Entries booked together share a `posting_id`; both legs of a posting must carry the same
-- document amount (checked at commit, below). Append-only: corrections are new entries.
CREATE TABLE ledger_entries (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    group_id uuid NOT NULL,
    posting_id uuid NOT NULL,
    order_id uuid,
    company_id uuid NOT NULL,
    counterparty_company_id uuid NOT NULL,
    side text NOT NULL CHECK (side IN ('seller', 'buyer')),
    kind text NOT NULL CHECK (kind IN ('receivable', 'payable', 'settlement', 'fx_difference', 'true_up', 'adjustment')),
    amount numeric NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    document_amount numeric NOT NULL,
    document_currency text NOT NULL CHECK (document_currency ~ '^[A-Z]{3}$'),
    rate numeric NOT NULL CHECK (rate > 0),
    date date NOT NULL,
    -- A true-up names the policy and the year whose markup it corrects.
    policy_id uuid,
    true_up_year integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_policy_same_group
        FOREIGN KEY (group_id, policy_id) REFERENCES transfer_pricing_policies (group_id, id),
    CONSTRAINT ledger_entries_true_up_names_its_year CHECK (
        (kind = 'true_up') = (true_up_year IS NOT NULL AND policy_id IS NOT NULL)),
    CONSTRAINT ledger_entries_order_same_group
        FOREIGN KEY (group_id, order_id) REFERENCES intercompany_orders (group_id, id),
    CONSTRAINT ledger_entries_company_same_group
        FOREIGN KEY (group_id, company_id) REFERENCES companies (group_id, id),
    CONSTRAINT ledger_entries_counterparty_same_group
        FOREIGN KEY (group_id, counterparty_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT ledger_entries_two_companies CHECK (company_id <> counterparty_company_id),
    CONSTRAINT ledger_entries_kind_side CHECK (
        (kind = 'receivable' AND side = 'seller') OR (kind = 'payable' AND side = 'buyer')
        OR (kind = 'fx_difference' AND side = 'buyer')
        OR kind IN ('settlement', 'true_up', 'adjustment'))
);
CREATE INDEX ledger_entries_order_idx ON ledger_entries (order_id, seq);
CREATE INDEX ledger_entries_group_date_idx ON ledger_entries (group_id, date, seq);
CREATE INDEX ledger_entries_posting_idx ON ledger_entries (posting_id);
CREATE INDEX ledger_entries_true_up_idx ON ledger_entries (group_id, true_up_year)
    WHERE kind = 'true_up';

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_entries_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

-- Both legs of a two-sided posting carry the same document amount, whatever wrote them: the
-- seller's and the buyer's books can never disagree about a document. Checked when the
-- transaction commits, after all of its entries are in. (One-sided adjustments are exempt.)
CREATE FUNCTION ledger_entries_legs_agree() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    imbalance numeric;
BEGIN
    SELECT coalesce(sum(CASE WHEN side = 'seller' THEN document_amount ELSE -document_amount END), 0)
      INTO imbalance
      FROM ledger_entries
     WHERE posting_id = NEW.posting_id AND kind IN ('receivable', 'payable', 'settlement', 'true_up');
    IF imbalance <> 0 THEN
        RAISE EXCEPTION 'ledger posting % is one-sided: its legs differ by % in the document currency',
            NEW.posting_id, imbalance
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_legs_agree';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_entries_legs_agree
    AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind IN ('receivable', 'payable', 'settlement', 'true_up'))
    EXECUTE FUNCTION ledger_entries_legs_agree();
