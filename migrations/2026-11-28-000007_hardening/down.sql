DROP TABLE login_pace;
DROP TABLE login_failures;
DROP TRIGGER employees_credential_change ON employees;
DROP TRIGGER employees_credential_version ON employees;
DROP FUNCTION employees_credential_version();
ALTER TABLE employees DROP COLUMN credential_version;
