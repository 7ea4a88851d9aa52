DROP FUNCTION abort_statement(text);
ALTER TABLE products RESET (fillfactor);
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES employees (id);
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_employee_id_fkey FOREIGN KEY (employee_id) REFERENCES employees (id);
