-- Feedback from internal clients on the orders they received, the seller's one reply, and what
-- the internal-service KPIs need (PRODUCT.md §8). Group-scoped with composite foreign keys, as
-- in migration 000006.

-- Employee orders learn when they were fulfilled (the KPI employee_fulfilment_hours_p50).
-- Orders fulfilled before this migration take their last change as the best known time.
ALTER TABLE orders ADD COLUMN fulfilled_at timestamptz;
UPDATE orders SET fulfilled_at = updated_at WHERE status = 'fulfilled';
ALTER TABLE orders ADD CONSTRAINT orders_fulfilled_has_time
    CHECK ((status = 'fulfilled') = (fulfilled_at IS NOT NULL));

-- The seller of an intercompany order, as a key a feedback row can carry (below).
ALTER TABLE intercompany_orders ADD CONSTRAINT intercompany_orders_group_id_id_seller_key
    UNIQUE (group_id, id, seller_company_id);

-- One row per rated order: the client's rating and comment, and the seller's reply.
CREATE TABLE feedback (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    group_id uuid NOT NULL,
    -- Exactly one of the two: the employee order or the intercompany order rated.
    order_id uuid,
    intercompany_order_id uuid,
    -- The company whose service is rated: the order's seller (copied from the order when the
    -- feedback is written; for intercompany orders the database checks it, below).
    seller_company_id uuid NOT NULL,
    -- The client who gave it: the employee who bought, or the buyer's purchaser.
    author_id uuid NOT NULL,
    rating smallint NOT NULL,
    comment text,
    -- The seller's one answer.
    reply text,
    replied_by uuid,
    replied_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_group_id_id_key UNIQUE (group_id, id),
    -- One feedback per order.
    CONSTRAINT feedback_order_key UNIQUE (order_id),
    CONSTRAINT feedback_intercompany_order_key UNIQUE (intercompany_order_id),
    CONSTRAINT feedback_one_order CHECK (num_nonnulls(order_id, intercompany_order_id) = 1),
    CONSTRAINT feedback_rating_range CHECK (rating BETWEEN 1 AND 5),
    CONSTRAINT feedback_comment_length CHECK (char_length(comment) <= 2000),
    CONSTRAINT feedback_reply_length CHECK (char_length(reply) BETWEEN 1 AND 2000),
    CONSTRAINT feedback_reply_complete CHECK (
        (reply IS NULL) = (replied_by IS NULL) AND (reply IS NULL) = (replied_at IS NULL)),
    CONSTRAINT feedback_order_same_group
        FOREIGN KEY (group_id, order_id) REFERENCES orders (group_id, id),
    CONSTRAINT feedback_intercompany_order_same_group
        FOREIGN KEY (group_id, intercompany_order_id, seller_company_id)
        REFERENCES intercompany_orders (group_id, id, seller_company_id),
    CONSTRAINT feedback_seller_same_group
        FOREIGN KEY (group_id, seller_company_id) REFERENCES companies (group_id, id),
    CONSTRAINT feedback_author_same_group
        FOREIGN KEY (group_id, author_id) REFERENCES employees (group_id, id),
    CONSTRAINT feedback_replier_same_group
        FOREIGN KEY (group_id, replied_by) REFERENCES employees (group_id, id)
);
-- GET /feedback: a company's feedback newest first (purchasers, or a company_id filter), or the
-- whole group's (finance, admins); period and rating filters narrow these ranges. The KPIs reach
-- feedback through the unique keys on order_id and intercompany_order_id.
CREATE INDEX feedback_seller_idx ON feedback (group_id, seller_company_id, created_at DESC, id DESC);
CREATE INDEX feedback_group_idx ON feedback (group_id, created_at DESC, id DESC);
CREATE INDEX feedback_author_idx ON feedback (author_id);
CREATE INDEX feedback_replier_idx ON feedback (replied_by) WHERE replied_by IS NOT NULL;
