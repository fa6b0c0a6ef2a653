//! Fail-closed: with no tenant set, and with an empty one, the app role must read nothing.

use super::table::Scope;
use super::{Built, ContextSpec};
use crate::matrix::Attempt;
use crate::targets::TableTarget;

pub fn none(t: &TableTarget, s: &Scope) -> Built {
    Ok((
        Attempt { role: s.role.into(), context: ContextSpec::none(), prepare: None, attack: format!("SELECT count(*)::text FROM {}", t.sql), reads: true, verify: None, delta: false },
        Box::new(|n| format!("with no tenant set the app role read {n} row(s): the policy does not fail closed")),
        "with no tenant set the app role reads nothing (or is refused)".into(),
    ))
}

pub fn empty(t: &TableTarget, s: &Scope) -> Built {
    Ok((
        Attempt { role: s.role.into(), context: s.ctx.empty(), prepare: None, attack: format!("SELECT count(*)::text FROM {}", t.sql), reads: true, verify: None, delta: false },
        Box::new(|n| format!("with the tenant set to '' the app role read {n} row(s) (what a pooled connection holds after RESET)")),
        "with an empty tenant the app role reads nothing (or is refused)".into(),
    ))
}
