ALTER TABLE employees DROP CONSTRAINT employees_former_shops_only;
ALTER TABLE employees DROP COLUMN former;
ALTER TABLE orders DROP CONSTRAINT orders_member_of_employee;
ALTER TABLE orders DROP COLUMN for_member_id;
DROP TABLE household_members;
