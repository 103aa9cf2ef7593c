//! Fixed-window attempt counters for login and sign-up. They live in the process: a server
//! restart forgets them, and with several servers each counts its own share (the limits below
//! are per server). Keys never hold an IIN, only its digest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// How many attempts a key may make per window.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub attempts: u32,
    pub window: Duration,
}

/// Per client address: every login or sign-up attempt.
pub const PER_ADDRESS: Limit = Limit { attempts: 30, window: Duration::from_secs(60) };
/// Per account: failed logins.
pub const PER_ACCOUNT: Limit = Limit { attempts: 5, window: Duration::from_secs(15 * 60) };

impl RateLimiter {
    /// `Err(seconds)` to wait when `key` has used up `limit`.
    pub fn check(&self, key: &str, limit: Limit, now: Instant) -> Result<(), u64> {
        let windows = self.windows.lock().expect("no panics while the lock is held");
        match windows.get(key) {
            Some(&(start, n)) if now.duration_since(start) < limit.window && n >= limit.attempts => {
                Err((limit.window - now.duration_since(start)).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one attempt of `key`.
    pub fn count(&self, key: &str, limit: Limit, now: Instant) {
        let mut windows = self.windows.lock().expect("no panics while the lock is held");
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < limit.window.max(PER_ACCOUNT.window));
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= limit.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Checks and counts in one step.
    pub fn hit(&self, key: &str, limit: Limit, now: Instant) -> Result<(), u64> {
        self.check(key, limit, now)?;
        self.count(key, limit, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_its_attempts_until_the_window_ends() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let limit = Limit { attempts: 3, window: Duration::from_secs(60) };
        for _ in 0..3 {
            assert!(l.hit("a", limit, t0).is_ok());
        }
        assert_eq!(l.hit("a", limit, t0 + Duration::from_secs(10)), Err(50));
        assert!(l.hit("b", limit, t0).is_ok(), "other keys are independent");
        assert!(l.hit("a", limit, t0 + Duration::from_secs(61)).is_ok());
    }
}
