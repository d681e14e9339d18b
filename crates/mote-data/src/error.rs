//! The crate's one error type. Every variant names the file (or the step) and what is wrong
//! with it, so that a message alone tells the user what to fix.

use std::path::PathBuf;

/// Errors from loading, splitting and synthesising data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a readable WAV file: {source}", path.display())]
    Wav {
        path: PathBuf,
        #[source]
        source: hound::Error,
    },
    #[error("{}: {what}", path.display())]
    Resample { path: PathBuf, what: String },
    #[error("{}: not a readable CSV file: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}: not a readable image: {source}", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    /// The file was read but its contents are not what the loader needs (a non-numeric
    /// cell, ragged rows, an empty file, …).
    #[error("{}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
    #[error(
        "{}: no class folders with {kinds} files (expected ROOT/<class>/<file>)",
        root.display()
    )]
    NoClasses { root: PathBuf, kinds: String },
    #[error("split: {0}")]
    Split(String),
    #[error("`{tool}` was not found on PATH; install the speech synthesisers with `apt-get install espeak-ng flite`")]
    ToolMissing { tool: String },
    #[error("`{command}` failed: {stderr}")]
    ToolFailed { command: String, stderr: String },
    #[error("{}: manifest: {what}", path.display())]
    Manifest { path: PathBuf, what: String },
    #[error("invalid options: {0}")]
    Options(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            what: what.into(),
        }
    }
}
