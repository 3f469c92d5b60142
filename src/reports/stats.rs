//! The few statistics the reports use, on whole milliseconds and counts.

/// The median: the middle value, or the mean of the two middle values (rounded down to the
/// millisecond) when the count is even. `None` for no values.
pub fn median(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]).div_euclid(2)),
    }
}

/// The 90th percentile by nearest rank: the value at rank ⌈0.9 n⌉ (1-based) of the sorted
/// values, so 90 % of them are at most it. `None` for no values.
pub fn p90(sorted: &[i64]) -> Option<i64> {
    let n = sorted.len();
    let rank = (9 * n).div_ceil(10);
    (n > 0).then(|| sorted[rank.max(1) - 1])
}

/// `part` of `whole` in percent, to one decimal; `None` when `whole` is 0.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// `count` per day over `days`, to one decimal; `None` over no days.
pub fn per_day(count: i64, days: u32) -> Option<f64> {
    (days > 0).then(|| (count as f64 * 10.0 / f64::from(days)).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90_by_hand() {
        assert_eq!(median(&[]), None);
        assert_eq!(p90(&[]), None);
        assert_eq!((median(&[7]), p90(&[7])), (Some(7), Some(7)));
        // Even count: (20 + 30) / 2 = 25; p90 rank ⌈0.9 × 4⌉ = 4 → 40.
        assert_eq!((median(&[10, 20, 30, 40]), p90(&[10, 20, 30, 40])), (Some(25), Some(40)));
        // Ten values: rank ⌈9⌉ = 9 → 90; median (50 + 60) / 2 = 55.
        let ten: Vec<i64> = (1..=10).map(|i| i * 10).collect();
        assert_eq!((median(&ten), p90(&ten)), (Some(55), Some(90)));
        // Eleven values: rank ⌈9.9⌉ = 10 → 100; median the 6th, 60.
        let eleven: Vec<i64> = (1..=11).map(|i| i * 10).collect();
        assert_eq!((median(&eleven), p90(&eleven)), (Some(60), Some(100)));
        assert_eq!(median(&[1, 2]), Some(1), "rounded down to the millisecond");
    }

    #[test]
    fn percentages_and_rates_to_one_decimal() {
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(3, 3), Some(100.0));
        assert_eq!(percent(0, 0), None);
        assert_eq!(per_day(30, 20), Some(1.5));
        assert_eq!(per_day(10, 3), Some(3.3));
        assert_eq!(per_day(5, 0), None);
    }
}
