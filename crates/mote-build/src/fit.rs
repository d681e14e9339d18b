//! Does a model fit a board? RAM must hold the arena, the stack reserve and the firmware's
//! other statics; flash must hold the model, the firmware's code and any embedded test data.

use crate::{BoardLimits, BuildError};

/// The figures of one fit check, kept for messages and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    pub model: String,
    pub board: String,
    pub arena_bytes: usize,
    pub stack_reserve: usize,
    pub statics_estimate: usize,
    pub model_bytes: usize,
    pub code_estimate: usize,
    pub test_data_bytes: usize,
    pub ram_bytes: usize,
    pub flash_bytes: usize,
}

impl Fit {
    /// RAM the firmware needs.
    pub fn ram_needed(&self) -> usize {
        self.arena_bytes
            .saturating_add(self.stack_reserve)
            .saturating_add(self.statics_estimate)
    }

    /// Flash the firmware needs.
    pub fn flash_needed(&self) -> usize {
        self.model_bytes
            .saturating_add(self.code_estimate)
            .saturating_add(self.test_data_bytes)
    }

    pub fn ram_fits(&self) -> bool {
        self.ram_needed() <= self.ram_bytes
    }

    pub fn flash_fits(&self) -> bool {
        self.flash_needed() <= self.flash_bytes
    }

    pub fn fits(&self) -> bool {
        self.ram_fits() && self.flash_fits()
    }

    fn ram_line(&self) -> String {
        format!(
            "RAM: needs {} bytes (arena {} + stack reserve {} + statics {}), the board has {}",
            self.ram_needed(),
            self.arena_bytes,
            self.stack_reserve,
            self.statics_estimate,
            self.ram_bytes
        )
    }

    fn flash_line(&self) -> String {
        let test = if self.test_data_bytes > 0 {
            format!(" + test data {}", self.test_data_bytes)
        } else {
            String::new()
        };
        format!(
            "flash: needs {} bytes (model {} + code estimate {}{test}), the board has {}",
            self.flash_needed(),
            self.model_bytes,
            self.code_estimate,
            self.flash_bytes
        )
    }
}

/// One message for a model that does not fit: what it needs of what does not fit, and what
/// the board has. For one that fits, a summary of both.
impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.fits() {
            return write!(
                f,
                "model `{}` fits board `{}`: {}; {}",
                self.model,
                self.board,
                self.ram_line(),
                self.flash_line()
            );
        }
        let mut failing = Vec::new();
        if !self.ram_fits() {
            failing.push(self.ram_line());
        }
        if !self.flash_fits() {
            failing.push(self.flash_line());
        }
        write!(
            f,
            "model `{}` does not fit board `{}`: {}",
            self.model,
            self.board,
            failing.join("; ")
        )
    }
}

/// Checks a model of `model_bytes` (the `.mote` artefact) and `arena_bytes` against `limits`;
/// `Err(BuildError::DoesNotFit)` names the model, what it needs and what the board has.
pub fn check_fit(
    model: &str,
    model_bytes: usize,
    arena_bytes: usize,
    test_data_bytes: usize,
    limits: &BoardLimits,
) -> Result<Fit, BuildError> {
    let fit = Fit {
        model: model.to_string(),
        board: limits.name.clone(),
        arena_bytes,
        stack_reserve: limits.stack_reserve,
        statics_estimate: limits.statics_estimate,
        model_bytes,
        code_estimate: limits.code_estimate,
        test_data_bytes,
        ram_bytes: limits.ram_bytes,
        flash_bytes: limits.flash_bytes,
    };
    if fit.fits() {
        Ok(fit)
    } else {
        Err(BuildError::DoesNotFit(Box::new(fit)))
    }
}
