//! Adam over candle variables, written out (a dozen tensor operations) rather than taken from
//! candle-nn so that its moment estimates can be saved in a checkpoint and resumed exactly.

use std::collections::BTreeMap;

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::Result;

pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step: usize,
    /// First and second moments by parameter name.
    pub moments: BTreeMap<String, (Tensor, Tensor)>,
}

impl Adam {
    pub fn new() -> Adam {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    pub fn update(&mut self, params: &[(&String, &Var)], grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        for (name, var) in params {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // Gradients carry the backward pass's graph (they were computed from variables);
            // moments built on them would chain every step's graph to the next one.
            let g = &g.detach();
            let (m, v) = match self.moments.get(*name) {
                Some((m, v)) => (m.clone(), v.clone()),
                None => (g.zeros_like()?, g.zeros_like()?),
            };
            let m = ((m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            let v = ((v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let step = ((&m / c1)? / ((&v / c2)?.sqrt()? + self.eps)?)?;
            var.set(&(var.as_tensor().detach() - (step * lr)?)?)?;
            self.moments.insert((*name).clone(), (m, v));
        }
        Ok(())
    }

    /// Moments as named tensors for a checkpoint.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (n, (m, v)) in &self.moments {
            out.insert(format!("adam.m.{n}"), m.clone());
            out.insert(format!("adam.v.{n}"), v.clone());
        }
        out
    }

    pub fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>, step: usize) {
        self.step = step;
        self.moments.clear();
        for (k, m) in tensors {
            if let Some(name) = k.strip_prefix("adam.m.") {
                if let Some(v) = tensors.get(&format!("adam.v.{name}")) {
                    self.moments
                        .insert(name.to_string(), (m.clone(), v.clone()));
                }
            }
        }
    }
}
