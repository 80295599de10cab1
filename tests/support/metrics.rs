//! Reading one series from a Prometheus text exposition.

/// The value of one exact series (`name{labels}`) in an exposition; `None`
/// when the series is absent (absent is not 0: a counter never touched and
/// a metric that does not exist differ).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// [`metric`], 0 when absent: only for series a process creates lazily on
/// their first increment, where "not yet counted" means 0.
pub fn metric_or_zero(text: &str, series: &str) -> f64 {
    metric(text, series).unwrap_or(0.0)
}
