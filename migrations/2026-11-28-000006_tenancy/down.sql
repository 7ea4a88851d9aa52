-- Undoes the tenancy migration: single-column keys and database-wide codes again.
DROP INDEX audit_events_group_idx;
DROP INDEX audit_events_actor_idx;
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, seq);
DROP INDEX audit_events_entity_type_idx;
CREATE INDEX audit_events_entity_type_idx ON audit_events (entity_type, seq);
DROP INDEX audit_events_entity_idx;
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, seq);
ALTER TABLE audit_events DROP COLUMN group_id;

ALTER TABLE purchase_limit_usage DROP CONSTRAINT purchase_limit_usage_product_same_group;
ALTER TABLE purchase_limit_usage ADD CONSTRAINT purchase_limit_usage_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE purchase_limit_usage DROP CONSTRAINT purchase_limit_usage_employee_same_group;
ALTER TABLE purchase_limit_usage ADD CONSTRAINT purchase_limit_usage_employee_id_fkey
    FOREIGN KEY (employee_id) REFERENCES employees (id);
ALTER TABLE purchase_limit_usage DROP COLUMN group_id;

ALTER TABLE order_lines DROP CONSTRAINT order_lines_product_same_group;
ALTER TABLE order_lines ADD CONSTRAINT order_lines_product_id_fkey
    FOREIGN KEY (product_id) REFERENCES products (id);
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_same_group;
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_id_fkey
    FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE order_lines DROP COLUMN group_id;

DROP INDEX orders_group_status_idx;
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);
DROP INDEX orders_group_created_idx;
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);
ALTER TABLE orders DROP CONSTRAINT orders_seller_same_group;
ALTER TABLE orders ADD CONSTRAINT orders_seller_company_id_fkey
    FOREIGN KEY (seller_company_id) REFERENCES companies (id);
ALTER TABLE orders DROP CONSTRAINT orders_employee_same_group;
ALTER TABLE orders ADD CONSTRAINT orders_employee_id_fkey
    FOREIGN KEY (employee_id) REFERENCES employees (id);
ALTER TABLE orders DROP CONSTRAINT orders_group_id_id_key;
ALTER TABLE orders DROP COLUMN group_id;

DROP INDEX products_visible_sku_idx;
CREATE INDEX products_visible_sku_idx ON products (sku) WHERE active AND employee_eligible;
ALTER TABLE products DROP CONSTRAINT products_category_same_group;
ALTER TABLE products ADD CONSTRAINT products_category_id_fkey
    FOREIGN KEY (category_id) REFERENCES categories (id);
ALTER TABLE products DROP CONSTRAINT products_seller_same_group;
ALTER TABLE products ADD CONSTRAINT products_seller_company_id_fkey
    FOREIGN KEY (seller_company_id) REFERENCES companies (id);
ALTER TABLE products DROP CONSTRAINT products_group_sku_key;
ALTER TABLE products ADD CONSTRAINT products_sku_key UNIQUE (sku);
ALTER TABLE products DROP CONSTRAINT products_group_id_id_key;
ALTER TABLE products DROP COLUMN group_id;

ALTER TABLE tier_category_discounts DROP CONSTRAINT tier_category_discounts_category_same_group;
ALTER TABLE tier_category_discounts ADD CONSTRAINT tier_category_discounts_category_id_fkey
    FOREIGN KEY (category_id) REFERENCES categories (id);
ALTER TABLE tier_category_discounts DROP CONSTRAINT tier_category_discounts_tier_same_group;
ALTER TABLE tier_category_discounts ADD CONSTRAINT tier_category_discounts_tier_id_fkey
    FOREIGN KEY (tier_id) REFERENCES discount_tiers (id) ON DELETE CASCADE;
ALTER TABLE tier_category_discounts DROP COLUMN group_id;

DROP INDEX employees_group_email_idx;
ALTER TABLE employees DROP CONSTRAINT employees_tier_same_group;
ALTER TABLE employees ADD CONSTRAINT employees_tier_id_fkey
    FOREIGN KEY (tier_id) REFERENCES discount_tiers (id);
ALTER TABLE employees DROP CONSTRAINT employees_company_same_group;
ALTER TABLE employees ADD CONSTRAINT employees_company_id_fkey
    FOREIGN KEY (company_id) REFERENCES companies (id);
ALTER TABLE employees DROP CONSTRAINT employees_group_id_id_key;
ALTER TABLE employees DROP COLUMN group_id;

ALTER TABLE categories DROP CONSTRAINT categories_group_id_id_key;
ALTER TABLE categories DROP CONSTRAINT categories_group_code_key;
ALTER TABLE categories ADD CONSTRAINT categories_code_key UNIQUE (code);
ALTER TABLE categories DROP COLUMN group_id;

ALTER TABLE discount_tiers DROP CONSTRAINT discount_tiers_group_id_id_key;
ALTER TABLE discount_tiers DROP CONSTRAINT discount_tiers_group_code_key;
ALTER TABLE discount_tiers ADD CONSTRAINT discount_tiers_code_key UNIQUE (code);
ALTER TABLE discount_tiers DROP COLUMN group_id;

DROP TRIGGER companies_group_fixed ON companies;
DROP FUNCTION companies_group_is_fixed();
CREATE INDEX companies_group_id_idx ON companies (group_id, code);
ALTER TABLE companies DROP CONSTRAINT companies_parent_same_group;
ALTER TABLE companies ADD CONSTRAINT companies_parent_id_fkey
    FOREIGN KEY (parent_id) REFERENCES companies (id);
DROP INDEX companies_root_code_key;
ALTER TABLE companies DROP CONSTRAINT companies_group_id_id_key;
ALTER TABLE companies DROP CONSTRAINT companies_group_code_key;
ALTER TABLE companies ADD CONSTRAINT companies_code_key UNIQUE (code);
