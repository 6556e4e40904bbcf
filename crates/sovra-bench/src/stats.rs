//! Order statistics over measured samples.

/// Median and 95th percentile of a set of numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub p95: f64,
}

/// Median (mean of the middle two for even counts) and p95 (nearest rank).
pub fn summarize(values: impl IntoIterator<Item = f64>) -> Summary {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Summary {
            median: 0.0,
            p95: 0.0,
        };
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = ((0.95 * n as f64).ceil() as usize).clamp(1, n);
    Summary {
        median,
        p95: v[rank - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95() {
        assert_eq!(
            summarize([3.0, 1.0, 2.0]),
            Summary {
                median: 2.0,
                p95: 3.0
            }
        );
        assert_eq!(summarize([1.0, 2.0, 3.0, 4.0]).median, 2.5);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(summarize(hundred).p95, 95.0);
        assert_eq!(
            summarize([]),
            Summary {
                median: 0.0,
                p95: 0.0
            }
        );
        assert_eq!(summarize([f64::NAN, 1.0]).median, 1.0);
    }
}
