//! Property tests for the memory planner's invariants on random buffer sets: every plan
//! verifies (aligned, no overlap of buffers alive together, arena covers all), the arena is
//! at least the lower bound, planning is deterministic, and `verify` itself catches overlaps.

use mote_compiler::planner::{lower_bound, plan, verify, Buffer, Plan};
use proptest::prelude::*;

fn buffer() -> impl Strategy<Value = Buffer> {
    // A quarter of the sizes are tiny (including 0) so alignment and zero-size handling get
    // exercised, the rest span up to 100 kB like real activations.
    let size = prop_oneof![1 => 0usize..40, 3 => 0usize..=100_000];
    (size, 0usize..40, 0usize..12).prop_map(|(size, first_use, len)| Buffer {
        size,
        first_use,
        last_use: (first_use + len).min(39),
    })
}

fn buffers() -> impl Strategy<Value = Vec<Buffer>> {
    prop::collection::vec(buffer(), 0..=60)
}

fn align() -> impl Strategy<Value = usize> {
    prop_oneof![Just(16usize), Just(1), Just(4), Just(8), Just(64)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_verify(bufs in buffers(), align in align()) {
        let p = plan(&bufs, align);
        prop_assert_eq!(p.offsets.len(), bufs.len());
        if let Err(e) = verify(&bufs, &p, align) {
            return Err(TestCaseError::fail(e));
        }
        for (b, &o) in bufs.iter().zip(&p.offsets) {
            if b.size == 0 {
                prop_assert_eq!(o, 0);
            }
        }
    }

    #[test]
    fn arena_is_at_least_the_lower_bound(bufs in buffers(), align in align()) {
        let p = plan(&bufs, align);
        prop_assert_eq!(p.lower_bound, lower_bound(&bufs, align));
        prop_assert!(p.arena_bytes >= p.lower_bound);
        // Every live buffer alone is also a lower bound, so the bound is never below it.
        for b in &bufs {
            prop_assert!(p.lower_bound >= b.size);
        }
        if bufs.iter().all(|b| b.size == 0) {
            prop_assert_eq!(p.arena_bytes, 0);
        }
    }

    #[test]
    fn lower_bound_matches_a_per_op_count(bufs in buffers(), align in align()) {
        // Brute force over every op index: the sweep in `lower_bound` must agree.
        let round = |s: usize| s.div_ceil(align) * align;
        let expected = (0..40)
            .map(|t| {
                bufs.iter()
                    .filter(|b| b.first_use <= t && t <= b.last_use)
                    .map(|b| round(b.size))
                    .sum::<usize>()
            })
            .max()
            .unwrap_or(0);
        prop_assert_eq!(lower_bound(&bufs, align), expected);
    }

    #[test]
    fn same_input_same_plan(bufs in buffers(), align in align()) {
        prop_assert_eq!(plan(&bufs, align), plan(&bufs, align));
    }

    #[test]
    fn verify_rejects_overlapping_plans(bufs in buffers(), pick in any::<prop::sample::Index>()) {
        // Find a pair of non-empty buffers alive together, then move the second onto the first.
        let pairs: Vec<(usize, usize)> = (0..bufs.len())
            .flat_map(|i| (i + 1..bufs.len()).map(move |j| (i, j)))
            .filter(|&(i, j)| {
                let (a, b) = (&bufs[i], &bufs[j]);
                a.size > 0 && b.size > 0 && a.first_use <= b.last_use && b.first_use <= a.last_use
            })
            .collect();
        prop_assume!(!pairs.is_empty());
        let (i, j) = pairs[pick.index(pairs.len())];
        let good = plan(&bufs, 16);
        let mut offsets = good.offsets.clone();
        offsets[j] = offsets[i];
        let bad = Plan { offsets, ..good };
        // Keep the arena large enough that only the overlap can be blamed.
        let arena_bytes = bad.arena_bytes.max(bad.offsets[j] + bufs[j].size);
        let bad = Plan { arena_bytes, ..bad };
        let err = verify(&bufs, &bad, 16);
        prop_assert!(err.is_err(), "overlap of {} and {} not detected", i, j);
        prop_assert!(err.unwrap_err().contains("overlap"));
    }

    #[test]
    fn verify_rejects_unaligned_or_short_plans(bufs in buffers(), pick in any::<prop::sample::Index>()) {
        let sized: Vec<usize> = (0..bufs.len()).filter(|&i| bufs[i].size > 0).collect();
        prop_assume!(!sized.is_empty());
        let good = plan(&bufs, 16);
        let i = sized[pick.index(sized.len())];

        let mut shifted = good.clone();
        shifted.offsets[i] += 8;
        shifted.arena_bytes += 8;
        prop_assert!(verify(&bufs, &shifted, 16).is_err());

        let short = Plan { arena_bytes: good.arena_bytes - 1, ..good.clone() };
        let max_end = bufs.iter().zip(&good.offsets).map(|(b, o)| o + b.size).max().unwrap_or(0);
        prop_assert_eq!(verify(&bufs, &short, 16).is_err(), max_end > short.arena_bytes);
    }
}
