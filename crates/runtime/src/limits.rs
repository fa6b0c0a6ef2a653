use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, TenantId};

/// Per-tenant cap on concurrent transactions. Only tenants with a transaction open have an
/// entry, so memory follows concurrency, not the number of tenants ever seen.
pub(crate) struct TenantConcurrency {
    cap: u32,
    slots: Arc<Mutex<HashMap<TenantId, Arc<Semaphore>>>>,
}

pub(crate) struct TenantPermit {
    tenant: TenantId,
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<Mutex<HashMap<TenantId, Arc<Semaphore>>>>,
}

impl TenantConcurrency {
    pub(crate) fn new(cap: u32) -> Self {
        Self { cap: cap.max(1), slots: Arc::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(crate) async fn acquire(&self, tenant: &TenantId, wait: Duration) -> Result<TenantPermit, Error> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(*tenant).or_insert_with(|| Arc::new(Semaphore::new(self.cap as usize))).clone()
        };
        let mut guard = TenantPermit { tenant: *tenant, permit: None, slots: self.slots.clone() };
        // Uncontended (the usual case): no timer to arm and cancel.
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            guard.permit = Some(permit);
            return Ok(guard);
        }
        // Bind the outcome first so the acquire future (and its Arc) is gone before `guard`
        // may be dropped: the drop check counts references.
        let outcome = tokio::time::timeout(wait, semaphore.acquire_owned()).await;
        match outcome {
            Ok(Ok(permit)) => {
                guard.permit = Some(permit);
                Ok(guard)
            }
            _ => Err(Error::TooManyTransactions { retry_after_secs: 1 }),
        }
    }
}

impl Drop for TenantPermit {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the tenant once nobody holds or waits for its semaphore (the map's own Arc
        // is the only one left).
        if slots.get(&self.tenant).is_some_and(|s| Arc::strong_count(s) == 1) {
            slots.remove(&self.tenant);
        }
    }
}

/// A rate-limit tier label: low cardinality by construction (only configured tiers exist).
pub type Tier = Arc<str>;

/// Requests per second per tenant, one keyed limiter per tier (plan).
pub struct RateLimits {
    tiers: HashMap<Tier, DefaultKeyedRateLimiter<TenantId>>,
    default_tier: Tier,
    clock: DefaultClock,
    /// Past this many tracked tenants, idle entries are purged.
    max_tracked: usize,
}

impl RateLimits {
    /// `tiers`: (name, requests per second, burst). The first tier is the default.
    pub fn new(tiers: &[(&str, u32, u32)]) -> Result<Self, Error> {
        let nz = |n: u32| NonZeroU32::new(n).ok_or_else(|| Error::Config("rate limits must be > 0".into()));
        let mut map = HashMap::new();
        for (name, per_second, burst) in tiers {
            let quota = Quota::per_second(nz(*per_second)?).allow_burst(nz(*burst)?);
            map.insert(Tier::from(*name), RateLimiter::keyed(quota));
        }
        let default_tier = tiers.first().map(|t| Tier::from(t.0)).ok_or_else(|| Error::Config("no rate-limit tier".into()))?;
        Ok(Self { tiers: map, default_tier, clock: DefaultClock::default(), max_tracked: 10_000 })
    }

    pub fn with_max_tracked(mut self, max: usize) -> Self {
        self.max_tracked = max;
        self
    }

    /// Maps a claimed plan to a configured tier; anything else is the default tier.
    pub fn tier(&self, plan: Option<&str>) -> Tier {
        plan.and_then(|p| self.tiers.get_key_value(p)).map(|(k, _)| k.clone()).unwrap_or_else(|| self.default_tier.clone())
    }

    pub fn check(&self, tenant: &TenantId, tier: &Tier) -> Result<(), Error> {
        let Some(limiter) = self.tiers.get(tier) else { return Ok(()) };
        if limiter.len() > self.max_tracked {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(tenant).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Error::RateLimited { tier: tier.to_string(), retry_after_secs: wait.as_secs() + 1 }
        })
    }

    /// Tenants currently tracked across all tiers.
    pub fn tracked(&self) -> usize {
        self.tiers.values().map(|l| l.len()).sum()
    }
}
