//! The kernel tests' one deterministic generator: SplitMix64, with the
//! value shapes the tests draw from it.

/// SplitMix64 (any seed, zero included).
pub struct Rng(pub u64);

impl Rng {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `mag` with a random sign.
    pub fn signed(&mut self, mag: f32) -> f32 {
        if self.next() & 1 == 0 {
            mag
        } else {
            -mag
        }
    }

    /// A standard normal value (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// `n` standard normal values.
    pub fn gaussians(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.gauss()).collect()
    }

    /// A normal value, one in 64 of them scaled by 20 as real activations'
    /// outliers are.
    pub fn value(&mut self) -> f32 {
        let v = self.gauss();
        if self.next().is_multiple_of(64) {
            20.0 * v
        } else {
            v
        }
    }
}
