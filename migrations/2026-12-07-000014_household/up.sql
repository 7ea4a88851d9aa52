-- The household (§5, IRC §132(h)): a spouse's and dependent children's purchases are the
-- employee's. Members belong to one employee; an order may name one of its employee's members.
CREATE TABLE household_members (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL,
    employee_id uuid NOT NULL,
    full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    relationship text NOT NULL
        CHECK (relationship IN ('spouse', 'dependent_child', 'surviving_spouse')),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Removed members stay: the orders placed for them keep naming them.
    removed_at timestamptz,
    CONSTRAINT household_members_group_employee_id_key UNIQUE (group_id, employee_id, id),
    CONSTRAINT household_members_employee_same_group
        FOREIGN KEY (group_id, employee_id) REFERENCES employees (group_id, id)
);
CREATE INDEX household_members_current_idx ON household_members (employee_id, created_at, id)
    WHERE removed_at IS NULL;

-- The member an order was bought for: one of the ordering employee's own (the key carries the
-- group and the employee, so no order can name another employee's member).
ALTER TABLE orders ADD COLUMN for_member_id uuid;
ALTER TABLE orders ADD CONSTRAINT orders_member_of_employee
    FOREIGN KEY (group_id, employee_id, for_member_id)
    REFERENCES household_members (group_id, employee_id, id);

-- A former employee (retired or disabled) keeps signing in and shopping with their tier, and
-- holds no role but `employee`.
ALTER TABLE employees ADD COLUMN former text CHECK (former IN ('retired', 'disabled'));
ALTER TABLE employees ADD CONSTRAINT employees_former_shops_only
    CHECK (former IS NULL OR roles = ARRAY['employee']);
