//! Failed sign-ins, counted per client address and per email within `[oauth] login_window`: past
//! `login_attempts` either way the sign-in page asks the person to wait, without trying Immich,
//! so the page cannot be used to guess passwords (and says the same whether the email exists).

use crate::bounded::ExpiringMap;
use std::net::IpAddr;
use std::time::Duration;

/// The counters.
pub struct Throttle {
    failures: ExpiringMap<String, u32>,
}

/// The counters an attempt counts against: its address, and its email when it gave one (a
/// pasted API key has none).
fn keys(ip: Option<IpAddr>, email: &str) -> Vec<String> {
    let ip = ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let email = email.trim().to_lowercase();
    let mut keys = vec![format!("ip:{ip}")];
    if !email.is_empty() {
        keys.push(format!("email:{email}"));
    }
    keys
}

impl Throttle {
    /// No failures yet; at most 100,000 addresses and emails remembered.
    pub fn new() -> Throttle {
        Throttle { failures: ExpiringMap::new(100_000) }
    }

    /// Whether another attempt may be made now.
    pub fn allows(&self, ip: Option<IpAddr>, email: &str, attempts: u32) -> bool {
        keys(ip, email).iter().all(|key| self.failures.with(key, |n| *n).unwrap_or(0) < attempts)
    }

    /// Counts a failed attempt; the window starts at the first failure.
    pub fn failed(&self, ip: Option<IpAddr>, email: &str, window: Duration) {
        for key in keys(ip, email) {
            if self.failures.with(&key, |n| *n += 1).is_none() {
                self.failures.insert_for(key, 1, window);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_address_and_by_email() {
        let throttle = Throttle::new();
        let (a, b) = (Some("10.0.0.1".parse().unwrap()), Some("10.0.0.2".parse().unwrap()));
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert!(throttle.allows(a, "x@example.com", 3));
            throttle.failed(a, "x@example.com", window);
        }
        assert!(!throttle.allows(a, "other@example.com", 3), "the address is throttled");
        assert!(!throttle.allows(b, "X@Example.com ", 3), "the email is throttled, however written");
        assert!(throttle.allows(b, "other@example.com", 3));
        let short = Throttle::new();
        short.failed(a, "y", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.allows(a, "y", 1), "the window passes");
    }
}
