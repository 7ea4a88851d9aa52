-- The benefits report counts the orders fulfilled in a year by their fulfilment time
-- (`fulfilled_at`, migration 000009), not by their last change: an order touched after its
-- fulfilment stays in the year it was fulfilled. The partial index follows the column.
DROP INDEX orders_group_fulfilled_idx;
CREATE INDEX orders_group_fulfilled_idx ON orders (group_id, employee_id, fulfilled_at)
    WHERE status = 'fulfilled';
