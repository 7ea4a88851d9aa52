// @generated automatically by Diesel CLI.

diesel::table! {
    allowance_usage (employee_id, year) {
        employee_id -> Uuid,
        year -> Int4,
        used -> Numeric,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> Int8,
        id -> Uuid,
        occurred_at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Uuid,
        before -> Nullable<Jsonb>,
        after -> Nullable<Jsonb>,
        request_id -> Nullable<Text>,
        group_id -> Uuid,
    }
}

diesel::table! {
    benefit_lines (order_id, line_no) {
        group_id -> Uuid,
        order_id -> Uuid,
        line_no -> Int4,
        employee_id -> Uuid,
        employer_company_id -> Uuid,
        rule -> Text,
        employer_line_of_business -> Nullable<Text>,
        fulfilled_at -> Timestamptz,
        seller_company_id -> Uuid,
        seller_gp_percent -> Nullable<Numeric>,
        seller_line_of_business -> Nullable<Text>,
        product_id -> Uuid,
        product_kind -> Text,
        offered_to_customers -> Bool,
        quantity -> Int4,
        currency -> Text,
        list_total -> Numeric,
        paid_total -> Numeric,
        cost_total -> Numeric,
        group_currency -> Text,
        to_group_rate -> Numeric,
        highly_compensated -> Bool,
        tier_discriminatory -> Bool,
    }
}

diesel::table! {
    categories (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        created_at -> Timestamptz,
        group_id -> Uuid,
    }
}

diesel::table! {
    closed_periods (group_id, period) {
        group_id -> Uuid,
        period -> Date,
        closed_by -> Uuid,
        closed_at -> Timestamptz,
    }
}

diesel::table! {
    companies (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        parent_id -> Nullable<Uuid>,
        group_id -> Uuid,
        currency -> Text,
        country -> Text,
        benefit_tax_rule -> Text,
        qualified_discount_gp_percent -> Nullable<Numeric>,
        line_of_business -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        time_zone -> Text,
        payroll_enabled -> Nullable<Bool>,
        payroll_min_tenure_months -> Nullable<Int4>,
        payroll_instalments -> Nullable<Array<Nullable<Int4>>>,
        payroll_max_share_of_pay -> Nullable<Numeric>,
        payroll_frequency -> Nullable<Text>,
        payroll_first_pay_date -> Nullable<Date>,
    }
}

diesel::table! {
    discount_tiers (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        discount_percent -> Numeric,
        annual_allowance -> Nullable<Numeric>,
        eligible_employment_types -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        group_id -> Uuid,
    }
}

diesel::table! {
    employees (id) {
        id -> Uuid,
        email -> Text,
        full_name -> Text,
        company_id -> Uuid,
        employment_type -> Text,
        client_type -> Text,
        tier_id -> Nullable<Uuid>,
        roles -> Array<Nullable<Text>>,
        active -> Bool,
        password_hash -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        group_id -> Uuid,
        credential_version -> Int4,
        highly_compensated -> Bool,
        former -> Nullable<Text>,
        hired_on -> Nullable<Date>,
        pay_per_period -> Nullable<Numeric>,
    }
}

diesel::table! {
    feedback (id) {
        id -> Uuid,
        group_id -> Uuid,
        order_id -> Nullable<Uuid>,
        intercompany_order_id -> Nullable<Uuid>,
        seller_company_id -> Uuid,
        author_id -> Uuid,
        rating -> Int2,
        comment -> Nullable<Text>,
        reply -> Nullable<Text>,
        replied_by -> Nullable<Uuid>,
        replied_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    fx_rates (id) {
        id -> Uuid,
        group_id -> Uuid,
        base -> Text,
        quote -> Text,
        rate -> Numeric,
        date -> Date,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    household_members (id) {
        id -> Uuid,
        group_id -> Uuid,
        employee_id -> Uuid,
        full_name -> Text,
        relationship -> Text,
        created_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (employee_id, key) {
        employee_id -> Uuid,
        key -> Text,
        scope -> Text,
        request_hash -> Text,
        response_status -> Int4,
        response_body -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    intercompany_order_lines (order_id, line_no) {
        group_id -> Uuid,
        order_id -> Uuid,
        line_no -> Int4,
        product_id -> Uuid,
        quantity -> Int4,
        policy_id -> Uuid,
        method -> Text,
        unit_cost -> Numeric,
        unit_transfer_price -> Numeric,
        line_total -> Numeric,
        markup_percent -> Nullable<Numeric>,
        outside_arms_length_range -> Bool,
        percent -> Numeric,
        min_markup_percent -> Nullable<Numeric>,
        max_markup_percent -> Nullable<Numeric>,
    }
}

diesel::table! {
    intercompany_orders (id) {
        id -> Uuid,
        group_id -> Uuid,
        number -> Text,
        status -> Text,
        buyer_company_id -> Uuid,
        seller_company_id -> Uuid,
        currency -> Text,
        total -> Numeric,
        order_date -> Date,
        created_by -> Uuid,
        promised_date -> Nullable<Date>,
        accepted_at -> Nullable<Timestamptz>,
        shipped_at -> Nullable<Timestamptz>,
        ship_date -> Nullable<Date>,
        settled_at -> Nullable<Timestamptz>,
        settle_date -> Nullable<Date>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (seq) {
        seq -> Int8,
        id -> Uuid,
        group_id -> Uuid,
        posting_id -> Uuid,
        order_id -> Nullable<Uuid>,
        company_id -> Uuid,
        counterparty_company_id -> Uuid,
        side -> Text,
        kind -> Text,
        amount -> Numeric,
        currency -> Text,
        document_amount -> Numeric,
        document_currency -> Text,
        rate -> Numeric,
        date -> Date,
        policy_id -> Nullable<Uuid>,
        true_up_year -> Nullable<Int4>,
        reason -> Nullable<Text>,
        created_at -> Timestamptz,
        settles_posting_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    login_failures (account, address, failed_at) {
        account -> Text,
        address -> Text,
        failed_at -> Timestamptz,
    }
}

diesel::table! {
    login_pace (account) {
        account -> Text,
        next_attempt_at -> Timestamptz,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        window_started_at -> Timestamptz,
        failures -> Int4,
    }
}

diesel::table! {
    netting_runs (id) {
        id -> Uuid,
        group_id -> Uuid,
        date -> Date,
        currency -> Text,
        transfers -> Jsonb,
        order_ids -> Array<Nullable<Uuid>>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        exact -> Bool,
        settled_postings -> Array<Nullable<Uuid>>,
    }
}

diesel::table! {
    order_lines (order_id, line_no) {
        order_id -> Uuid,
        line_no -> Int4,
        product_id -> Uuid,
        quantity -> Int4,
        unit_list_price -> Numeric,
        discount_percent -> Numeric,
        line_list_total -> Numeric,
        line_discount -> Numeric,
        line_total -> Numeric,
        limit_period_start -> Nullable<Date>,
        group_id -> Uuid,
    }
}

diesel::table! {
    orders (id) {
        id -> Uuid,
        number -> Text,
        status -> Text,
        employee_id -> Uuid,
        seller_company_id -> Uuid,
        currency -> Text,
        list_total -> Numeric,
        discount_total -> Numeric,
        total -> Numeric,
        allowance_applied -> Numeric,
        allowance_year -> Int4,
        group_currency -> Text,
        fx_rate -> Numeric,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        group_id -> Uuid,
        fulfilled_at -> Nullable<Timestamptz>,
        for_member_id -> Nullable<Uuid>,
        payroll_instalments -> Nullable<Int4>,
    }
}

diesel::table! {
    payroll_deductions (order_id, line_no) {
        order_id -> Uuid,
        line_no -> Int4,
        group_id -> Uuid,
        employee_id -> Uuid,
        company_id -> Uuid,
        pay_date -> Date,
        amount -> Numeric,
        currency -> Text,
        kind -> Text,
        status -> Text,
        replaces -> Nullable<Int4>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    payroll_due (employee_id, pay_date) {
        employee_id -> Uuid,
        pay_date -> Date,
        group_id -> Uuid,
        amount -> Numeric,
    }
}

diesel::table! {
    products (id) {
        id -> Uuid,
        sku -> Text,
        name -> Text,
        description -> Text,
        category_id -> Uuid,
        seller_company_id -> Uuid,
        kind -> Text,
        list_price -> Numeric,
        unit_cost -> Numeric,
        stock_on_hand -> Int4,
        employee_eligible -> Bool,
        intercompany_eligible -> Bool,
        active -> Bool,
        purchase_limit_quantity -> Nullable<Int4>,
        purchase_limit_period -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        group_id -> Uuid,
        offered_to_customers -> Bool,
    }
}

diesel::table! {
    purchase_limit_usage (employee_id, product_id, period_start) {
        employee_id -> Uuid,
        product_id -> Uuid,
        period_start -> Date,
        quantity -> Int4,
        group_id -> Uuid,
    }
}

diesel::table! {
    tier_category_discounts (tier_id, category_id) {
        tier_id -> Uuid,
        category_id -> Uuid,
        discount_percent -> Numeric,
        group_id -> Uuid,
    }
}

diesel::table! {
    transfer_pricing_policies (id) {
        id -> Uuid,
        group_id -> Uuid,
        seller_company_id -> Uuid,
        buyer_company_id -> Nullable<Uuid>,
        category_id -> Nullable<Uuid>,
        method -> Text,
        percent -> Numeric,
        min_markup_percent -> Nullable<Numeric>,
        max_markup_percent -> Nullable<Numeric>,
        target_markup_percent -> Nullable<Numeric>,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        supersedes -> Nullable<Uuid>,
    }
}

diesel::table! {
    closed_period_reports (group_id, period, report) {
        group_id -> Uuid,
        period -> Date,
        report -> Text,
        body -> Text,
    }
}

diesel::table! {
    intercompany_inventory (group_id, period, seller_company_id, buyer_company_id) {
        group_id -> Uuid,
        period -> Date,
        seller_company_id -> Uuid,
        buyer_company_id -> Uuid,
        amount -> Numeric,
        currency -> Text,
        reported_by -> Uuid,
        reported_at -> Timestamptz,
    }
}

diesel::joinable!(allowance_usage -> employees (employee_id));
diesel::joinable!(employees -> companies (company_id));
diesel::joinable!(employees -> discount_tiers (tier_id));
diesel::joinable!(intercompany_order_lines -> intercompany_orders (order_id));
diesel::joinable!(order_lines -> orders (order_id));
diesel::joinable!(payroll_deductions -> orders (order_id));
diesel::joinable!(order_lines -> products (product_id));
diesel::joinable!(orders -> companies (seller_company_id));
diesel::joinable!(orders -> employees (employee_id));
diesel::joinable!(products -> categories (category_id));
diesel::joinable!(products -> companies (seller_company_id));
diesel::joinable!(purchase_limit_usage -> employees (employee_id));
diesel::joinable!(purchase_limit_usage -> products (product_id));
diesel::joinable!(tier_category_discounts -> categories (category_id));
diesel::joinable!(tier_category_discounts -> discount_tiers (tier_id));

diesel::allow_tables_to_appear_in_same_query!(
    benefit_lines,
    allowance_usage,
    audit_events,
    categories,
    closed_period_reports,
    closed_periods,
    companies,
    discount_tiers,
    employees,
    feedback,
    fx_rates,
    household_members,
    idempotency_keys,
    intercompany_inventory,
    intercompany_order_lines,
    intercompany_orders,
    ledger_entries,
    login_failures,
    login_pace,
    login_throttle,
    netting_runs,
    order_lines,
    orders,
    payroll_deductions,
    payroll_due,
    products,
    purchase_limit_usage,
    tier_category_discounts,
    transfer_pricing_policies,
);
