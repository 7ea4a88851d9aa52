-- Tenancy: every group (a root company and its descendants) is a sealed tenant.
--
-- The boundary is kept by composite foreign keys that carry the group: a row names its group,
-- and each reference to another tenant-owned row is `(group_id, x_id) → x (group_id, id)`, so
-- the database refuses any row that points into another group, whatever the application
-- does. These replace the single-column keys they extend, so a write checks as many keys as
-- before (docs/ARCHITECTURE.md, "Tenancy", says why this and not row-level security).
--
-- Existing rows are given the group they belong to: companies already know it; employees and
-- products take their company's, orders their employee's; tiers and categories (shared until
-- now) take the group of whoever uses them, else the first group. A database in which
-- one tier or category is used by two groups cannot be split automatically: the foreign keys
-- below then fail and the migration stops with nothing changed.

-- The group of rows that had none: the first group, if any.
CREATE FUNCTION pg_temp.first_group() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT id FROM companies WHERE parent_id IS NULL ORDER BY created_at, id LIMIT 1
$$;

-- Companies ------------------------------------------------------------------------------------
ALTER TABLE companies DROP CONSTRAINT companies_code_key;
ALTER TABLE companies ADD CONSTRAINT companies_group_code_key UNIQUE (group_id, code);
ALTER TABLE companies ADD CONSTRAINT companies_group_id_id_key UNIQUE (group_id, id);
-- A group's code is its root's code: unique across the database (bootstrap refuses a second).
CREATE UNIQUE INDEX companies_root_code_key ON companies (code) WHERE parent_id IS NULL;
ALTER TABLE companies DROP CONSTRAINT companies_parent_id_fkey;
ALTER TABLE companies ADD CONSTRAINT companies_parent_same_group
    FOREIGN KEY (group_id, parent_id) REFERENCES companies (group_id, id);
DROP INDEX companies_group_id_idx;  -- covered by companies_group_code_key

-- A company never changes group (a new group comes only from bootstrap).
CREATE FUNCTION companies_group_is_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.group_id <> OLD.group_id THEN
        RAISE EXCEPTION 'a company cannot move to another group'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER companies_group_fixed
    BEFORE UPDATE OF group_id ON companies
    FOR EACH ROW EXECUTE FUNCTION companies_group_is_fixed();

-- Discount tiers -------------------------------------------------------------------------------
ALTER TABLE discount_tiers ADD COLUMN group_id uuid;
UPDATE discount_tiers t SET group_id = coalesce(
    (SELECT c.group_id FROM employees e JOIN companies c ON c.id = e.company_id
      WHERE e.tier_id = t.id ORDER BY e.created_at LIMIT 1),
    pg_temp.first_group());
DELETE FROM tier_category_discounts WHERE tier_id IN (SELECT id FROM discount_tiers WHERE group_id IS NULL);
DELETE FROM discount_tiers WHERE group_id IS NULL;  -- only possible without any company
ALTER TABLE discount_tiers ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE discount_tiers ADD CONSTRAINT discount_tiers_group_fkey
    FOREIGN KEY (group_id) REFERENCES companies (id);
ALTER TABLE discount_tiers DROP CONSTRAINT discount_tiers_code_key;
ALTER TABLE discount_tiers ADD CONSTRAINT discount_tiers_group_code_key UNIQUE (group_id, code);
ALTER TABLE discount_tiers ADD CONSTRAINT discount_tiers_group_id_id_key UNIQUE (group_id, id);

-- Categories -----------------------------------------------------------------------------------
ALTER TABLE categories ADD COLUMN group_id uuid;
UPDATE categories k SET group_id = coalesce(
    (SELECT p.group_id FROM (SELECT c.group_id, p.created_at FROM products p
                               JOIN companies c ON c.id = p.seller_company_id
                              WHERE p.category_id = k.id) p ORDER BY p.created_at LIMIT 1),
    pg_temp.first_group());
DELETE FROM categories WHERE group_id IS NULL;  -- only possible without any company
ALTER TABLE categories ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE categories ADD CONSTRAINT categories_group_fkey
    FOREIGN KEY (group_id) REFERENCES companies (id);
ALTER TABLE categories DROP CONSTRAINT categories_code_key;
ALTER TABLE categories ADD CONSTRAINT categories_group_code_key UNIQUE (group_id, code);
ALTER TABLE categories ADD CONSTRAINT categories_group_id_id_key UNIQUE (group_id, id);

-- Employees ------------------------------------------------------------------------------------
ALTER TABLE employees ADD COLUMN group_id uuid;
UPDATE employees e SET group_id = c.group_id FROM companies c WHERE c.id = e.company_id;
ALTER TABLE employees ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE employees ADD CONSTRAINT employees_group_id_id_key UNIQUE (group_id, id);
ALTER TABLE employees DROP CONSTRAINT employees_company_id_fkey;
ALTER TABLE employees ADD CONSTRAINT employees_company_same_group
    FOREIGN KEY (group_id, company_id) REFERENCES companies (group_id, id);
ALTER TABLE employees DROP CONSTRAINT employees_tier_id_fkey;
ALTER TABLE employees ADD CONSTRAINT employees_tier_same_group
    FOREIGN KEY (group_id, tier_id) REFERENCES discount_tiers (group_id, id);
-- The employee list of a group, in email order (its keyset).
CREATE INDEX employees_group_email_idx ON employees (group_id, lower(email));

-- Per-category tier discounts -------------------------------------------------------------------
ALTER TABLE tier_category_discounts ADD COLUMN group_id uuid;
UPDATE tier_category_discounts d SET group_id = t.group_id FROM discount_tiers t WHERE t.id = d.tier_id;
ALTER TABLE tier_category_discounts ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE tier_category_discounts DROP CONSTRAINT tier_category_discounts_tier_id_fkey;
ALTER TABLE tier_category_discounts ADD CONSTRAINT tier_category_discounts_tier_same_group
    FOREIGN KEY (group_id, tier_id) REFERENCES discount_tiers (group_id, id) ON DELETE CASCADE;
ALTER TABLE tier_category_discounts DROP CONSTRAINT tier_category_discounts_category_id_fkey;
ALTER TABLE tier_category_discounts ADD CONSTRAINT tier_category_discounts_category_same_group
    FOREIGN KEY (group_id, category_id) REFERENCES categories (group_id, id);

-- Products -------------------------------------------------------------------------------------
ALTER TABLE products ADD COLUMN group_id uuid;
UPDATE products p SET group_id = c.group_id FROM companies c WHERE c.id = p.seller_company_id;
ALTER TABLE products ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE products ADD CONSTRAINT products_group_id_id_key UNIQUE (group_id, id);
ALTER TABLE products DROP CONSTRAINT products_sku_key;
ALTER TABLE products ADD CONSTRAINT products_group_sku_key UNIQUE (group_id, sku);
ALTER TABLE products DROP CONSTRAINT products_seller_company_id_fkey;
ALTER TABLE products ADD CONSTRAINT products_seller_same_group
    FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id);
ALTER TABLE products DROP CONSTRAINT products_category_id_fkey;
ALTER TABLE products ADD CONSTRAINT products_category_same_group
    FOREIGN KEY (group_id, category_id) REFERENCES categories (group_id, id);
-- The employee listing walks a group's visible products in sku order.
DROP INDEX products_visible_sku_idx;
CREATE INDEX products_visible_sku_idx ON products (group_id, sku) WHERE active AND employee_eligible;

-- Employee orders --------------------------------------------------------------------------------
ALTER TABLE orders ADD COLUMN group_id uuid;
UPDATE orders o SET group_id = e.group_id FROM employees e WHERE e.id = o.employee_id;
ALTER TABLE orders ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE orders ADD CONSTRAINT orders_group_id_id_key UNIQUE (group_id, id);
ALTER TABLE orders DROP CONSTRAINT orders_employee_id_fkey;
ALTER TABLE orders ADD CONSTRAINT orders_employee_same_group
    FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id);
ALTER TABLE orders DROP CONSTRAINT orders_seller_company_id_fkey;
ALTER TABLE orders ADD CONSTRAINT orders_seller_same_group
    FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id);
-- Finance and admins list their group's orders newest first, optionally by status.
DROP INDEX orders_created_idx;
CREATE INDEX orders_group_created_idx ON orders (group_id, created_at DESC, id DESC);
DROP INDEX orders_status_idx;
CREATE INDEX orders_group_status_idx ON orders (group_id, status, created_at DESC, id DESC);

ALTER TABLE order_lines ADD COLUMN group_id uuid;
UPDATE order_lines l SET group_id = o.group_id FROM orders o WHERE o.id = l.order_id;
ALTER TABLE order_lines ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey;
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_same_group
    FOREIGN KEY (group_id, order_id) REFERENCES orders (group_id, id) ON DELETE CASCADE;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_product_id_fkey;
ALTER TABLE order_lines ADD CONSTRAINT order_lines_product_same_group
    FOREIGN KEY (group_id, product_id) REFERENCES products (group_id, id);

ALTER TABLE purchase_limit_usage ADD COLUMN group_id uuid;
UPDATE purchase_limit_usage u SET group_id = e.group_id FROM employees e WHERE e.id = u.employee_id;
ALTER TABLE purchase_limit_usage ALTER COLUMN group_id SET NOT NULL;
ALTER TABLE purchase_limit_usage DROP CONSTRAINT purchase_limit_usage_employee_id_fkey;
ALTER TABLE purchase_limit_usage ADD CONSTRAINT purchase_limit_usage_employee_same_group
    FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id);
ALTER TABLE purchase_limit_usage DROP CONSTRAINT purchase_limit_usage_product_id_fkey;
ALTER TABLE purchase_limit_usage ADD CONSTRAINT purchase_limit_usage_product_same_group
    FOREIGN KEY (group_id, product_id) REFERENCES products (group_id, id);
-- allowance_usage belongs to its group through employee_id (NOT NULL, foreign key).

-- Audit log ------------------------------------------------------------------------------------
-- Like the actor, the group is not a foreign key: the log is history and constrains nothing.
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete;
ALTER TABLE audit_events ADD COLUMN group_id uuid;
UPDATE audit_events a SET group_id = coalesce(
    (SELECT group_id FROM companies WHERE id = a.entity_id),
    (SELECT group_id FROM employees WHERE id = a.entity_id),
    (SELECT group_id FROM products WHERE id = a.entity_id),
    (SELECT group_id FROM orders WHERE id = a.entity_id),
    (SELECT group_id FROM categories WHERE id = a.entity_id),
    (SELECT group_id FROM discount_tiers WHERE id = a.entity_id),
    (SELECT group_id FROM employees WHERE id = a.actor_id),
    pg_temp.first_group());
DELETE FROM audit_events WHERE group_id IS NULL;  -- only possible without any company
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete;
ALTER TABLE audit_events ALTER COLUMN group_id SET NOT NULL;
DROP INDEX audit_events_entity_idx;
CREATE INDEX audit_events_entity_idx ON audit_events (group_id, entity_type, entity_id, seq);
DROP INDEX audit_events_entity_type_idx;
CREATE INDEX audit_events_entity_type_idx ON audit_events (group_id, entity_type, seq);
DROP INDEX audit_events_actor_idx;
CREATE INDEX audit_events_actor_idx ON audit_events (group_id, actor_id, seq);
CREATE INDEX audit_events_group_idx ON audit_events (group_id, seq);
