//! One pseudo-random generator for tests and benchmarks: splitmix64, small,
//! fast and the same on every platform, so a seed always gives the same data.

/// A splitmix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed: the same sequence on every run (the
    /// benchmarks' generated inputs depend on it).
    pub fn seeded(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator for a randomised test: seeded from `DMARC_TEST_SEED`
    /// when it is set, else from the clock. The seed is printed, so a
    /// failure can be replayed with `DMARC_TEST_SEED=<seed>`.
    pub fn from_test_seed() -> Self {
        let seed = std::env::var("DMARC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0);
                nanos ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("random seed: DMARC_TEST_SEED={seed}");
        Rng(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (which must not be empty), uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index into `weights`, each drawn in proportion to its weight
    /// (0 when they add up to 0).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut roll = self.below(weights.iter().sum());
        for (i, weight) in weights.iter().enumerate() {
            if roll < *weight {
                return i;
            }
            roll -= weight;
        }
        0
    }

    /// An index in `0..n` skewed towards 0 (the cube of a uniform value):
    /// a few items get most of the picks, as a few IPs send most mail.
    pub fn skewed(&mut self, n: usize) -> usize {
        let u = self.unit();
        ((u * u * u) * n as f64) as usize % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_sequence_and_values_stay_in_range() {
        let (mut a, mut b) = (Rng::seeded(42), Rng::seeded(42));
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..8).map(|_| b.next_u64()).collect::<Vec<_>>());
        // The splitmix64 reference value for seed 0.
        assert_eq!(Rng::seeded(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        for _ in 0..1000 {
            assert!(a.below(7) < 7);
            assert!((0.0..1.0).contains(&a.unit()));
            assert!(a.skewed(5) < 5);
        }
        assert_eq!(a.below(0), 0);
    }

    #[test]
    fn weighted_picks_follow_the_weights_and_never_a_zero_weight() {
        let mut rng = Rng::seeded(7);
        let mut seen = [0u32; 3];
        for _ in 0..10_000 {
            seen[rng.weighted(&[1, 0, 3])] += 1;
        }
        assert_eq!(seen[1], 0);
        // About 2,500 and 7,500.
        assert!((2_200..2_800).contains(&seen[0]), "{seen:?}");
        assert_eq!(rng.weighted(&[0, 0]), 0);
    }
}
