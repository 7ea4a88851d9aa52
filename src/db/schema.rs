// @generated automatically by Diesel CLI.

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
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        window_started_at -> Timestamptz,
        failures -> Int4,
    }
}

diesel::joinable!(audit_events -> employees (actor_id));
diesel::joinable!(employees -> companies (company_id));
diesel::joinable!(employees -> discount_tiers (tier_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    companies,
    discount_tiers,
    employees,
    login_throttle,
);
