//! Kafka's rate measurement and throttle-time arithmetic, pure (time is an argument).
//!
//! [`Rate`] is Kafka 4's `Rate` over a `SampledStat` of windowed sums: `samples` (+1) windows of
//! `window_ms` each, a new window started by the first record after the current one has lasted
//! `window_ms`, windows without an event in the last `samples * window_ms` forgotten. The rate divides the sum of the
//! kept windows by the time since the oldest one started, counted as at least `samples - 1` whole
//! windows so that a fresh sensor does not report a huge rate from its first request.
//!
//! [`TokenBucket`] is Kafka's `TokenBucket` (KIP-599, the controller mutation quota): a bucket of
//! `samples * window` seconds of the quota, refilled at the quota rate, that records drain and may
//! take below zero.

/// How a quota's rate is sampled: `quota.window.num` windows of `quota.window.size.seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Number of sample windows kept (`quota.window.num`, at least 1).
    pub samples: usize,
    /// Length of one window in milliseconds (`quota.window.size.seconds` × 1000, at least 1).
    pub window_ms: i64,
}

impl Default for WindowConfig {
    /// Kafka's defaults: 11 windows of one second.
    fn default() -> Self {
        WindowConfig {
            samples: 11,
            window_ms: 1000,
        }
    }
}

/// One sample window.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The sum recorded in this window.
    value: f64,
    /// When the window started.
    start_ms: i64,
    /// When it was last recorded into (a window is kept while this is recent).
    last_event_ms: i64,
}

impl Sample {
    fn fresh(now_ms: i64) -> Sample {
        Sample {
            value: 0.0,
            start_ms: now_ms,
            last_event_ms: now_ms,
        }
    }
}

/// Kafka's `Rate` of a windowed sum, per second.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// At most `samples + 1` windows, reused round-robin (Kafka 4 keeps one extra so that a window
    /// still overlapping the measured span is not lost).
    samples: Vec<Sample>,
    /// Index of the current window.
    current: usize,
}

impl Rate {
    /// An empty rate.
    pub fn new() -> Rate {
        Rate::default()
    }

    /// Adds `value` at `now_ms`, starting a new window when the current one is complete.
    pub fn record(&mut self, cfg: WindowConfig, value: f64, now_ms: i64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::fresh(now_ms));
            self.current = 0;
        }
        if now_ms - self.samples[self.current].start_ms >= cfg.window_ms {
            self.current = (self.current + 1) % (cfg.samples.max(1) + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::fresh(now_ms));
            } else {
                self.samples[self.current] = Sample::fresh(now_ms);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now_ms;
    }

    /// Resets windows with no event in the last `samples * window_ms` (Kafka's
    /// `purgeObsoleteSamples`: windows overlapping the measured span are kept even if they
    /// started before it).
    fn purge(&mut self, cfg: WindowConfig, now_ms: i64) {
        let expire_ms = cfg.samples.max(1) as i64 * cfg.window_ms;
        for s in &mut self.samples {
            if now_ms - s.last_event_ms >= expire_ms {
                *s = Sample::fresh(now_ms);
            }
        }
    }

    /// The time the rate is measured over at `now_ms`, in milliseconds (Kafka's
    /// `Rate.windowSize`): since the oldest window began, at least `samples - 1` whole windows,
    /// at least 1 ms.
    pub fn window_size_ms(&mut self, cfg: WindowConfig, now_ms: i64) -> i64 {
        self.purge(cfg, now_ms);
        let oldest_ms = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now_ms);
        let mut elapsed_ms = now_ms - oldest_ms;
        let full_windows = elapsed_ms / cfg.window_ms;
        let min_full_windows = cfg.samples.max(1) as i64 - 1;
        if full_windows < min_full_windows {
            elapsed_ms += (min_full_windows - full_windows) * cfg.window_ms;
        }
        elapsed_ms.max(1)
    }

    /// The rate at `now_ms`, per second.
    pub fn measure(&mut self, cfg: WindowConfig, now_ms: i64) -> f64 {
        let window_ms = self.window_size_ms(cfg, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (window_ms as f64 / 1000.0)
    }
}

/// Kafka's `QuotaUtils.throttleTime`: how long a client whose rate is `rate` against `bound` must
/// wait for its rate, measured over `window_ms`, to come back to the bound. Zero or negative
/// when within the quota.
pub fn throttle_time_ms(rate: f64, bound: f64, window_ms: i64) -> i64 {
    ((rate - bound) / bound * window_ms as f64).round() as i64
}

/// Records `value` into `rate` and checks it against `bound` as Kafka's `Sensor.record(value,
/// now, checkQuotas = true)` does: the value is kept even when it breaks the quota, and the
/// answer is the throttle time (0 within the quota).
pub fn record_and_throttle_ms(rate: &mut Rate, cfg: WindowConfig, bound: f64, value: f64, now_ms: i64) -> i64 {
    rate.record(cfg, value, now_ms);
    let measured = rate.measure(cfg, now_ms);
    if measured <= bound {
        return 0;
    }
    throttle_time_ms(measured, bound, rate.window_size_ms(cfg, now_ms)).max(0)
}

/// Kafka's `TokenBucket`: credits refilled at the quota rate up to a burst of `samples × window`
/// seconds' worth; a record takes credits and may leave the bucket negative.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenBucket {
    /// Credits left (negative: owed).
    tokens: f64,
    /// When the bucket was last refilled.
    last_update_ms: i64,
}

impl TokenBucket {
    /// An empty bucket last refilled at the epoch, so the first use finds it full, as Kafka's.
    pub fn new() -> TokenBucket {
        TokenBucket::default()
    }

    fn burst(cfg: WindowConfig, quota: f64) -> f64 {
        cfg.samples.max(1) as f64 * (cfg.window_ms as f64 / 1000.0) * quota
    }

    fn refill(&mut self, cfg: WindowConfig, quota: f64, now_ms: i64) {
        let elapsed_s = (now_ms - self.last_update_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + quota * elapsed_s).min(Self::burst(cfg, quota));
        self.last_update_ms = now_ms;
    }

    /// Credits left at `now_ms`.
    pub fn measure(&mut self, cfg: WindowConfig, quota: f64, now_ms: i64) -> f64 {
        self.refill(cfg, quota, now_ms);
        self.tokens
    }

    /// Takes `value` credits at `now_ms`.
    pub fn record(&mut self, cfg: WindowConfig, quota: f64, value: f64, now_ms: i64) {
        self.refill(cfg, quota, now_ms);
        self.tokens = (self.tokens - value).min(Self::burst(cfg, quota));
    }
}

/// Kafka's controller-mutation throttle time for a bucket left at `tokens` (negative) under
/// `quota` per second: the time to earn the debt back.
pub fn token_throttle_time_ms(tokens: f64, quota: f64) -> i64 {
    (-tokens / quota * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: a seeded generator, so every property run is reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const CFG: WindowConfig = WindowConfig {
        samples: 11,
        window_ms: 1000,
    };

    #[test]
    fn a_fresh_sensor_counts_samples_minus_one_windows() {
        let mut r = Rate::new();
        r.record(CFG, 1000.0, 5_000);
        // 10 whole windows assumed: 1000 bytes over 10 s.
        assert_eq!(r.window_size_ms(CFG, 5_000), 10_000);
        assert!((r.measure(CFG, 5_000) - 100.0).abs() < 1e-9);
        // 500 ms later: 10.5 s, and still 10.5 s once 10.5 s really passed.
        assert_eq!(r.window_size_ms(CFG, 5_500), 10_500);
        assert_eq!(r.window_size_ms(CFG, 15_500), 10_500);
        // At 11 windows the sample is obsolete and starts again.
        assert_eq!(r.window_size_ms(CFG, 16_000), 10_000);
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        // Kafka's QuotaUtilsTest: 100 observed against 50 over a 2 s window is 2 s of throttle.
        assert_eq!(throttle_time_ms(100.0, 50.0, 2000), 2000);
        assert_eq!(throttle_time_ms(55.0, 50.0, 1000), 100);
        assert!(throttle_time_ms(16.5, 20.4, 1000) < 0);
        assert_eq!(throttle_time_ms(18.2, 18.2, 1000), 0);
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut r = Rate::new();
        r.record(CFG, 1_000_000.0, 0);
        assert!(r.measure(CFG, 1_000) > 0.0);
        // 11 windows later the sample is obsolete.
        assert_eq!(r.measure(CFG, 11_000), 0.0);
    }

    /// Property: a client that waits out every throttle time it is given sends, over a long
    /// run, at the quota (within a few percent), whatever its request sizes and pacing.
    #[test]
    fn obeying_throttles_holds_a_client_to_its_quota() {
        for seed in 0..40u64 {
            let mut rng = Rng(seed);
            let cfg = WindowConfig {
                samples: 2 + rng.below(12) as usize,
                window_ms: 200 + rng.below(1800) as i64,
            };
            let bound = 1_000.0 + rng.below(1_000_000) as f64;
            let mut rate = Rate::new();
            let mut now_ms = 1_000_000i64;
            let start_ms = now_ms;
            let mut sent = 0.0;
            let run_ms = 60 * cfg.window_ms * cfg.samples as i64;
            while now_ms - start_ms < run_ms {
                // Requests of up to a tenth of a second's quota, sent back to back.
                let size = 1.0 + rng.below((bound / 10.0) as u64 + 1) as f64;
                let throttle = record_and_throttle_ms(&mut rate, cfg, bound, size, now_ms);
                sent += size;
                now_ms += 1 + rng.below(5) as i64 + throttle;
            }
            let achieved = sent / ((now_ms - start_ms) as f64 / 1000.0);
            assert!(
                (achieved - bound).abs() / bound < 0.05,
                "seed {seed}: {achieved} against {bound} ({cfg:?})"
            );
        }
    }

    /// Property: within the quota nothing is throttled, and a throttle time is never negative.
    #[test]
    fn slow_clients_are_never_throttled() {
        for seed in 0..40u64 {
            let mut rng = Rng(1000 + seed);
            let cfg = WindowConfig {
                samples: 2 + rng.below(12) as usize,
                window_ms: 100 + rng.below(2000) as i64,
            };
            let bound = 100.0 + rng.below(100_000) as f64;
            let mut rate = Rate::new();
            let mut now_ms = 0i64;
            for _ in 0..2000 {
                // Half the quota: each request's bytes spread over twice the time they need.
                let size = 1.0 + rng.below((bound / 20.0) as u64 + 1) as f64;
                let gap_ms = (size / bound * 1000.0 * 2.0).ceil() as i64 + 1;
                now_ms += gap_ms;
                assert_eq!(
                    record_and_throttle_ms(&mut rate, cfg, bound, size, now_ms),
                    0,
                    "seed {seed}"
                );
            }
        }
    }

    #[test]
    fn the_token_bucket_starts_full_and_owes_what_was_overdrawn() {
        let cfg = WindowConfig::default();
        let mut b = TokenBucket::new();
        // 2 mutations/s over 11 windows: a burst of 22.
        assert_eq!(b.measure(cfg, 2.0, 1_000_000), 22.0);
        b.record(cfg, 2.0, 30.0, 1_000_000);
        let tokens = b.measure(cfg, 2.0, 1_000_000);
        assert_eq!(tokens, -8.0);
        assert_eq!(token_throttle_time_ms(tokens, 2.0), 4000);
        // Four seconds later the debt is repaid.
        assert_eq!(b.measure(cfg, 2.0, 1_004_000), 0.0);
    }
}
