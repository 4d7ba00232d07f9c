//! Order statistics of samples (nearest rank on the sorted, finite values).

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The `p` quantile (0..=1): the value at rank ⌈p·n⌉, or `None` without samples.
pub(crate) fn quantile(values: &[f64], p: f64) -> Option<f64> {
    let v = sorted(values);
    let rank = ((p * v.len() as f64).ceil() as usize).max(1);
    v.get(rank - 1).copied()
}

/// The median (the lower one for an even count).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The largest value.
pub(crate) fn max(values: &[f64]) -> Option<f64> {
    sorted(values).last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[3.0], 0.9), Some(3.0));
        assert_eq!(median(&[]), None);
        assert_eq!(max(&[1.0, f64::NAN, 2.0]), Some(2.0));
    }
}
