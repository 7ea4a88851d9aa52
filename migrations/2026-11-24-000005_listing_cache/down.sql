DROP TRIGGER employees_listing_change ON employees;
DROP TRIGGER tier_category_discounts_listing_change ON tier_category_discounts;
DROP TRIGGER discount_tiers_listing_change ON discount_tiers;
DROP TRIGGER companies_listing_change ON companies;
DROP TRIGGER products_listing_change ON products;
DROP FUNCTION notify_listing_change();
