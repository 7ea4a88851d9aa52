DROP TABLE tier_category_discounts;
DROP TABLE products;
DROP TABLE categories;
ALTER TABLE discount_tiers DROP CONSTRAINT discount_tiers_code_format;
ALTER TABLE discount_tiers ALTER COLUMN annual_allowance TYPE numeric(20, 4);
DROP EXTENSION IF EXISTS pg_trgm;
