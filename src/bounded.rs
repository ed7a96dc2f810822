//! State a client can make the process keep, kept bounded by construction: every map here has a
//! cap, entries leave on their own (expiry, or a guard dropped when the work they track ends),
//! and the locks cannot be poisoned (`parking_lot`), so a panicking task never takes the process
//! down with it. Nothing here is held across an await.

use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries that expire, at most `cap` of them. Expired entries are dropped on every insert
/// (cheaply: their expiries are kept in order); at the cap the entry that would expire first
/// makes room. Lookups never see an expired entry.
pub struct ExpiringMap<K, V> {
    inner: Mutex<Expiring<K, V>>,
    cap: usize,
}

struct Expiring<K, V> {
    entries: HashMap<K, (Instant, u64, V)>,
    /// Expiry, insertion number and key of every entry ever inserted and not yet purged; an item
    /// whose number no longer matches its entry's is stale and skipped.
    order: BinaryHeap<Reverse<(Instant, u64, K)>>,
    next: u64,
}

impl<K: Clone + Eq + Hash + Ord, V> ExpiringMap<K, V> {
    /// An empty map holding at most `cap` entries (at least one).
    pub fn new(cap: usize) -> ExpiringMap<K, V> {
        ExpiringMap {
            inner: Mutex::new(Expiring { entries: HashMap::new(), order: BinaryHeap::new(), next: 0 }),
            cap: cap.max(1),
        }
    }

    /// Inserts (or replaces) `key` until `expires`; returns the value an insert at the cap pushed
    /// out, if any (dropped by the caller, outside the lock).
    pub fn insert(&self, key: K, value: V, expires: Instant) -> Option<V> {
        let mut map = self.inner.lock();
        self.insert_locked(&mut map, key, value, expires)
    }

    fn insert_locked(&self, map: &mut Expiring<K, V>, key: K, value: V, expires: Instant) -> Option<V> {
        let now = Instant::now();
        let mut evicted = map.purge(now);
        if !map.entries.contains_key(&key) && map.entries.len() >= self.cap {
            evicted = evicted.or_else(|| map.pop_first());
        }
        let number = map.next;
        map.next += 1;
        map.order.push(Reverse((expires, number, key.clone())));
        map.entries.insert(key, (expires, number, value));
        if map.order.len() > self.cap.saturating_mul(2).max(64) {
            map.rebuild_order();
        }
        evicted
    }

    /// Inserts `key` for `ttl` unless it is there unexpired; whether it was inserted. One lock
    /// for both, so of two callers with the same key only one ever gets `true` (single use).
    pub fn insert_new(&self, key: K, value: V, ttl: Duration) -> bool {
        let evicted = {
            let mut map = self.inner.lock();
            let now = Instant::now();
            if map.entries.get(&key).is_some_and(|(expires, _, _)| *expires > now) {
                return false;
            }
            self.insert_locked(&mut map, key, value, now + ttl)
        };
        drop(evicted);
        true
    }

    /// Inserts `key` for `ttl` from now.
    pub fn insert_for(&self, key: K, value: V, ttl: Duration) -> Option<V> {
        self.insert(key, value, Instant::now() + ttl)
    }

    /// Removes `key`, returning its value if it had not expired.
    pub fn remove(&self, key: &K) -> Option<V> {
        let (expires, _, value) = self.inner.lock().entries.remove(key)?;
        (expires > Instant::now()).then_some(value)
    }

    /// Whether `key` is present and unexpired.
    pub fn contains(&self, key: &K) -> bool {
        self.inner.lock().entries.get(key).is_some_and(|(expires, _, _)| *expires > Instant::now())
    }

    /// The unexpired entries, counted.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.inner.lock().entries.values().filter(|(expires, _, _)| *expires > now).count()
    }

    /// Applies `f` to `key`'s value, if present and unexpired.
    pub fn with<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let mut map = self.inner.lock();
        let (expires, _, value) = map.entries.get_mut(key)?;
        (*expires > Instant::now()).then(|| f(value))
    }

    /// Drops every expired entry now (entries that hold resources should not wait for the next
    /// insert to be purged).
    pub fn purge_expired(&self) {
        let dropped = {
            let mut map = self.inner.lock();
            let now = Instant::now();
            let expired: Vec<K> =
                map.entries.iter().filter(|(_, (expires, _, _))| *expires <= now).map(|(k, _)| k.clone()).collect();
            expired.into_iter().filter_map(|k| map.entries.remove(&k)).collect::<Vec<_>>()
        };
        // Dropped outside the lock: a value's drop may do work of its own.
        drop(dropped);
    }

    /// Applies `f` to every unexpired value.
    pub fn for_each(&self, mut f: impl FnMut(&V)) {
        let now = Instant::now();
        self.inner.lock().entries.values().filter(|(expires, _, _)| *expires > now).for_each(|(_, _, v)| f(v));
    }
}

impl<K: Clone + Eq + Hash + Ord, V> Expiring<K, V> {
    /// Drops every entry expired by `now`; returns the last one dropped.
    fn purge(&mut self, now: Instant) -> Option<V> {
        let mut dropped = None;
        while let Some(Reverse((expires, _, _))) = self.order.peek() {
            if *expires > now {
                break;
            }
            let Reverse((_, number, key)) = self.order.pop().expect("peeked");
            if self.entries.get(&key).is_some_and(|(_, n, _)| *n == number) {
                dropped = self.entries.remove(&key).map(|(_, _, v)| v);
            }
        }
        dropped
    }

    /// Drops the entry that expires first.
    fn pop_first(&mut self) -> Option<V> {
        while let Some(Reverse((_, number, key))) = self.order.pop() {
            if self.entries.get(&key).is_some_and(|(_, n, _)| *n == number) {
                return self.entries.remove(&key).map(|(_, _, v)| v);
            }
        }
        None
    }

    /// Rebuilds the expiry order from the entries, dropping stale items.
    fn rebuild_order(&mut self) {
        self.order = self.entries.iter().map(|(k, (e, n, _))| Reverse((*e, *n, k.clone()))).collect();
    }
}

/// Work in progress, by key, at most `cap` entries: [`Registry::enter`] hands out a guard whose
/// drop removes the entry, so an entry lives exactly as long as the work it stands for, however
/// that work ends (completion, cancellation, a dropped future, a panic).
pub struct Registry<K: Eq + Hash, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
    next: std::sync::atomic::AtomicU64,
    cap: usize,
}

/// Removes its entry from a [`Registry`] when dropped.
pub struct Entry<K: Eq + Hash, V> {
    registry: Arc<Registry<K, V>>,
    key: K,
    number: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> Registry<K, V> {
    /// An empty registry of at most `cap` entries.
    pub fn new(cap: usize) -> Arc<Registry<K, V>> {
        Arc::new(Registry { entries: Mutex::new(HashMap::new()), next: Default::default(), cap: cap.max(1) })
    }

    /// Records `value` under `key` for as long as the returned guard lives; `None` at the cap
    /// (the work then runs unregistered). A later entry under the same key replaces this one.
    pub fn enter(self: &Arc<Self>, key: K, value: V) -> Option<Entry<K, V>> {
        let number = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock();
        if entries.len() >= self.cap && !entries.contains_key(&key) {
            return None;
        }
        entries.insert(key.clone(), (number, value));
        Some(Entry { registry: self.clone(), key, number })
    }

    /// The value under `key`, if its work is still going on.
    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().get(key).map(|(_, v)| v.clone())
    }

    /// How many entries there are.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

impl<K: Eq + Hash, V> Drop for Entry<K, V> {
    fn drop(&mut self) {
        let mut entries = self.registry.entries.lock();
        // Only this guard's own entry: a newer one under the same key stays.
        if entries.get(&self.key).is_some_and(|(n, _)| *n == self.number) {
            entries.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_leave_and_the_cap_holds() {
        let map = ExpiringMap::new(3);
        let soon = Instant::now() + Duration::from_millis(30);
        let later = Instant::now() + Duration::from_secs(60);
        map.insert("a", 1, soon);
        map.insert("b", 2, later);
        map.insert("c", 3, later);
        assert_eq!(map.insert("d", 4, later), Some(1), "at the cap, the first to expire goes");
        assert_eq!(map.len(), 3);
        assert!(!map.contains(&"a") && map.contains(&"d"));
        map.insert("e", 5, Instant::now() + Duration::from_millis(20));
        assert_eq!(map.len(), 3, "never above the cap");
        assert!(!map.contains(&"b"), "of equal expiries, the oldest made room");
        std::thread::sleep(Duration::from_millis(40));
        assert!(!map.contains(&"e"), "expired entries are never seen");
        assert_eq!(map.remove(&"c"), Some(3));
        map.insert("f", 6, later);
        assert_eq!(map.inner.lock().entries.len(), 2, "the expired entry was purged by the insert");
        assert_eq!(map.with(&"f", |v| *v * 10), Some(60));
    }

    #[test]
    fn churn_keeps_the_expiry_order_small() {
        let map = ExpiringMap::new(10);
        for n in 0..10_000u32 {
            map.insert_for(n % 5, n, Duration::from_secs(60));
            map.remove(&(n % 5));
        }
        assert!(map.inner.lock().order.len() <= 64, "stale items are dropped");
    }

    #[test]
    fn guards_remove_their_own_entry() {
        let registry: Arc<Registry<&str, u32>> = Registry::new(2);
        let first = registry.enter("a", 1).unwrap();
        let second = registry.enter("b", 2).unwrap();
        assert!(registry.enter("c", 3).is_none(), "at the cap");
        assert_eq!(registry.get(&"a"), Some(1));
        let replacing = registry.enter("a", 10).unwrap();
        drop(first);
        assert_eq!(registry.get(&"a"), Some(10), "an older guard leaves a newer entry alone");
        drop((second, replacing));
        assert_eq!(registry.len(), 0);
    }
}
