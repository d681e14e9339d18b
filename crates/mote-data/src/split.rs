//! Deterministic train/validation/test splits that never put one group (a speaker, a voice,
//! a machine, a recording) on two sides, and the class balance of a split.
//!
//! How groups are assigned: groups named in [`SplitConfig::test_groups`] go to test; the
//! others are ranked by a 64-bit hash of (seed, group name) — FNV-1a followed by the
//! SplitMix64 finaliser, written out here because `std`'s hasher is not guaranteed to stay
//! the same across Rust releases — and the first `round(n · test_fraction)` go to test, the
//! next `round(n · val_fraction)` to validation, the rest to train. Ranking (rather than
//! thresholding each hash) gives the asked-for proportions of groups even when there are
//! only a handful, and the same seed and group names always give the same split.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::error::{Error, Result};

/// Which side of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Train,
    Val,
    Test,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Val, Part::Test];

    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Val => "val",
            Part::Test => "test",
        }
    }
}

/// How to split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitConfig {
    pub seed: u64,
    /// Fraction of the (not held-out) groups for validation.
    pub val_fraction: f64,
    /// Fraction of the (not held-out) groups for test, on top of `test_groups`.
    pub test_fraction: f64,
    /// Groups that go to test whatever the hash says (e.g. the voices a synthetic dataset
    /// reserves for test). Names not present in the data are reported in
    /// [`Split::unmatched_test_groups`].
    pub test_groups: Vec<String>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            seed: 0,
            val_fraction: 0.1,
            test_fraction: 0.1,
            test_groups: Vec::new(),
        }
    }
}

/// Item indices on each side of a split, in item order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
    /// Names in [`SplitConfig::test_groups`] that no item has.
    pub unmatched_test_groups: Vec<String>,
}

impl Split {
    pub fn part(&self, part: Part) -> &[usize] {
        match part {
            Part::Train => &self.train,
            Part::Val => &self.val,
            Part::Test => &self.test,
        }
    }
}

/// Splits items, given each item's group, so that every group is on exactly one side.
pub fn split_by_group<S: AsRef<str>>(groups: &[S], config: &SplitConfig) -> Result<Split> {
    for (name, f) in [
        ("val_fraction", config.val_fraction),
        ("test_fraction", config.test_fraction),
    ] {
        if !(0.0..1.0).contains(&f) {
            return Err(Error::Split(format!("{name} must be in [0, 1), got {f}")));
        }
    }
    if config.val_fraction + config.test_fraction >= 1.0 {
        return Err(Error::Split(format!(
            "val_fraction + test_fraction must be below 1 (got {} + {})",
            config.val_fraction, config.test_fraction
        )));
    }
    let present: BTreeSet<&str> = groups.iter().map(AsRef::as_ref).collect();
    let held_out: BTreeSet<&str> = config.test_groups.iter().map(String::as_str).collect();
    let unmatched_test_groups = held_out
        .iter()
        .filter(|g| !present.contains(*g))
        .map(|g| g.to_string())
        .collect();

    let mut ranked: Vec<(u64, &str)> = present
        .iter()
        .filter(|g| !held_out.contains(*g))
        .map(|g| (group_hash(config.seed, g), *g))
        .collect();
    ranked.sort_unstable();
    let n = ranked.len();
    let count = |fraction: f64| {
        let c = (n as f64 * fraction).round() as usize;
        // A non-zero fraction of three or more groups never rounds to an empty side.
        if fraction > 0.0 && c == 0 && n >= 3 {
            1
        } else {
            c
        }
    };
    let n_test = count(config.test_fraction);
    let n_val = count(config.val_fraction).min(n.saturating_sub(n_test));

    let mut side: BTreeMap<&str, Part> = BTreeMap::new();
    for g in &held_out {
        side.insert(g, Part::Test);
    }
    for (rank, (_, g)) in ranked.iter().enumerate() {
        let part = if rank < n_test {
            Part::Test
        } else if rank < n_test + n_val {
            Part::Val
        } else {
            Part::Train
        };
        side.insert(g, part);
    }
    let mut split = Split {
        unmatched_test_groups,
        ..Split::default()
    };
    for (index, g) in groups.iter().enumerate() {
        match side.get(g.as_ref()).copied().unwrap_or(Part::Train) {
            Part::Train => split.train.push(index),
            Part::Val => split.val.push(index),
            Part::Test => split.test.push(index),
        }
    }
    Ok(split)
}

/// The fixed hash that ranks groups (FNV-1a over the seed and the name, then SplitMix64's
/// finaliser to spread FNV's weak low bits).
pub(crate) fn group_hash(seed: u64, group: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in seed.to_le_bytes().iter().chain(group.as_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Counts per class on each side of a split; `Display` prints it as a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassBalance {
    pub classes: Vec<String>,
    /// `counts[class] = [train, val, test]`.
    pub counts: Vec<[usize; 3]>,
    /// Distinct groups on each side: `[train, val, test]`.
    pub groups: [usize; 3],
}

impl ClassBalance {
    /// Counts `labels` (indices into `classes`) on each side of `split`.
    pub fn new(classes: &[String], labels: &[usize], split: &Split) -> Self {
        let mut counts = vec![[0usize; 3]; classes.len()];
        for (side, part) in Part::ALL.iter().enumerate() {
            for &i in split.part(*part) {
                if let Some(row) = labels.get(i).and_then(|&l| counts.get_mut(l)) {
                    row[side] += 1;
                }
            }
        }
        ClassBalance {
            classes: classes.to_vec(),
            counts,
            groups: [0; 3],
        }
    }

    /// Also records how many distinct groups each side holds.
    pub fn with_groups<S: AsRef<str>>(mut self, groups: &[S], split: &Split) -> Self {
        for (side, part) in Part::ALL.iter().enumerate() {
            let distinct: BTreeSet<&str> = split
                .part(*part)
                .iter()
                .filter_map(|&i| groups.get(i).map(AsRef::as_ref))
                .collect();
            self.groups[side] = distinct.len();
        }
        self
    }

    /// Items on each side: `[train, val, test]`.
    pub fn totals(&self) -> [usize; 3] {
        let mut t = [0; 3];
        for row in &self.counts {
            for side in 0..3 {
                t[side] += row[side];
            }
        }
        t
    }
}

impl fmt::Display for ClassBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .classes
            .iter()
            .map(String::len)
            .chain(["class".len(), "groups".len()])
            .max()
            .unwrap_or(5);
        let totals = self.totals();
        let all: usize = totals.iter().sum();
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>7}  {:>7}  {:>7}  {:>6}",
            "class", "train", "val", "test", "total", "share"
        )?;
        for (class, row) in self.classes.iter().zip(&self.counts) {
            let total: usize = row.iter().sum();
            let share = if all > 0 {
                100.0 * total as f64 / all as f64
            } else {
                0.0
            };
            writeln!(
                f,
                "{class:<width$}  {:>7}  {:>7}  {:>7}  {total:>7}  {share:>5.1}%",
                row[0], row[1], row[2]
            )?;
        }
        writeln!(
            f,
            "{:<width$}  {:>7}  {:>7}  {:>7}  {all:>7}",
            "total", totals[0], totals[1], totals[2]
        )?;
        write!(
            f,
            "{:<width$}  {:>7}  {:>7}  {:>7}",
            "groups", self.groups[0], self.groups[1], self.groups[2]
        )
    }
}
