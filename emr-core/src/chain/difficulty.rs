//! The expected difficulty at a height (SPEC section 5), in exact integers.

use crate::pow::Difficulty;

use super::params::ChainParams;
use super::work::U256;

/// One ancestor as the retarget rule reads it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) difficulty: Difficulty,
    pub(crate) timestamp: u64,
}

/// The difficulty a block at `height` must carry.
///
/// `window` holds the blocks `height-W-1 ..= height-1`, oldest first, and is
/// read only when `height > W` (it must then hold exactly W+1 samples; a
/// shorter one falls back to the initial difficulty rather than panic).
pub(crate) fn expected_difficulty(params: &ChainParams, height: u64, window: &[Sample]) -> Difficulty {
    let w = params.window;
    let needed = usize::try_from(w).ok().and_then(|w| w.checked_add(1));
    let (Some(needed), true) = (needed, height > w) else {
        return params.initial_difficulty;
    };
    if window.len() != needed {
        return params.initial_difficulty;
    }
    let (first, last) = (window[0], window[needed - 1]);
    let sum = window[1..].iter().fold(U256::ZERO, |s, b| s.saturating_add(U256::from_u128(b.difficulty.get())));
    let span = last.timestamp.saturating_sub(first.timestamp).max(1);
    let previous = last.difficulty.get();
    let c = u128::from(params.max_adjust);
    let low = (previous / c).max(1);
    let high = previous.saturating_mul(c);
    // S < 2^192 and B < 2^64, so S * B cannot overflow; past 2^128-1 the
    // value is clamped to `high` anyway.
    let value = sum
        .checked_mul_u64(params.block_time)
        .and_then(|sb| sb.checked_div_u64(span))
        .and_then(U256::to_u128)
        .unwrap_or(u128::MAX);
    Difficulty::new(value.clamp(low, high)).unwrap_or(Difficulty::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(initial: u128, window: u64) -> ChainParams {
        ChainParams {
            initial_difficulty: Difficulty::new(initial).unwrap(),
            window,
            block_time: 12,
            max_adjust: 4,
            ..ChainParams::default()
        }
    }

    /// W+1 samples: the first at t0, then `diffs` at the given times.
    fn window(t0: u64, blocks: &[(u128, u64)]) -> Vec<Sample> {
        let d = |v| Difficulty::new(v).unwrap();
        let mut w = vec![Sample { difficulty: d(1), timestamp: t0 }];
        w.extend(blocks.iter().map(|&(v, t)| Sample { difficulty: d(v), timestamp: t }));
        w
    }

    #[test]
    fn initial_while_height_at_most_window() {
        let p = params(1000, 2);
        for h in 0..=2 {
            assert_eq!(expected_difficulty(&p, h, &[]).get(), 1000);
        }
        // Height 3 with a wrong-length window does not panic.
        assert_eq!(expected_difficulty(&p, 3, &[]).get(), 1000);
    }

    #[test]
    fn on_target_keeps_difficulty() {
        // W = 2, two blocks of 100 over 24 s: S*B/T = 200*12/24 = 100.
        let p = params(100, 2);
        assert_eq!(expected_difficulty(&p, 3, &window(1000, &[(100, 1012), (100, 1024)])).get(), 100);
        // 40 s: 200*12/40 = 60, floor.
        assert_eq!(expected_difficulty(&p, 3, &window(1000, &[(100, 1020), (100, 1040)])).get(), 60);
        // 7 s: floor(2400/7) = 342, under the 4x bound.
        assert_eq!(expected_difficulty(&p, 3, &window(1000, &[(100, 1003), (100, 1007)])).get(), 342);
    }

    #[test]
    fn clamped_both_ways() {
        let p = params(100, 2);
        // 1 s: 2400 clamps to P*C = 400.
        assert_eq!(expected_difficulty(&p, 3, &window(1000, &[(100, 1000), (100, 1001)])).get(), 400);
        // 10_000 s: 0 clamps to P/C = 25.
        assert_eq!(expected_difficulty(&p, 3, &window(1000, &[(100, 6000), (100, 11_000)])).get(), 25);
        // P = 3: P/C = 0, so the lower bound is 1.
        assert_eq!(expected_difficulty(&p, 3, &window(0, &[(3, 5000), (3, 10_000)])).get(), 1);
    }

    #[test]
    fn zero_time_span_counts_as_one_second() {
        let p = ChainParams { max_adjust: 1_000_000, ..params(10, 2) };
        // S*B/T = 20*12/1 = 240.
        assert_eq!(expected_difficulty(&p, 3, &window(500, &[(10, 500), (10, 500)])).get(), 240);
    }

    #[test]
    fn near_the_top_of_the_range() {
        let max = u128::MAX;
        let p = params(max, 2);
        // S = 2^129-2 overflows u128; S*B/T with T = 24 is exactly 2^128-1,
        // the top of the range.
        assert_eq!(expected_difficulty(&p, 3, &window(0, &[(max, 12), (max, 24)])).get(), max);
        // T = 48: exactly (2^129-2)*12/48 = (2^128-1)/2, floor.
        assert_eq!(expected_difficulty(&p, 3, &window(0, &[(max, 24), (max, 48)])).get(), max / 2);
        // A large W: S near 2^192 times B stays exact.
        let p = ChainParams { window: 3, block_time: u64::MAX, ..params(max, 3) };
        let w = window(0, &[(max, 1), (max, 2), (max, 3)]);
        assert_eq!(expected_difficulty(&p, 4, &w).get(), max);
    }
}
