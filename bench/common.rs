//! Median, min and max of repeated runs, as the benchmarks report them.

use serde_json::{json, Value};

/// `{"median", "min", "max", "runs"}` of `values` (NaN for none).
pub fn summary(values: &[f64]) -> Value {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len().saturating_sub(1) / 2).copied();
    json!({
        "median": median.map(round),
        "min": sorted.first().copied().map(round),
        "max": sorted.last().copied().map(round),
        "runs": values.iter().copied().map(round).collect::<Vec<_>>(),
    })
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// "12.3 (11.0-13.1)" for a summary.
pub fn text(s: &Value, digits: usize) -> String {
    let f = |k: &str| {
        s[k].as_f64()
            .map_or("?".into(), |v| format!("{v:.digits$}"))
    };
    format!("{} ({}-{})", f("median"), f("min"), f("max"))
}
