DROP TRIGGER orders_payroll_balanced ON orders;
DROP FUNCTION orders_payroll_balanced();
DROP TABLE payroll_due;
DROP TABLE payroll_deductions;
DROP FUNCTION payroll_deductions_balanced();
DROP FUNCTION payroll_schedule_check(uuid);
DROP FUNCTION payroll_deductions_fixed();
ALTER TABLE orders DROP COLUMN payroll_instalments;
ALTER TABLE employees DROP COLUMN hired_on, DROP COLUMN pay_per_period;
ALTER TABLE companies DROP CONSTRAINT companies_payroll_whole,
    DROP COLUMN payroll_enabled, DROP COLUMN payroll_min_tenure_months,
    DROP COLUMN payroll_instalments, DROP COLUMN payroll_max_share_of_pay,
    DROP COLUMN payroll_frequency, DROP COLUMN payroll_first_pay_date;
