-- Constraints the order path checks cheaply (issue 22). PostgreSQL parses and evaluates every
-- CHECK of a table for every row a statement writes, whatever columns the statement changes,
-- so each order's stock update re-checked the product's SKU pattern, name, description, kind,
-- prices and limit: ten expressions to take one number down. A domain's rule is checked only
-- where a value of the domain is written. The products' one-column rules become domains, and
-- the stock update checks the stock and the two-column limit rule alone; a product written
-- through the API is checked exactly as before. Two CHECKs that others imply go.
CREATE DOMAIN product_sku AS text
    CONSTRAINT product_sku_format CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$');
CREATE DOMAIN product_name AS text
    CONSTRAINT product_name_length CHECK (length(btrim(VALUE)) BETWEEN 1 AND 200);
CREATE DOMAIN product_description AS text
    CONSTRAINT product_description_length CHECK (length(VALUE) <= 4000);
CREATE DOMAIN product_kind AS text
    CONSTRAINT product_kind_known CHECK (VALUE IN ('goods', 'service'));
CREATE DOMAIN product_amount AS numeric
    CONSTRAINT product_amount_not_negative CHECK (VALUE >= 0);
CREATE DOMAIN product_limit_quantity AS integer
    CONSTRAINT product_limit_quantity_positive CHECK (VALUE > 0);
CREATE DOMAIN product_limit_period AS text
    CONSTRAINT product_limit_period_known CHECK (VALUE IN ('month', 'year'));

-- The listing trigger names the columns whose type changes; it is set again as it was.
DROP TRIGGER products_listing_change ON products;
ALTER TABLE products
    DROP CONSTRAINT products_sku_format,
    DROP CONSTRAINT products_name_check,
    DROP CONSTRAINT products_description_check,
    DROP CONSTRAINT products_kind_check,
    DROP CONSTRAINT products_list_price_check,
    DROP CONSTRAINT products_unit_cost_check,
    DROP CONSTRAINT products_purchase_limit_quantity_check,
    DROP CONSTRAINT products_purchase_limit_period_check,
    ALTER COLUMN sku TYPE product_sku,
    ALTER COLUMN name TYPE product_name,
    ALTER COLUMN description TYPE product_description,
    ALTER COLUMN kind TYPE product_kind,
    ALTER COLUMN list_price TYPE product_amount,
    ALTER COLUMN unit_cost TYPE product_amount,
    ALTER COLUMN purchase_limit_quantity TYPE product_limit_quantity,
    ALTER COLUMN purchase_limit_period TYPE product_limit_period;
CREATE TRIGGER products_listing_change
    AFTER INSERT OR DELETE OR UPDATE OF sku, name, description, category_id, seller_company_id,
        kind, list_price, unit_cost, employee_eligible, intercompany_eligible, active,
        purchase_limit_quantity, purchase_limit_period
    ON products FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

-- Implied: a line's discount lies between 0 and its list total (order_lines_check), so the
-- list total is not negative; an order's total is its list total less its discount, both
-- total and discount not negative (orders_totals_add_up and two CHECKs), so neither is its
-- list total.
ALTER TABLE order_lines DROP CONSTRAINT order_lines_line_list_total_check;
ALTER TABLE orders DROP CONSTRAINT orders_list_total_check;
