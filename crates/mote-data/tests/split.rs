//! Splits: determinism, no group on two sides, held-out groups, proportions, and the class
//! balance table.

use std::collections::{BTreeMap, BTreeSet};

use mote_data::{split_by_group, ClassBalance, Part, SplitConfig};
use proptest::prelude::*;

fn side_of_groups(groups: &[String], split: &mote_data::Split) -> BTreeMap<String, BTreeSet<Part>> {
    let mut sides: BTreeMap<String, BTreeSet<Part>> = BTreeMap::new();
    for part in Part::ALL {
        for &i in split.part(part) {
            sides.entry(groups[i].clone()).or_default().insert(part);
        }
    }
    sides
}

proptest! {
    #[test]
    fn no_group_on_two_sides_and_deterministic(
        groups in proptest::collection::vec(0u8..40, 0..300),
        seed in any::<u64>(),
        val in 0.0f64..0.45,
        test in 0.0f64..0.45,
        held in proptest::collection::vec(0u8..50, 0..4),
    ) {
        let groups: Vec<String> = groups.iter().map(|g| format!("speaker{g}")).collect();
        let config = SplitConfig {
            seed,
            val_fraction: val,
            test_fraction: test,
            test_groups: held.iter().map(|g| format!("speaker{g}")).collect(),
        };
        let a = split_by_group(&groups, &config).unwrap();
        let b = split_by_group(&groups, &config).unwrap();
        prop_assert_eq!(&a, &b);
        // Every item exactly once.
        let mut all: Vec<usize> = a.train.iter().chain(&a.val).chain(&a.test).copied().collect();
        all.sort();
        prop_assert_eq!(all, (0..groups.len()).collect::<Vec<_>>());
        // No group on two sides; held-out groups on the test side.
        for (group, sides) in side_of_groups(&groups, &a) {
            prop_assert_eq!(sides.len(), 1, "{} on {:?}", group, sides);
            if config.test_groups.contains(&group) {
                prop_assert!(sides.contains(&Part::Test));
            }
        }
        for g in &a.unmatched_test_groups {
            prop_assert!(!groups.contains(g));
        }
    }

    #[test]
    fn item_order_does_not_change_sides(
        groups in proptest::collection::vec(0u8..30, 1..200),
        seed in any::<u64>(),
    ) {
        let groups: Vec<String> = groups.iter().map(|g| format!("g{g}")).collect();
        let mut reversed = groups.clone();
        reversed.reverse();
        let config = SplitConfig { seed, ..SplitConfig::default() };
        let a = side_of_groups(&groups, &split_by_group(&groups, &config).unwrap());
        let b = side_of_groups(&reversed, &split_by_group(&reversed, &config).unwrap());
        prop_assert_eq!(a, b);
    }
}

#[test]
fn proportions_of_groups_and_seed_dependence() {
    let groups: Vec<String> = (0..100).map(|g| format!("voice{g}")).collect();
    let config = SplitConfig {
        seed: 7,
        val_fraction: 0.2,
        test_fraction: 0.1,
        test_groups: vec![],
    };
    let s = split_by_group(&groups, &config).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (70, 20, 10));
    let other = split_by_group(
        &groups,
        &SplitConfig {
            seed: 8,
            ..config.clone()
        },
    )
    .unwrap();
    assert_ne!(
        s.test, other.test,
        "a different seed gives a different split"
    );

    // Few groups: a non-zero fraction still gets one group.
    let few: Vec<&str> = vec!["a", "a", "b", "c", "c", "c"];
    let s = split_by_group(&few, &config).unwrap();
    assert!(!s.val.is_empty() && !s.test.is_empty() && !s.train.is_empty());
}

#[test]
fn held_out_groups_go_to_test_only() {
    let groups = ["a", "b", "c", "d", "a", "zz"];
    let config = SplitConfig {
        seed: 1,
        val_fraction: 0.0,
        test_fraction: 0.0,
        test_groups: vec!["a".into(), "nobody".into()],
    };
    let s = split_by_group(&groups, &config).unwrap();
    assert_eq!(s.test, [0, 4]);
    assert_eq!(s.train, [1, 2, 3, 5]);
    assert_eq!(s.unmatched_test_groups, ["nobody"]);
}

#[test]
fn bad_fractions_are_errors() {
    let groups = ["a"];
    for (val, test) in [(0.6, 0.5), (-0.1, 0.0), (0.0, 1.0), (f64::NAN, 0.0)] {
        let config = SplitConfig {
            val_fraction: val,
            test_fraction: test,
            ..SplitConfig::default()
        };
        assert!(split_by_group(&groups, &config).is_err(), "{val} {test}");
    }
}

#[test]
fn class_balance_counts_and_table() {
    let classes = vec!["no".to_string(), "yes".to_string()];
    let labels = [0, 1, 1, 0, 1];
    let groups = ["a", "a", "b", "c", "c"];
    let split = mote_data::Split {
        train: vec![0, 1, 3, 4],
        val: vec![],
        test: vec![2],
        unmatched_test_groups: vec![],
    };
    let balance = ClassBalance::new(&classes, &labels, &split).with_groups(&groups, &split);
    assert_eq!(balance.counts, [[2, 0, 0], [2, 0, 1]]);
    assert_eq!(balance.totals(), [4, 0, 1]);
    assert_eq!(balance.groups, [2, 0, 1]);
    let table = balance.to_string();
    let yes_row = table.lines().find(|l| l.starts_with("yes")).unwrap();
    let cells: Vec<&str> = yes_row.split_whitespace().collect();
    assert_eq!(cells, ["yes", "2", "0", "1", "3", "60.0%"]);
    assert!(table
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["total", "4", "0", "1", "5"]));
    let json = serde_json::to_value(&balance).unwrap();
    assert_eq!(json["counts"][1][2], 1);
}
