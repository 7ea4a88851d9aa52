-- Every instance caches employee catalog pages and the employees reading them
-- (src/catalog/cache.rs). A transaction that changes what those pages or employees look like
-- announces it on one channel; the notification is delivered when, and only if, it commits.
-- Stock is left out on purpose: it changes with every order, and NOTIFY serialises committing
-- transactions, so order-driven counters are bounded by the cache's age limit instead.
CREATE FUNCTION notify_listing_change() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    -- Identical notifications in one transaction are delivered once.
    PERFORM pg_notify('internal_store_listing', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER products_listing_change
    AFTER INSERT OR DELETE OR UPDATE OF sku, name, description, category_id, seller_company_id,
        kind, list_price, unit_cost, employee_eligible, intercompany_eligible, active,
        purchase_limit_quantity, purchase_limit_period
    ON products FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

CREATE TRIGGER companies_listing_change
    AFTER UPDATE OR DELETE ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

CREATE TRIGGER discount_tiers_listing_change
    AFTER UPDATE OR DELETE ON discount_tiers
    FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

CREATE TRIGGER tier_category_discounts_listing_change
    AFTER INSERT OR UPDATE OR DELETE ON tier_category_discounts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();

-- Password changes and sign-ins leave the cached employee as it was.
CREATE TRIGGER employees_listing_change
    AFTER UPDATE OF email, full_name, company_id, employment_type, client_type, tier_id, roles,
        active
    OR DELETE ON employees
    FOR EACH STATEMENT EXECUTE FUNCTION notify_listing_change();
