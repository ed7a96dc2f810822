//! Rate limits per caller (`[rate_limits]`), in one place: requests per second on the gateway's
//! authenticated surfaces, and tool calls per minute, overall and per tool. Each limit is a GCRA
//! (a token bucket kept as one instant per caller: when its next request would be on time), so a
//! caller costs one small map entry that expires when it goes quiet. Per replica.

use crate::bounded::ExpiringMap;
use crate::config::RateLimitsConfig;
use std::time::{Duration, Instant};

/// One limit: `count` per `period`, with `burst` allowed at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// How many.
    pub count: u32,
    /// Per how long.
    pub period: Duration,
    /// How many may come at once.
    pub burst: u32,
}

impl Limit {
    /// The time one request uses up.
    fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    /// How far ahead of time a caller may be.
    fn tolerance(&self) -> Duration {
        self.interval() * self.burst.max(1).saturating_sub(1)
    }
}

/// A refusal: how long to wait, and the limit that refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limited {
    /// When to try again.
    pub retry_after: Duration,
    /// The limit.
    pub limit: Limit,
    /// Which kind (`request`, `tool`).
    pub kind: &'static str,
}

impl Limited {
    /// Whole seconds to wait, at least one (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0)
    }

    /// The answer's headers: `Retry-After` and the `RateLimit-*` trio.
    pub fn headers(&self) -> [(&'static str, String); 4] {
        let secs = self.retry_after_secs().to_string();
        [
            ("retry-after", secs.clone()),
            ("ratelimit-limit", self.limit.count.to_string()),
            ("ratelimit-remaining", "0".to_string()),
            ("ratelimit-reset", secs),
        ]
    }

    /// What the caller is told.
    pub fn message(&self) -> String {
        let per = if self.limit.period == Duration::from_secs(1) { "second" } else { "minute" };
        format!(
            "rate limit: at most {} {} per {per} for this caller ([rate_limits]); retry in {} s",
            self.limit.count,
            if self.kind == "request" { "requests" } else { "tool calls" },
            self.retry_after_secs()
        )
    }
}

/// The process's buckets, kept across reloads.
pub struct Limiter {
    buckets: ExpiringMap<String, Instant>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter { buckets: ExpiringMap::new(100_000) }
    }
}

impl Limiter {
    /// Takes one from `key`'s bucket under `limit`, or says how long to wait.
    fn take(&self, key: String, limit: Limit, now: Instant) -> Result<(), Duration> {
        let (interval, tolerance) = (limit.interval(), limit.tolerance());
        let due = self.buckets.with(&key, |tat| *tat).unwrap_or(now).max(now);
        if due > now + tolerance {
            return Err(due - now - tolerance);
        }
        let next = due + interval;
        // The entry can go once the bucket is full again.
        self.buckets.insert(key, next, next + tolerance);
        Ok(())
    }

    fn counted(kind: &'static str, outcome: Result<(), Duration>, limit: Limit) -> Result<(), Limited> {
        let metrics = &crate::telemetry::metrics().rate_limit_decisions;
        match outcome {
            Ok(()) => {
                metrics.with_label_values(&[kind, "allowed"]).inc();
                Ok(())
            }
            Err(retry_after) => {
                metrics.with_label_values(&[kind, "limited"]).inc();
                Err(Limited { retry_after, limit, kind })
            }
        }
    }

    /// One request of `caller` (named only when a limit is on: no work on the request path
    /// otherwise), under `requests_per_second`.
    pub fn request(&self, config: &RateLimitsConfig, caller: impl FnOnce() -> String) -> Result<(), Limited> {
        if config.requests_per_second <= 0.0 {
            return Ok(());
        }
        let caller = caller();
        // A fractional rate (0.5 a second) is a whole count over a longer period.
        let rate = config.requests_per_second;
        let (count, period) = if rate >= 1.0 {
            (rate.round() as u32, Duration::from_secs(1))
        } else {
            (1, Duration::from_secs_f64(1.0 / rate))
        };
        let burst = if config.burst == 0 { count } else { config.burst };
        let limit = Limit { count, period, burst };
        Self::counted("request", self.take(format!("r:{caller}"), limit, Instant::now()), limit)
    }

    /// One call of `tool` by `caller` (named only when a limit applies), under
    /// `tool_calls_per_minute` and the tool's own limit.
    pub fn tool_call(
        &self,
        config: &RateLimitsConfig,
        caller: impl FnOnce() -> String,
        tool: &str,
    ) -> Result<(), Limited> {
        let own = config.tools.get(tool).copied();
        if own.is_none() && config.tool_calls_per_minute == 0 {
            return Ok(());
        }
        let caller = caller();
        let minute = Duration::from_secs(60);
        let now = Instant::now();
        if let Some(count) = own {
            let limit = Limit { count, period: minute, burst: count };
            Self::counted("tool", self.take(format!("t:{caller}:{tool}"), limit, now), limit)?;
        }
        if config.tool_calls_per_minute > 0 {
            let count = config.tool_calls_per_minute;
            let limit = Limit { count, period: minute, burst: count };
            Self::counted("tool", self.take(format!("t:{caller}"), limit, now), limit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_the_rate() {
        let limiter = Limiter::default();
        let limit = Limit { count: 10, period: Duration::from_secs(1), burst: 3 };
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("a".into(), limit, start), Ok(()));
        }
        let wait = limiter.take("a".into(), limit, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100), "one interval until the next");
        assert_eq!(limiter.take("b".into(), limit, start), Ok(()), "callers are apart");
        assert_eq!(limiter.take("a".into(), limit, start + Duration::from_millis(100)), Ok(()));
        assert!(limiter.take("a".into(), limit, start + Duration::from_millis(150)).is_err());
        assert_eq!(limiter.take("a".into(), limit, start + Duration::from_secs(5)), Ok(()), "quiet refills");
    }

    #[test]
    fn configured_limits_apply_per_caller_and_per_tool() {
        let limiter = Limiter::default();
        let off = RateLimitsConfig::default();
        assert!((0..1000).all(|_| limiter.request(&off, || "x".into()).is_ok()), "0 is off");
        let config = RateLimitsConfig {
            requests_per_second: 2.0,
            tool_calls_per_minute: 3,
            tools: [("exportPhotos".to_string(), 1)].into(),
            ..RateLimitsConfig::default()
        };
        assert!(limiter.request(&config, || "k".into()).is_ok() && limiter.request(&config, || "k".into()).is_ok());
        let refused = limiter.request(&config, || "k".into()).unwrap_err();
        assert_eq!((refused.kind, refused.retry_after_secs()), ("request", 1));
        assert!(refused.message().contains("at most 2 requests per second"));
        assert_eq!(refused.headers()[0], ("retry-after", "1".to_string()));

        assert!(limiter.tool_call(&config, || "k".into(), "exportPhotos").is_ok());
        let export = limiter.tool_call(&config, || "k".into(), "exportPhotos").unwrap_err();
        assert_eq!((export.limit.count, export.retry_after_secs()), (1, 60));
        assert!(limiter.tool_call(&config, || "k".into(), "queryPhotos").is_ok());
        assert!(limiter.tool_call(&config, || "k".into(), "queryPhotos").is_ok());
        assert!(limiter.tool_call(&config, || "k".into(), "queryPhotos").is_err(), "3 a minute in all");
        assert!(limiter.tool_call(&config, || "other".into(), "queryPhotos").is_ok());
    }
}
