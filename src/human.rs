//! Quantities in a few characters for people, in listings and on the status page: ages
//! (`3m`) and sizes (`2.0K`). Pure.

use std::time::Duration;

/// A short human age: `42s`, `3m`, `5h`, `2d`.
pub fn short_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `512`, `2.0K`, `25.0M`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        0..=1023 => bytes.to_string(),
        1024..=1_048_575 => format!("{:.1}K", bytes as f64 / 1024.0),
        _ => format!("{:.1}M", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(short_age(Duration::from_secs(5)), "5s");
        assert_eq!(short_age(Duration::from_secs(125)), "2m");
        assert_eq!(short_age(Duration::from_secs(7300)), "2h");
        assert_eq!(short_age(Duration::from_secs(200_000)), "2d");
    }

    #[test]
    fn sizes() {
        let cases = [
            (0, "0"),
            (1023, "1023"),
            (1024, "1.0K"),
            (2048, "2.0K"),
            (1_048_575, "1024.0K"),
            (1_048_576, "1.0M"),
            (26_214_400, "25.0M"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }
}
