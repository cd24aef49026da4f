//! Per-tenant rate limits: a token bucket each, refilled continuously, holding at most a
//! minute's worth.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of every tenant.
#[derive(Default)]
pub struct Rates {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl Rates {
    /// Takes `count` tokens from `tenant_id`'s bucket of `per_minute`, or says in how many
    /// seconds there will be enough.
    pub fn take(&self, tenant_id: i64, per_minute: u32, count: usize) -> Result<(), u64> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(tenant_id).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        let wanted = count as f64;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            Ok(())
        } else if wanted > capacity {
            Err(60)
        } else {
            Err(((wanted - bucket.tokens) / per_second).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_a_minute_and_says_when_to_come_back() {
        let rates = Rates::default();
        assert!(rates.take(1, 60, 60).is_ok());
        let wait = rates.take(1, 60, 1).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        // Other tenants have their own.
        assert!(rates.take(2, 60, 1).is_ok());
        assert_eq!(rates.take(3, 10, 11), Err(60));
    }
}
