//! Wall-clock instants as values (`Timestamp`, µs since 1970) and their renderings: RFC 5322
//! dates for headers, ISO times for records (and read back). Only `Timestamp::now` reads the
//! clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_micros() as u64)
    }
    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs * 1_000_000)
    }
    pub fn as_micros(self) -> u64 {
        self.0
    }
    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.as_micros() as u64))
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `Mon, 23 Nov 2026 07:37:00 +0000` (RFC 5322 §3.3, always UTC).
    pub fn rfc5322(self) -> String {
        let secs = self.as_secs();
        let days = secs / 86400;
        let rem = secs % 86400;
        let (y, m, d) = civil_from_days(days as i64);
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}, {} {} {} {:02}:{:02}:{:02} +0000",
            WEEKDAYS[(days % 7) as usize],
            d,
            MONTHS[(m - 1) as usize],
            y,
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// `2026-11-23 07:37:00Z`, for logs and listings.
    pub fn iso(self) -> String {
        let secs = self.as_secs();
        let (y, m, d) = civil_from_days((secs / 86400) as i64);
        let rem = secs % 86400;
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// Reads back what `iso` writes: `2026-11-23 07:37:00Z` (whole seconds, 1970 or later).
    pub fn parse_iso(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        let shape = b.len() == 20
            && [
                (4, b'-'),
                (7, b'-'),
                (10, b' '),
                (13, b':'),
                (16, b':'),
                (19, b'Z'),
            ]
            .iter()
            .all(|&(i, c)| b[i] == c);
        if !shape {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            let digits = text.get(range)?;
            digits
                .bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| digits.parse().ok())?
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&m) || d == 0 || hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        let days = days_from_civil(i64::from(y), m, d);
        if days < 0 || civil_from_days(days) != (i64::from(y), m, d) {
            return None;
        }
        let secs = days as u64 * 86400 + u64::from(hh * 3600 + mm * 60 + ss);
        Some(Timestamp::from_secs(secs))
    }
}

/// (year, month, day) in the proleptic Gregorian calendar to days since 1970-01-01 (the
/// inverse of `civil_from_days`, H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_dates() {
        let cases = [
            (0, "Thu, 1 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_795_419_420, "Mon, 23 Nov 2026 07:37:00 +0000"),
            (4_102_444_799, "Thu, 31 Dec 2099 23:59:59 +0000"),
        ];
        for (secs, want) in cases {
            assert_eq!(Timestamp::from_secs(secs).rfc5322(), want, "{secs}");
        }
        assert_eq!(
            Timestamp::from_secs(1_795_419_420).iso(),
            "2026-11-23 07:37:00Z"
        );
    }

    #[test]
    fn iso_times_read_back() {
        let instants = [
            0,
            951_782_400,
            1_795_419_420,
            4_102_444_799,
            86_399,
            1_709_164_800,
        ];
        for secs in instants {
            let t = Timestamp::from_secs(secs);
            assert_eq!(Timestamp::parse_iso(&t.iso()), Some(t), "{secs}");
        }
        let bad = [
            "",
            "2026-11-23 07:37:00",
            "2026-11-23T07:37:00Z",
            "2026-13-01 00:00:00Z",
            "2026-02-29 00:00:00Z",
            "2026-11-23 24:00:00Z",
            "2026-11-23 07:60:00Z",
            "2026-11-23 07:37:+0Z",
            "1969-12-31 23:59:59Z",
            "2026-11-2x 07:37:00Z",
        ];
        for text in bad {
            assert_eq!(Timestamp::parse_iso(text), None, "{text}");
        }
    }
}
