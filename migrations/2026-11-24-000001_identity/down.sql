DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE login_throttle;
DROP TABLE employees;
DROP TABLE discount_tiers;
DROP TABLE companies;
