//! Offline memory planner: gives every activation buffer of a model a byte offset in one
//! arena, so that the device never plans and the arena size is a compile-time constant.
//!
//! Each [`Buffer`] has a size and an inclusive lifetime `[first_use, last_use]` in op indices.
//! Two buffers whose lifetimes overlap must not overlap in memory; the goal is the smallest
//! arena (the largest `offset + size`). The problem is NP-hard in general, so [`plan`] runs a
//! handful of cheap deterministic greedy strategies — TFLM's own greedy-by-size first-fit
//! among them, so mote's arena is never larger than TFLM's for the same buffers — keeps the
//! smallest result, and, if that is above the lower bound, runs a short local search over
//! the placement order (seeded, so still deterministic). [`lower_bound`] gives the bytes that must be alive at once (no plan can
//! be smaller) and [`verify`] checks any plan independently of how it was made.
//!
//! Conventions: every size is rounded up to `align` before planning (as TFLM does), so all
//! offsets are multiples of `align`; an `align` of 0 is treated as 1. Zero-size buffers get
//! offset 0 and take no part in overlap checks. A buffer whose `last_use` is before its
//! `first_use` is treated as alive at `first_use` only.

/// One activation (or scratch) buffer to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    /// Size in bytes.
    pub size: usize,
    /// Index of the first op that reads or writes the buffer (graph inputs: 0).
    pub first_use: usize,
    /// Index of the last op that reads or writes the buffer, inclusive (graph outputs: the last op).
    pub last_use: usize,
}

/// Where every buffer lives in the arena.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Byte offset of each buffer, in the order of the input slice.
    pub offsets: Vec<usize>,
    /// Arena size: the largest `offset + size` (sizes rounded up to the alignment).
    pub arena_bytes: usize,
    /// [`lower_bound`] of the same buffers, kept so callers can report how close the plan is.
    pub lower_bound: usize,
}

/// Work the improvement phase may spend, in units of n² (one greedy placement of n buffers
/// costs about n²): with ~400 buffers that is ~250 placements, tens of milliseconds.
const IMPROVE_WORK_BUDGET: usize = 40_000_000;
/// At most this many placements in the improvement phase, however few the buffers.
const IMPROVE_MAX_RUNS: usize = 1000;

/// Plans offsets for `buffers` (one per buffer, same order). Deterministic: same input, same plan.
pub fn plan(buffers: &[Buffer], align: usize) -> Plan {
    let align = align.max(1);
    let items = items(buffers, align);
    let lower_bound = lower_bound(buffers, align);
    let mut offsets = vec![0; buffers.len()];
    if items.is_empty() {
        return Plan {
            offsets,
            arena_bytes: 0,
            lower_bound,
        };
    }

    // Try every (order, fit) pair; the first strictly smallest arena wins, so ties resolve
    // the same way on every run. Stop early once the lower bound is reached: nothing beats it.
    let mut best: Option<Placement> = None;
    'search: for order in orders(&items) {
        for fit in [Fit::First, Fit::Best] {
            let placement = place(&items, &order, fit);
            let better = match &best {
                None => true,
                Some(b) => placement.arena < b.arena,
            };
            if better {
                best = Some(placement);
            }
            if best.as_ref().is_some_and(|b| b.arena <= lower_bound) {
                break 'search;
            }
        }
    }
    // `orders` always yields at least one order for a non-empty item list.
    let mut best = best.expect("at least one strategy ran");
    if best.arena > lower_bound {
        improve(&items, &mut best, lower_bound);
    }

    for (item, &offset) in items.iter().zip(&best.offsets) {
        offsets[item.index] = offset;
    }
    Plan {
        offsets,
        arena_bytes: best.arena,
        lower_bound,
    }
}

/// The largest total size (each rounded up to `align`) of buffers alive at one op: no plan can be smaller.
pub fn lower_bound(buffers: &[Buffer], align: usize) -> usize {
    let align = align.max(1);
    // Sweep over lifetime events instead of over op indices, so the cost does not depend on
    // how large the op indices are. At equal times births sort before deaths, because a
    // buffer that dies at op t (inclusive) is still alive together with one born at t.
    let mut events: Vec<(usize, bool, usize)> = Vec::with_capacity(2 * buffers.len());
    for b in buffers.iter().filter(|b| b.size > 0) {
        let (first, last) = span(b);
        let size = round_up(b.size, align);
        events.push((first, false, size));
        events.push((last, true, size));
    }
    events.sort_unstable();
    let (mut live, mut peak) = (0usize, 0usize);
    for (_, dies, size) in events {
        if dies {
            live -= size;
        } else {
            live += size;
            peak = peak.max(live);
        }
    }
    peak
}

/// Checks a plan: every offset aligned, no two buffers with overlapping lifetimes overlap in memory, arena covers all. Returns a description of the first violation.
pub fn verify(buffers: &[Buffer], plan: &Plan, align: usize) -> Result<(), String> {
    let align = align.max(1);
    if plan.offsets.len() != buffers.len() {
        return Err(format!(
            "plan has {} offsets for {} buffers",
            plan.offsets.len(),
            buffers.len()
        ));
    }
    for (i, (b, &offset)) in buffers.iter().zip(&plan.offsets).enumerate() {
        if offset % align != 0 {
            return Err(format!(
                "buffer {i}: offset {offset} is not a multiple of {align}"
            ));
        }
        let covered = offset
            .checked_add(b.size)
            .is_some_and(|end| end <= plan.arena_bytes);
        if !covered {
            return Err(format!(
                "buffer {i}: bytes {offset}..{offset}+{} exceed the arena of {} bytes",
                b.size, plan.arena_bytes
            ));
        }
    }
    // Memory overlap is checked on the true sizes: that is what physically must not collide.
    // Quadratic, which is fine for the few hundred buffers of a model and keeps this check
    // simple enough to trust independently of the planner.
    for i in 0..buffers.len() {
        for j in i + 1..buffers.len() {
            let (a, b) = (&buffers[i], &buffers[j]);
            if a.size == 0 || b.size == 0 || !lifetimes_overlap(span(a), span(b)) {
                continue;
            }
            let (oa, ob) = (plan.offsets[i], plan.offsets[j]);
            if oa < ob + b.size && ob < oa + a.size {
                let ((fa, la), (fb, lb)) = (span(a), span(b));
                return Err(format!(
                    "buffers {i} (bytes {oa}..{}, ops {fa}..={la}) and {j} (bytes {ob}..{}, ops {fb}..={lb}) \
                     are alive together and overlap in memory",
                    oa + a.size,
                    ob + b.size
                ));
            }
        }
    }
    Ok(())
}

/// The lifetime actually used for a buffer; see the module doc for reversed lifetimes.
fn span(b: &Buffer) -> (usize, usize) {
    (b.first_use, b.last_use.max(b.first_use))
}

fn lifetimes_overlap((fa, la): (usize, usize), (fb, lb): (usize, usize)) -> bool {
    fa <= lb && fb <= la
}

fn round_up(size: usize, align: usize) -> usize {
    size.div_ceil(align).saturating_mul(align)
}

/// A non-empty buffer as the planner sees it: aligned size and normalised lifetime.
#[derive(Debug, Clone, Copy)]
struct Item {
    size: usize,
    first: usize,
    last: usize,
    /// Position in the caller's slice, used for deterministic tie-breaking and the result.
    index: usize,
}

fn items(buffers: &[Buffer], align: usize) -> Vec<Item> {
    buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.size > 0)
        .map(|(index, b)| {
            let (first, last) = span(b);
            Item {
                size: round_up(b.size, align),
                first,
                last,
                index,
            }
        })
        .collect()
}

/// How a buffer chooses among the free gaps it could go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// The lowest offset that fits (TFLM's choice).
    First,
    /// The smallest gap between already placed, simultaneously alive buffers that fits,
    /// which keeps large gaps for large buffers; falls back to the top when none fits.
    Best,
}

/// The result of one greedy run. `offsets` is indexed like the item list.
#[derive(Debug, Clone)]
struct Placement {
    offsets: Vec<usize>,
    arena: usize,
    order: Vec<usize>,
    fit: Fit,
}

/// Places items one by one in `order` (indices into `items`), each at a position chosen by
/// `fit` among those that do not collide with already placed items alive at the same time.
/// Because sizes are aligned and candidate positions are 0 or the end of a placed item,
/// every offset is aligned. O(n²) for n items.
fn place(items: &[Item], order: &[usize], fit: Fit) -> Placement {
    let mut offsets = vec![0; items.len()];
    // Placed items sorted by offset (stable: equal offsets keep placement order), so gaps
    // can be found in one walk.
    let mut placed: Vec<(usize, usize)> = Vec::with_capacity(items.len()); // (offset, item)
    let mut arena = 0;
    for &i in order {
        let it = &items[i];
        let mut cursor = 0; // lowest offset above every alive item seen so far in the walk
        let mut chosen: Option<(usize, usize)> = None; // (gap size, offset)
        for &(offset, j) in &placed {
            let other = &items[j];
            if !(other.first <= it.last && it.first <= other.last) {
                continue;
            }
            if offset >= cursor + it.size {
                let gap = offset - cursor;
                match fit {
                    Fit::First => {
                        chosen = Some((gap, cursor));
                        break;
                    }
                    Fit::Best => {
                        let smaller = match chosen {
                            None => true,
                            Some((g, _)) => gap < g,
                        };
                        if smaller {
                            chosen = Some((gap, cursor));
                        }
                    }
                }
            }
            cursor = cursor.max(offset + other.size);
        }
        let offset = chosen.map_or(cursor, |(_, o)| o);
        offsets[i] = offset;
        arena = arena.max(offset + it.size);
        let at = placed.partition_point(|&(o, _)| o <= offset);
        placed.insert(at, (offset, i));
    }
    Placement {
        offsets,
        arena,
        order: order.to_vec(),
        fit,
    }
}

/// The orders the greedy placement is tried in, each a permutation of `0..items.len()`.
/// Every key ends with the caller's index so orders are total and deterministic.
fn orders(items: &[Item]) -> Vec<Vec<usize>> {
    let by = |key: &dyn Fn(&Item) -> (usize, usize, usize)| {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| (key(&items[i]), items[i].index));
        order
    };
    let len = |it: &Item| it.last - it.first + 1;
    let rev = |x: usize| usize::MAX - x;
    vec![
        // TFLM: largest first, ties in insertion order. Big buffers placed first leave gaps
        // that small ones fill, instead of small ones fragmenting the arena.
        by(&|it| (rev(it.size), 0, 0)),
        // Largest first, but among equals the earliest-born first: equal-sized tensors are
        // common (repeated blocks) and their order decides which gaps later ones find.
        by(&|it| (rev(it.size), it.first, 0)),
        // Largest "area" (bytes × ops) first: long-lived skip tensors constrain everything
        // they span, so they should be fixed before the short-lived ones around them.
        by(&|it| (rev(it.size.saturating_mul(len(it))), rev(it.size), 0)),
        // Longest-lived first, then largest.
        by(&|it| (rev(len(it)), rev(it.size), 0)),
        // Execution order: each tensor settles around the ones alive when it is produced,
        // which often packs chains tightly where size order does not.
        by(&|it| (it.first, rev(it.size), 0)),
        // Reverse execution order, for graphs whose tail is the crowded part.
        by(&|it| (rev(it.last), rev(it.size), 0)),
        greedy_by_breadth(items),
    ]
}

/// Pisarchyk & Lee's "greedy by breadth": visit ops from the one with most live bytes down,
/// and at each op take its not-yet-ordered buffers largest first. The most crowded op is
/// the one that decides the arena, so its buffers get first pick of the space.
fn greedy_by_breadth(items: &[Item]) -> Vec<usize> {
    // Breadth is only evaluated at op indices where some item is born: the live set (and so
    // the breadth) only grows at a birth, so the maxima are all among these points.
    let mut times: Vec<usize> = items.iter().map(|it| it.first).collect();
    times.sort_unstable();
    times.dedup();
    let live_at = |t: usize| {
        items
            .iter()
            .enumerate()
            .filter(move |(_, it)| it.first <= t && t <= it.last)
    };
    let mut ops: Vec<(usize, usize)> = times
        .iter()
        .map(|&t| (live_at(t).map(|(_, it)| it.size).sum(), t))
        .collect();
    ops.sort_by_key(|&(breadth, t)| (usize::MAX - breadth, t));

    let mut taken = vec![false; items.len()];
    let mut order = Vec::with_capacity(items.len());
    for (_, t) in ops {
        let mut here: Vec<usize> = live_at(t).map(|(i, _)| i).filter(|&i| !taken[i]).collect();
        here.sort_by_key(|&i| (usize::MAX - items[i].size, items[i].index));
        for i in here {
            taken[i] = true;
            order.push(i);
        }
    }
    order
}

/// Local search on the best greedy result. The items that touch the top of the arena were
/// placed high because items placed before them took the space below, so the moves are:
/// move a top item earlier in the order, or swap two items. A move is kept when the arena
/// does not grow and the (arena, bytes of items touching the top) pair does not get worse:
/// accepting equal results lets the search walk across the plateaus that greedy orders
/// produce, the secondary key steers it towards freeing the top. The pseudo-random choices
/// come from a fixed-seed generator, so the result is still deterministic. Placements are
/// bounded by a work budget so that a few hundred buffers stay within tens of milliseconds.
fn improve(items: &[Item], best: &mut Placement, lower_bound: usize) {
    let n = items.len();
    if n < 2 {
        return;
    }
    let runs = (IMPROVE_WORK_BUDGET / n.saturating_mul(n)).min(IMPROVE_MAX_RUNS);
    let score = |p: &Placement| {
        let top: usize = (0..n)
            .filter(|&i| p.offsets[i] + items[i].size == p.arena)
            .map(|i| items[i].size)
            .sum();
        (p.arena, top)
    };
    let mut current = best.clone();
    let mut current_score = score(&current);
    let mut rng = SplitMix(0x6d6f_7465); // "mote"
    for _ in 0..runs {
        let mut order = current.order.clone();
        if rng.below(2) == 0 {
            // Move one item at the top of the arena to an earlier position.
            let top: Vec<usize> = (0..n)
                .filter(|&p| current.offsets[order[p]] + items[order[p]].size == current.arena)
                .collect();
            let from = top[rng.below(top.len())];
            if from == 0 {
                continue;
            }
            let to = rng.below(from);
            let moved = order.remove(from);
            order.insert(to, moved);
        } else {
            let (a, b) = (rng.below(n), rng.below(n));
            order.swap(a, b);
        }
        let fit = if rng.below(4) == 0 {
            other_fit(current.fit)
        } else {
            current.fit
        };
        let candidate = place(items, &order, fit);
        let candidate_score = score(&candidate);
        if candidate_score <= current_score {
            current = candidate;
            current_score = candidate_score;
            if current.arena < best.arena {
                *best = current.clone();
                if best.arena <= lower_bound {
                    return;
                }
            }
        }
    }
}

/// A tiny fixed-seed generator (SplitMix64) for the local search: deterministic across runs
/// and platforms, and not worth a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

fn other_fit(fit: Fit) -> Fit {
    match fit {
        Fit::First => Fit::Best,
        Fit::Best => Fit::First,
    }
}

/// TFLM's planner reimplemented from its description (largest first, first fit, sizes
/// aligned), used by tests to check that mote's arena is never larger.
#[cfg(test)]
pub(crate) fn tflm_arena(buffers: &[Buffer], align: usize) -> usize {
    let items = items(buffers, align.max(1));
    place(&items, &orders(&items)[0], Fit::First).arena
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(size: usize, first_use: usize, last_use: usize) -> Buffer {
        Buffer {
            size,
            first_use,
            last_use,
        }
    }

    fn checked(buffers: &[Buffer], align: usize) -> Plan {
        let p = plan(buffers, align);
        verify(buffers, &p, align).unwrap();
        assert!(p.arena_bytes >= p.lower_bound);
        assert!(p.arena_bytes <= tflm_arena(buffers, align));
        p
    }

    #[test]
    fn empty() {
        let p = checked(&[], 16);
        assert_eq!(
            p,
            Plan {
                offsets: vec![],
                arena_bytes: 0,
                lower_bound: 0
            }
        );
    }

    #[test]
    fn chain_needs_the_largest_adjacent_pair() {
        // input A -> op0 -> B -> op1 -> C: A lives at op 0, B at ops 0..=1, C at op 1.
        let bufs = [buf(64, 0, 0), buf(32, 0, 1), buf(48, 1, 1)];
        assert_eq!(lower_bound(&bufs, 16), 96); // max(64 + 32, 32 + 48)
        let p = checked(&bufs, 16);
        assert_eq!(p.arena_bytes, 96);
        // A and C are never alive together, so they may share bytes.
        assert_eq!(p.offsets[0], p.offsets[2]);
    }

    #[test]
    fn chain_where_largest_first_is_not_optimal() {
        // Largest-first first-fit puts 70 and 60 low, then 40 above 60 and 30 above both: 130.
        // Alternating low/high gives the lower bound, 100.
        let bufs = [buf(60, 0, 0), buf(40, 0, 1), buf(30, 1, 2), buf(70, 2, 2)];
        assert_eq!(lower_bound(&bufs, 1), 100);
        assert_eq!(tflm_arena(&bufs, 1), 130);
        assert_eq!(checked(&bufs, 1).arena_bytes, 100);
    }

    #[test]
    fn skip_connection_stays_alive_across_the_block() {
        // x -> conv(op0) -> a -> conv(op1) -> b -> conv(op2) -> c -> add(x, c)(op3) -> y
        let bufs = [
            buf(100, 0, 3), // x, read again 3 ops later
            buf(200, 0, 1), // a
            buf(200, 1, 2), // b
            buf(50, 2, 3),  // c
            buf(100, 3, 3), // y
        ];
        // op1: x + a + b = 500 is the peak.
        assert_eq!(lower_bound(&bufs, 1), 500);
        let p = checked(&bufs, 1);
        assert_eq!(p.arena_bytes, 500);
        // x must not share bytes with anything in the block.
        for (j, b) in bufs.iter().enumerate().skip(1) {
            let (ox, oj) = (p.offsets[0], p.offsets[j]);
            assert!(ox + 100 <= oj || oj + b.size <= ox, "x overlaps buffer {j}");
        }
    }

    #[test]
    fn sizes_round_up_to_the_alignment() {
        let bufs = [buf(1, 0, 0), buf(17, 0, 0), buf(16, 0, 0)];
        assert_eq!(lower_bound(&bufs, 16), 16 + 32 + 16);
        let p = checked(&bufs, 16);
        assert_eq!(p.arena_bytes, 64);
        assert!(p.offsets.iter().all(|o| o % 16 == 0));
        // Unaligned sizes do not count as aligned ones with align 1.
        assert_eq!(lower_bound(&bufs, 1), 34);
        assert_eq!(checked(&bufs, 1).arena_bytes, 34);
    }

    #[test]
    fn zero_size_buffers_are_ignored() {
        let bufs = [buf(0, 0, 5), buf(32, 0, 1), buf(0, 2, 3), buf(32, 1, 2)];
        assert_eq!(lower_bound(&bufs, 16), 64);
        let p = checked(&bufs, 16);
        assert_eq!(p.arena_bytes, 64);
        assert_eq!((p.offsets[0], p.offsets[2]), (0, 0));
        // Only zero-size buffers: nothing to place.
        let p = checked(&[buf(0, 0, 0), buf(0, 1, 2)], 16);
        assert_eq!(
            (p.arena_bytes, p.lower_bound, p.offsets),
            (0, 0, vec![0, 0])
        );
    }

    #[test]
    fn reversed_lifetime_means_alive_at_first_use() {
        let bufs = [buf(16, 3, 1), buf(16, 2, 2), buf(16, 3, 3)];
        assert_eq!(lower_bound(&bufs, 16), 32);
        assert_eq!(checked(&bufs, 16).arena_bytes, 32);
    }

    #[test]
    fn verify_reports_violations() {
        let bufs = [buf(32, 0, 1), buf(32, 1, 2)];
        let ok = Plan {
            offsets: vec![0, 32],
            arena_bytes: 64,
            lower_bound: 64,
        };
        assert_eq!(verify(&bufs, &ok, 16), Ok(()));
        let overlap = Plan {
            offsets: vec![0, 16],
            ..ok.clone()
        };
        assert!(verify(&bufs, &overlap, 16).unwrap_err().contains("overlap"));
        let unaligned = Plan {
            offsets: vec![0, 33],
            arena_bytes: 80,
            ..ok.clone()
        };
        assert!(verify(&bufs, &unaligned, 16)
            .unwrap_err()
            .contains("multiple"));
        let short = Plan {
            arena_bytes: 63,
            ..ok.clone()
        };
        assert!(verify(&bufs, &short, 16).unwrap_err().contains("exceed"));
        let missing = Plan {
            offsets: vec![0],
            ..ok
        };
        assert!(verify(&bufs, &missing, 16).is_err());
        // Not alive together: sharing bytes is fine.
        let apart = [buf(32, 0, 0), buf(32, 1, 1)];
        let shared = Plan {
            offsets: vec![0, 0],
            arena_bytes: 32,
            lower_bound: 32,
        };
        assert_eq!(verify(&apart, &shared, 16), Ok(()));
    }

    #[test]
    fn deterministic() {
        let bufs = [
            buf(60, 0, 0),
            buf(40, 0, 1),
            buf(30, 1, 2),
            buf(70, 2, 2),
            buf(10, 0, 2),
        ];
        assert_eq!(plan(&bufs, 16), plan(&bufs, 16));
    }

    // ---- synthetic CNNs: the arena should be within 10% of the lower bound ----

    /// Builds the buffers of a graph described as ops, each reading some tensors and writing
    /// one, plus an optional scratch buffer alive during that op only. Tensor 0 is the input.
    pub(crate) fn graph(input: usize, ops: &[(Vec<usize>, usize, usize)]) -> Vec<Buffer> {
        let mut bufs = vec![buf(input, 0, 0)];
        for (op, (reads, out, scratch)) in ops.iter().enumerate() {
            for &r in reads {
                bufs[r].last_use = bufs[r].last_use.max(op);
            }
            bufs.push(buf(*out, op, op));
            if *scratch > 0 {
                bufs.push(buf(*scratch, op, op));
            }
        }
        // The last written tensor is the graph output: alive until the end anyway.
        bufs
    }

    /// MobileNet v1 (width `alpha`, input `res`×`res`×3, int8): conv s2, then 13 depthwise +
    /// pointwise pairs, average pool, fully connected.
    pub(crate) fn mobilenet_v1(res: usize, alpha: f64, scratch: bool) -> Vec<Buffer> {
        let ch = |c: usize| ((c as f64 * alpha) as usize).max(8);
        let mut ops: Vec<(Vec<usize>, usize, usize)> = Vec::new();
        let mut last = 0usize; // tensor index of the current activation
        let mut next = 1usize;
        let mut push = |ops: &mut Vec<(Vec<usize>, usize, usize)>,
                        out: usize,
                        scr: usize,
                        last: &mut usize| {
            ops.push((vec![*last], out, if scratch { scr } else { 0 }));
            *last = next;
            next += if scratch && scr > 0 { 2 } else { 1 };
        };
        let mut hw = res / 2;
        let mut c = ch(32);
        push(&mut ops, hw * hw * c, 27 * hw * hw, &mut last);
        let blocks = [
            (64, 1),
            (128, 2),
            (128, 1),
            (256, 2),
            (256, 1),
            (512, 2),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (512, 1),
            (1024, 2),
            (1024, 1),
        ];
        for (out_c, stride) in blocks {
            hw /= stride;
            push(&mut ops, hw * hw * c, 0, &mut last); // depthwise
            c = ch(out_c);
            push(&mut ops, hw * hw * c, 0, &mut last); // pointwise
        }
        push(&mut ops, c, 0, &mut last); // average pool
        push(&mut ops, 1000, 0, &mut last); // fully connected
        graph(res * res * 3, &ops)
    }

    /// MobileNet v2 inverted residual blocks (expand ×6, depthwise, project, add when the
    /// shape is kept): the block input stays alive across four ops.
    pub(crate) fn mobilenet_v2(res: usize) -> Vec<Buffer> {
        let mut ops: Vec<(Vec<usize>, usize, usize)> = Vec::new();
        let mut tensors = 1usize;
        let mut op = |ops: &mut Vec<(Vec<usize>, usize, usize)>, reads: Vec<usize>, out: usize| {
            ops.push((reads, out, 0));
            tensors += 1;
            tensors - 1
        };
        let mut hw = res / 2;
        let mut c = 32;
        let mut x = op(&mut ops, vec![0], hw * hw * c);
        let cfg = [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ];
        for (t, out_c, n, s) in cfg {
            for k in 0..n {
                let stride = if k == 0 { s } else { 1 };
                let e = if t > 1 {
                    op(&mut ops, vec![x], hw * hw * c * t)
                } else {
                    x
                };
                hw /= stride;
                let d = op(&mut ops, vec![e], hw * hw * c * t);
                let p = op(&mut ops, vec![d], hw * hw * out_c);
                x = if stride == 1 && out_c == c {
                    op(&mut ops, vec![x, p], hw * hw * out_c)
                } else {
                    p
                };
                c = out_c;
            }
        }
        let head = op(&mut ops, vec![x], hw * hw * 1280);
        let pool = op(&mut ops, vec![head], 1280);
        op(&mut ops, vec![pool], 1000);
        graph(res * res * 3, &ops)
    }

    /// ResNet basic blocks: conv, conv, add(x, ·), with a 1×1 projection on the skip path
    /// when the shape changes.
    pub(crate) fn resnet(res: usize, widths: &[usize], blocks_per_stage: usize) -> Vec<Buffer> {
        let mut ops: Vec<(Vec<usize>, usize, usize)> = Vec::new();
        let mut tensors = 1usize;
        let mut op = |ops: &mut Vec<(Vec<usize>, usize, usize)>, reads: Vec<usize>, out: usize| {
            ops.push((reads, out, 0));
            tensors += 1;
            tensors - 1
        };
        let mut hw = res;
        let mut c = widths[0];
        let mut x = op(&mut ops, vec![0], hw * hw * c);
        for (stage, &w) in widths.iter().enumerate() {
            for k in 0..blocks_per_stage {
                let stride = if k == 0 && stage > 0 { 2 } else { 1 };
                let skip = if stride == 2 || w != c {
                    op(&mut ops, vec![x], (hw / stride).pow(2) * w)
                } else {
                    x
                };
                hw /= stride;
                let a = op(&mut ops, vec![x], hw * hw * w);
                let b = op(&mut ops, vec![a], hw * hw * w);
                x = op(&mut ops, vec![skip, b], hw * hw * w);
                c = w;
            }
        }
        let pool = op(&mut ops, vec![x], c);
        op(&mut ops, vec![pool], 10);
        graph(res * res * 3, &ops)
    }

    fn close_to_lower_bound(name: &str, bufs: &[Buffer]) {
        let p = checked(bufs, 16);
        let tflm = tflm_arena(bufs, 16);
        let ratio = p.arena_bytes as f64 / p.lower_bound as f64;
        eprintln!(
            "{name}: {} buffers, lower bound {}, mote {} ({:.3}x), tflm-style {} ({:.3}x)",
            bufs.len(),
            p.lower_bound,
            p.arena_bytes,
            ratio,
            tflm,
            tflm as f64 / p.lower_bound as f64
        );
        assert!(
            ratio <= 1.10,
            "{name}: arena {} is {ratio:.3}x the lower bound",
            p.arena_bytes
        );
    }

    /// A random graph: each op reads the newest tensor and sometimes one of the few before
    /// it (a skip connection), writes one tensor and sometimes a scratch buffer.
    fn random_graph(seed: u64, n_ops: usize) -> Vec<Buffer> {
        let mut rng = SplitMix(seed);
        let mut bufs = vec![buf(1000 + rng.below(50_000), 0, 0)];
        for op in 0..n_ops {
            let k = bufs.len();
            bufs[k - 1].last_use = op;
            if rng.below(3) == 0 {
                let skip = k - 1 - rng.below(k.min(6));
                bufs[skip].last_use = bufs[skip].last_use.max(op);
            }
            bufs.push(buf(1000 + rng.below(50_000), op, op));
            if rng.below(4) == 0 {
                bufs.push(buf(100 + rng.below(20_000), op, op));
            }
        }
        bufs
    }

    #[test]
    fn random_graphs_beat_tflm_and_approach_the_lower_bound() {
        let (mut mote_sum, mut tflm_sum, mut worst) = (0.0, 0.0, 1.0f64);
        let graphs = 40;
        for seed in 0..graphs {
            let bufs = random_graph(seed, 60);
            let p = checked(&bufs, 16);
            let lb = p.lower_bound as f64;
            mote_sum += p.arena_bytes as f64 / lb;
            tflm_sum += tflm_arena(&bufs, 16) as f64 / lb;
            worst = worst.max(p.arena_bytes as f64 / lb);
        }
        let n = graphs as f64;
        eprintln!(
            "random graphs: mote {:.4}x (worst {worst:.3}x), tflm-style {:.4}x of the lower bound",
            mote_sum / n,
            tflm_sum / n
        );
        assert!(worst <= 1.10, "worst arena {worst:.3}x the lower bound");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// TFLM's planner is one of the strategies tried, so mote can never be worse.
        #[test]
        fn never_above_tflm(
            raw in proptest::collection::vec((0usize..=100_000, 0usize..40, 0usize..12), 0..=60),
            align in proptest::sample::select(vec![1usize, 4, 16]),
        ) {
            let bufs: Vec<Buffer> = raw.iter().map(|&(s, f, l)| buf(s, f, (f + l).min(39))).collect();
            let p = plan(&bufs, align);
            proptest::prop_assert!(p.arena_bytes <= tflm_arena(&bufs, align));
        }
    }

    #[test]
    fn synthetic_cnns_are_within_ten_percent_of_the_lower_bound() {
        close_to_lower_bound("mobilenet_v1 0.25 96", &mobilenet_v1(96, 0.25, false));
        close_to_lower_bound(
            "mobilenet_v1 0.25 96 +scratch",
            &mobilenet_v1(96, 0.25, true),
        );
        close_to_lower_bound("mobilenet_v1 1.0 224", &mobilenet_v1(224, 1.0, false));
        close_to_lower_bound(
            "mobilenet_v1 0.5 128 +scratch",
            &mobilenet_v1(128, 0.5, true),
        );
        close_to_lower_bound("mobilenet_v2 96", &mobilenet_v2(96));
        close_to_lower_bound("mobilenet_v2 224", &mobilenet_v2(224));
        close_to_lower_bound("resnet8 32", &resnet(32, &[16, 32, 64], 1));
        close_to_lower_bound("resnet20 32", &resnet(32, &[16, 32, 64], 3));
    }
}
