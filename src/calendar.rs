//! Calendar arithmetic on Unix time, without a date crate: the demo's timestamps and the dates
//! in names the gateway gives (OAuth grants' Immich keys).

/// Seconds since the epoch → (year, month, day, hour, minute, second), UTC.
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32, (rem % 60) as u32)
}

/// `YYYY-MM-DD` of `secs` (UTC).
pub fn date(secs: i64) -> String {
    let (y, m, d, ..) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `secs` as Immich writes dates, UTC (`2026-12-07T17:50:17.000Z`).
pub fn iso_utc(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.000Z")
}

/// Now as RFC 3339 with milliseconds, UTC (`2026-12-07T17:50:17.123Z`).
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (y, mo, d, h, mi, s) = civil(now.as_secs() as i64);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", now.subsec_millis())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_come_out_in_utc() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_796_601_600), "2026-12-07");
        assert_eq!(super::civil(951_782_400 + 3661), (2000, 2, 29, 1, 1, 1));
        let now = super::rfc3339_now();
        assert!(now.len() == 24 && now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }
}
