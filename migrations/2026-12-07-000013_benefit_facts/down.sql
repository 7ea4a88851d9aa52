DROP VIEW benefit_lines_backfill_gaps;
DROP TABLE benefit_lines;
DROP FUNCTION benefit_lines_fixed();
DROP FUNCTION currency_exponent(text);
ALTER TABLE employees DROP COLUMN highly_compensated;
ALTER TABLE companies DROP CONSTRAINT companies_line_of_business_format;
ALTER TABLE companies ADD CONSTRAINT companies_line_of_business_format
    CHECK (line_of_business ~ '^[0-9A-Za-z][0-9A-Za-z.-]{0,15}$');
UPDATE companies SET benefit_tax_rule = 'none' WHERE benefit_tax_rule NOT IN ('none', 'us_irc_132');
ALTER TABLE companies DROP CONSTRAINT companies_benefit_tax_rule_check;
ALTER TABLE companies ADD CONSTRAINT companies_benefit_tax_rule_check
    CHECK (benefit_tax_rule IN ('none', 'us_irc_132'));
