DROP TABLE feedback;
ALTER TABLE intercompany_orders DROP CONSTRAINT intercompany_orders_group_id_id_seller_key;
ALTER TABLE orders DROP CONSTRAINT orders_fulfilled_has_time;
ALTER TABLE orders DROP COLUMN fulfilled_at;
