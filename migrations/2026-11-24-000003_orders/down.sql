DROP TABLE idempotency_keys;
DROP TABLE purchase_limit_usage;
DROP TABLE allowance_usage;
DROP TABLE order_lines;
DROP TABLE orders;
DROP SEQUENCE order_number_seq;
