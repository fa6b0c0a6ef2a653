//! Request counters labelled by tier and outcome: never by tenant id, so the number of
//! series is (tiers x outcomes) however many tenants there are.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct TierMetrics {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl TierMetrics {
    pub fn record(&self, tier: &str, outcome: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((tier.to_string(), outcome)).or_default() += 1;
    }

    pub fn get(&self, tier: &str, outcome: &'static str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&(tier.to_string(), outcome)).copied().unwrap_or(0)
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::from("# TYPE tenantguard_requests_total counter\n");
        for ((tier, outcome), n) in counts.iter() {
            let _ = writeln!(out, "tenantguard_requests_total{{tier=\"{tier}\",outcome=\"{outcome}\"}} {n}");
        }
        out
    }
}

/// The outcome label for a response status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        429 => "rate_limited",
        400..=499 => "client_error",
        500..=599 => "server_error",
        _ => "ok",
    }
}
