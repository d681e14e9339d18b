//! The shape every loader returns: a list of classes and of items, each item with its
//! label, its group (who or what produced it) and the file it came from; plus the folder
//! walk that finds `ROOT/<class>/<file>` and the group naming convention.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::split::{split_by_group, ClassBalance, Split, SplitConfig};

/// One labelled example.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<T> {
    /// Index into [`Dataset::classes`].
    pub label: usize,
    /// The speaker, voice, machine or recording this item came from (see [`group_of`]).
    /// Items of one group always land on the same side of a split.
    pub group: String,
    /// The file the item was read from.
    pub source: PathBuf,
    pub data: T,
}

/// Labelled examples loaded from `ROOT/<class>/<file>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset<T> {
    pub root: PathBuf,
    /// Class names, sorted (the folder names).
    pub classes: Vec<String>,
    pub items: Vec<Item<T>>,
}

impl<T> Dataset<T> {
    /// Each item's group, in item order (the input [`split_by_group`] takes).
    pub fn groups(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.group.as_str()).collect()
    }

    /// Each item's label, in item order.
    pub fn labels(&self) -> Vec<usize> {
        self.items.iter().map(|i| i.label).collect()
    }

    /// A deterministic train/validation/test split that keeps every group on one side.
    pub fn split(&self, config: &SplitConfig) -> Result<Split> {
        split_by_group(&self.groups(), config)
    }

    /// Counts per class on each side of `split`.
    pub fn class_balance(&self, split: &Split) -> ClassBalance {
        ClassBalance::new(&self.classes, &self.labels(), split)
    }

    /// The index of a class by name.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }
}

/// The group of a file, from its stem (file name without extension):
///
/// 1. the part before the first `__` (mote's own convention, used by the synthesisers:
///    `en-us+f3__0007.wav` → `en-us+f3`);
/// 2. else the part before `_nohash_` (the Speech Commands convention:
///    `0a7c2a8d_nohash_1.wav` → `0a7c2a8d`);
/// 3. else the whole stem: the file is its own group (one long recording cut into windows).
pub fn group_of(stem: &str) -> &str {
    for separator in ["__", "_nohash_"] {
        if let Some(at) = stem.find(separator) {
            if at > 0 {
                return &stem[..at];
            }
        }
    }
    stem
}

/// A file found under a class folder.
pub(crate) struct ClassFile {
    pub label: usize,
    pub group: String,
    pub path: PathBuf,
}

/// Walks `root/<class>/<file>` for files whose extension (case-insensitive) is one of
/// `extensions`. Classes and files come back sorted, so that loading is deterministic;
/// class folders without matching files are not classes.
pub(crate) fn class_files(
    root: &Path,
    extensions: &[&str],
) -> Result<(Vec<String>, Vec<ClassFile>)> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') || !path.is_dir() {
            continue;
        }
        folders.push((name, path));
    }
    folders.sort();

    let mut classes = Vec::new();
    let mut files = Vec::new();
    for (name, folder) in folders {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))? {
            let path = entry.map_err(|e| Error::io(&folder, e))?.path();
            let matches = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)));
            if matches && path.is_file() {
                found.push(path);
            }
        }
        if found.is_empty() {
            continue;
        }
        found.sort();
        let label = classes.len();
        classes.push(name);
        for path in found {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push(ClassFile {
                label,
                group: group_of(&stem).to_string(),
                path,
            });
        }
    }
    if classes.is_empty() {
        return Err(Error::NoClasses {
            root: root.to_path_buf(),
            kinds: extensions
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join("/"),
        });
    }
    Ok((classes, files))
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn group_conventions() {
        assert_eq!(group_of("en-us+f3__0007"), "en-us+f3");
        assert_eq!(group_of("0a7c2a8d_nohash_1"), "0a7c2a8d");
        assert_eq!(group_of("recording_3"), "recording_3");
        // A leading separator would give an empty group: the stem is used instead.
        assert_eq!(group_of("__x"), "__x");
    }
}
