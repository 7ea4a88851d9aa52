-- Stock changes with every order while a product's other columns rarely do. Free space on each
-- page lets those updates be HOT (heap-only): no new entries in the product's ten indexes,
-- two of them trigram GIN indexes. Applies to pages written from now on.
ALTER TABLE products SET (fillfactor = 70);
