ALTER TABLE orders ADD CONSTRAINT orders_list_total_check CHECK (list_total >= 0);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_line_list_total_check
    CHECK (line_list_total >= 0);

DROP TRIGGER products_listing_change ON products;
ALTER TABLE products
    ALTER COLUMN sku TYPE text,
    ALTER COLUMN name TYPE text,
    ALTER COLUMN description TYPE text,
    ALTER COLUMN kind TYPE text,
    ALTER COLUMN list_price TYPE numeric,
    ALTER COLUMN unit_cost TYPE numeric,
    ALTER COLUMN purchase_limit_quantity TYPE integer,
    ALTER COLUMN purchase_limit_period TYPE text,
    ADD CONSTRAINT products_sku_format CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    ADD CONSTRAINT products_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    ADD CONSTRAINT products_description_check CHECK (length(description) <= 4000),
    ADD CONSTRAINT products_kind_check CHECK (kind IN ('goods', 'service')),
    ADD CONSTRAINT products_list_price_check CHECK (list_price >= 0),
    ADD CONSTRAINT products_unit_cost_check CHECK (unit_cost >= 0),
    ADD CONSTRAINT products_purchase_limit_quantity_check CHECK (purchase_limit_quantity > 0),
    ADD CONSTRAINT products_purchase_limit_period_check
        CHECK (purchase_limit_period IN ('month', 'year'));
CREATE TRIGGER products_listing_change
    AFTER INSERT OR DELETE OR UPDATE OF sku, name, description, category_id, seller_company_id,
        kind, list_price, unit_cost, employee_eligible, intercompany_eligible, active,
        purchase_limit_quantity, purchase_limit_period
    ON products FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

DROP DOMAIN product_limit_period;
DROP DOMAIN product_limit_quantity;
DROP DOMAIN product_amount;
DROP DOMAIN product_kind;
DROP DOMAIN product_description;
DROP DOMAIN product_name;
DROP DOMAIN product_sku;
