//! Human units in the config file: durations such as `"100ms"` or `"5m"` and byte sizes such as
//! `"10MiB"`. Sizes also accept a bare integer (bytes) because the streaming guide's examples use them.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;
use std::time::Duration;

/// A duration written with a unit: `ms`, `s`, `m`, `h` or `d`, optionally compound (`"1m30s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

/// A size in bytes written as an integer or with a unit: `B`, `KB`, `MB`, `GB` (powers of 1000)
/// or `KiB`, `MiB`, `GiB` (powers of 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Dur {
    /// A duration of `n` milliseconds.
    pub const fn ms(n: u64) -> Self {
        Dur(Duration::from_millis(n))
    }
    /// A duration of `n` seconds.
    pub const fn secs(n: u64) -> Self {
        Dur(Duration::from_secs(n))
    }
    /// Parses `"250ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, or compounds like `"1m30s"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration; write e.g. \"30s\" or \"100ms\"".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("invalid duration {text:?}: expected a number before the unit"));
            }
            let number: u64 =
                rest[..digits].parse().map_err(|_| format!("invalid duration {text:?}: number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let millis_per_unit: u64 = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "" => {
                    return Err(format!("invalid duration {text:?}: missing unit (ms, s, m, h, d)"));
                }
                other => {
                    return Err(format!("invalid duration {text:?}: unknown unit {other:?} (use ms, s, m, h or d)"));
                }
            };
            let millis =
                number.checked_mul(millis_per_unit).ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
            total += Duration::from_millis(millis);
        }
        Ok(Dur(total))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1_000) {
            write!(f, "{}s", ms / 1_000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Size {
    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        Size(n * 1024)
    }
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        Size(n * 1024 * 1024)
    }
    /// `n` gibibytes.
    pub const fn gib(n: u64) -> Self {
        Size(n * 1024 * 1024 * 1024)
    }
    /// The size as `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
    /// Parses `"64KiB"`, `"10MiB"`, `"1GB"`, `"512B"` or a plain number of bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        if digits == 0 {
            return Err(format!("invalid size {text:?}: write e.g. \"64KiB\", \"10MiB\" or a number of bytes"));
        }
        let number: u64 = text[..digits].parse().map_err(|_| format!("invalid size {text:?}: number too large"))?;
        let multiplier: u64 = match text[digits..].trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size {text:?}: unknown unit {other:?} (use B, KB, MB, GB, KiB, MiB or GiB)"
                ));
            }
        };
        number.checked_mul(multiplier).map(Size).ok_or_else(|| format!("invalid size {text:?}: too large"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= scale && n.is_multiple_of(scale) {
                return write!(f, "{}{unit}", n / scale);
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"100ms\" or \"5m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as \"64KiB\", \"10MiB\" or a positive number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                Size::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v).map(Size).map_err(|_| E::custom(format!("size must not be negative (got {v})")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Dur::parse("100ms").unwrap(), Dur::ms(100));
        assert_eq!(Dur::parse("5m").unwrap(), Dur::secs(300));
        assert_eq!(Dur::parse("1m30s").unwrap(), Dur::secs(90));
        assert_eq!(Dur::parse("0s").unwrap(), Dur::secs(0));
        assert!(Dur::parse("5").unwrap_err().contains("missing unit"));
        assert!(Dur::parse("5 parsecs").is_err());
        assert!(Dur::parse("-1s").is_err());
        assert_eq!(Dur::secs(300).to_string(), "5m");
        assert_eq!(Dur::ms(1500).to_string(), "1500ms");
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(Size::parse("64KiB").unwrap(), Size::kib(64));
        assert_eq!(Size::parse("10MiB").unwrap(), Size(10_485_760));
        assert_eq!(Size::parse("1GB").unwrap(), Size(1_000_000_000));
        assert_eq!(Size::parse("512").unwrap(), Size(512));
        assert!(Size::parse("-5MiB").is_err());
        assert!(Size::parse("5 furlongs").is_err());
        assert_eq!(Size::mib(50).to_string(), "50MiB");
        assert_eq!(Size(1000).to_string(), "1000B");
    }
}
