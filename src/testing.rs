//! Small helpers for the crate's own unit tests. Integration tests and
//! benchmarks use the `dmarc-report-testkit` crate instead, which cannot
//! serve unit tests (it depends on this crate).

/// A reproducible stream of pseudo-random numbers from `seed` (a linear
/// congruential generator: plenty for filling test data with noise).
pub(crate) fn pseudo_random(seed: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(seed), |x| {
        Some(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407))
    })
    .skip(1)
}
