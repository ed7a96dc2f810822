//! What a large result holds, in a few numbers a model can reason with: how many photos by year,
//! place, camera and person — counted as the photos stream past, never kept.

use super::photo::Photo;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Distinct values counted per dimension, at most: past it new values are counted as "other", so
/// a stream of millions of photos keeps a few kilobytes here.
const MAX_VALUES: usize = 500;
/// Values shown per dimension.
const SHOWN: usize = 10;

/// Counts by year, place, camera and person.
#[derive(Default)]
pub(crate) struct Summary {
    years: Counts,
    places: Counts,
    cameras: Counts,
    people: Counts,
}

#[derive(Default)]
struct Counts {
    by_value: HashMap<String, u64>,
    other: u64,
}

impl Counts {
    fn add(&mut self, value: &str) {
        if let Some(n) = self.by_value.get_mut(value) {
            *n += 1;
        } else if self.by_value.len() < MAX_VALUES {
            self.by_value.insert(value.to_string(), 1);
        } else {
            self.other += 1;
        }
    }

    /// The most frequent values, most first (ties by name), with "other" for the rest.
    fn top(&self) -> Vec<(String, u64)> {
        let mut all: Vec<(&String, &u64)> = self.by_value.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut shown: Vec<(String, u64)> = all.iter().take(SHOWN).map(|(k, v)| ((*k).clone(), **v)).collect();
        let rest: u64 = all.iter().skip(SHOWN).map(|(_, v)| **v).sum::<u64>() + self.other;
        if rest > 0 {
            shown.push(("other".into(), rest));
        }
        shown
    }
}

impl Summary {
    /// Counts one photo.
    pub(crate) fn add(&mut self, photo: &Photo) {
        self.years.add(photo.taken_at.as_deref().and_then(|t| t.get(..4)).unwrap_or("undated"));
        self.places.add(photo.city.as_deref().unwrap_or("no place"));
        self.cameras.add(photo.camera.as_deref().unwrap_or("unknown camera"));
        for person in &photo.people {
            self.people.add(person);
        }
    }

    /// The most frequent years, newest first rather than by count.
    fn years(&self) -> Vec<(String, u64)> {
        let mut years = self.years.top();
        years.sort_by(|a, b| b.0.cmp(&a.0));
        years
    }

    /// `{byYear, byPlace, byCamera, byPerson}`: each the top values and their counts.
    pub(crate) fn to_json(&self) -> Value {
        let object = |pairs: Vec<(String, u64)>| Value::Object(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect());
        json!({ "byYear": object(self.years()), "byPlace": object(self.places.top()),
                "byCamera": object(self.cameras.top()), "byPerson": object(self.people.top()) })
    }

    /// One line per dimension: `places: Kyoto 312, Lisbon 298, …`.
    pub(crate) fn render(&self) -> String {
        let line = |name: &str, pairs: Vec<(String, u64)>| {
            let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} {v}")).collect();
            format!("{name}: {}", if parts.is_empty() { "none".into() } else { parts.join(", ") })
        };
        [
            line("years", self.years()),
            line("places", self.places.top()),
            line("cameras", self.cameras.top()),
            line("people", self.people.top()),
        ]
        .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_bounded_and_the_rest_is_other() {
        let mut counts = Counts::default();
        for n in 0..(MAX_VALUES + 50) {
            counts.add(&format!("city {n}"));
        }
        counts.add("city 0");
        assert_eq!(counts.by_value.len(), MAX_VALUES);
        let top = counts.top();
        assert_eq!(top[0], ("city 0".to_string(), 2));
        assert_eq!(top.len(), SHOWN + 1);
        let total: u64 = top.iter().map(|(_, v)| v).sum();
        assert_eq!(total, MAX_VALUES as u64 + 51, "every photo is counted once");
    }
}
