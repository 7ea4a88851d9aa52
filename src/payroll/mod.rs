//! Payroll deduction (§5): paying an employee order from wages over instalments. `terms`
//! holds an employer's offer as the API takes and shows it and the terms an order is placed
//! under; `schedule` reads and appends to the append-only schedules (cancellation, the end of
//! employment). The rules themselves are pure, in `domain::payroll`; placing an order writes
//! its first lines in the order's own statement (`orders::placement`).

pub mod schedule;
pub mod terms;

pub use schedule::{ScheduleLineView, ScheduleRow};
pub use terms::{OfferColumns, Payment, PayrollDeduction};
