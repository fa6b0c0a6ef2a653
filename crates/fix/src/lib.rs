//! Generators that turn the audit's model into reviewed SQL:
//!
//! * [`rls`]: row-level security for every tenant table whose isolation the audit rejects;
//! * [`erasure`]: the right-to-be-forgotten cascade for one tenant, ordered by foreign keys.
//!
//! Both read the same [`Snapshot`](tenantguard_catalog::Snapshot) and tenant model as the audit,
//! write SQL for a person to review, and never touch a database themselves.

pub mod erasure;
pub mod rls;
mod sqltext;
