DROP INDEX orders_group_fulfilled_idx;
CREATE INDEX orders_group_fulfilled_idx ON orders (group_id, employee_id, updated_at)
    WHERE status = 'fulfilled';
