//! Parsing timestamps: milliseconds since the epoch or an ISO 8601 / RFC 3339 date-time.

/// Parses `ms` since the epoch, or `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` (UTC if no zone).
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("'{s}' is neither milliseconds since the epoch nor an ISO 8601 date-time");
    let (date, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 {
        return Err(bad());
    }
    let year: i64 = d[0].parse().map_err(|_| bad())?;
    let month: i64 = d[1].parse().map_err(|_| bad())?;
    let day: i64 = d[2].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    // Split off the zone.
    let (clock, offset_min) = if let Some(c) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|&i| i > 0) {
        let zone = &rest[i + 1..];
        let (h, m) = zone
            .split_once(':')
            .unwrap_or((zone.get(..2).unwrap_or(""), zone.get(2..).unwrap_or("")));
        let h: i64 = h.parse().map_err(|_| bad())?;
        let m: i64 = if m.is_empty() { 0 } else { m.parse().map_err(|_| bad())? };
        let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
        (&rest[..i], sign * (h * 60 + m))
    } else {
        (rest, 0)
    };
    let mut ms_of_day = 0i64;
    if !clock.is_empty() {
        let parts: Vec<&str> = clock.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        let h: i64 = parts[0].parse().map_err(|_| bad())?;
        let m: i64 = parts[1].parse().map_err(|_| bad())?;
        let (sec, frac) = match parts.get(2) {
            Some(p) => match p.split_once('.') {
                Some((s, f)) => (s.parse::<i64>().map_err(|_| bad())?, f),
                None => (p.parse::<i64>().map_err(|_| bad())?, ""),
            },
            None => (0, ""),
        };
        let frac_ms = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            digits.parse::<i64>().map_err(|_| bad())?
        };
        if h > 23 || m > 59 || sec > 60 {
            return Err(bad());
        }
        ms_of_day = ((h * 60 + m) * 60 + sec) * 1000 + frac_ms;
    }
    Ok(days_from_civil(year, month, day) * 86_400_000 + ms_of_day - offset_min * 60_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn parses_millis_and_iso() {
        assert_eq!(parse_timestamp("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp("1970-01-01"), Ok(0));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.5Z"), Ok(1_700_000_000_500));
        assert_eq!(parse_timestamp("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp("2023-11-14 22:13"), Ok(1_699_999_980_000));
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2023-13-01").is_err());
    }
}
