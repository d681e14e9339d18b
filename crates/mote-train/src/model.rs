//! A model: its [`ModelSpec`] and its parameters as candle variables, the forward pass used by
//! training (batch statistics), evaluation (running statistics) and quantization-aware
//! training (batch norm folded, fake-quantized weights and activations), and safetensors
//! save/load with a JSON file describing the architecture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::spec::{window, Layer, ModelSpec, Shape};
use crate::{Result, Rng, TrainError};

/// Batch norm's epsilon (Keras' default, what TFLite models were trained with).
pub const BN_EPSILON: f64 = 1e-3;
/// Weight of the old running statistic per batch.
pub const BN_MOMENTUM: f64 = 0.9;
/// Weight of the old activation range per batch in quantization-aware training.
pub const QAT_RANGE_MOMENTUM: f32 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics and QAT ranges are updated.
    Train,
    /// Running statistics; nothing is updated.
    Eval,
}

/// Quantization-aware training state: per layer, the moving-average range of its output.
#[derive(Debug, Default)]
pub struct QatState {
    pub ranges: Mutex<Vec<Option<(f32, f32)>>>,
}

#[derive(Debug)]
pub struct Model {
    pub spec: ModelSpec,
    shapes: Vec<Shape>,
    params: BTreeMap<String, Var>,
    pub(crate) qat: Option<QatState>,
}

/// The JSON written next to the weights.
#[derive(Debug, Serialize, Deserialize)]
struct ModelFile {
    format: String,
    spec: ModelSpec,
    qat_ranges: Option<Vec<Option<(f32, f32)>>>,
}

const FORMAT: &str = "mote-train/1";

fn paths(path: &Path) -> (PathBuf, PathBuf) {
    (
        path.with_extension("safetensors"),
        path.with_extension("json"),
    )
}

impl Model {
    /// A freshly initialised model (He-uniform weights, zero biases, identity batch norm).
    pub fn new(spec: ModelSpec, seed: u64) -> Result<Model> {
        let shapes = spec.shapes()?;
        let mut rng = Rng(seed);
        let mut params = BTreeMap::new();
        let dev = Device::Cpu;
        let mut channels = spec.input()?;
        for (i, layer) in spec.layers.iter().enumerate() {
            let in_c = match channels {
                Shape::Map { c, .. } => c,
                Shape::Flat(n) => n,
            };
            let mut add = |name: &str, shape: Vec<usize>, values: Vec<f32>| -> Result<()> {
                let t = Tensor::from_vec(values, shape, &dev)?;
                params.insert(format!("{i}.{name}"), Var::from_tensor(&t)?);
                Ok(())
            };
            let (weight_shape, fan_in, out, bn, relu) = match *layer {
                Layer::Conv2d {
                    filters,
                    kernel,
                    batch_norm,
                    relu,
                    ..
                } => (
                    vec![filters, in_c, kernel[0], kernel[1]],
                    in_c * kernel[0] * kernel[1],
                    filters,
                    batch_norm,
                    relu,
                ),
                Layer::DepthwiseConv2d {
                    kernel,
                    batch_norm,
                    relu,
                    ..
                } => (
                    vec![in_c, kernel[0], kernel[1]],
                    kernel[0] * kernel[1],
                    in_c,
                    batch_norm,
                    relu,
                ),
                Layer::Dense {
                    units,
                    batch_norm,
                    relu,
                } => (vec![units, in_c], in_c, units, batch_norm, relu),
                _ => {
                    channels = shapes[i];
                    continue;
                }
            };
            let gain = if relu { 6.0 } else { 3.0 };
            let bound = (gain / fan_in as f32).sqrt();
            let n: usize = weight_shape.iter().product();
            let w = (0..n).map(|_| rng.uniform(-bound, bound)).collect();
            add("weight", weight_shape, w)?;
            if bn {
                add("gamma", vec![out], vec![1.0; out])?;
                add("beta", vec![out], vec![0.0; out])?;
                add("mean", vec![out], vec![0.0; out])?;
                add("var", vec![out], vec![1.0; out])?;
            } else {
                add("bias", vec![out], vec![0.0; out])?;
            }
            channels = shapes[i];
        }
        Ok(Model {
            spec,
            shapes,
            params,
            qat: None,
        })
    }

    /// Shape after each layer.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    pub fn param(&self, name: &str) -> Option<&Var> {
        self.params.get(name)
    }

    /// All tensors by name, running statistics included.
    pub fn params(&self) -> &BTreeMap<String, Var> {
        &self.params
    }

    /// Names of the trained parameters (running statistics are not).
    pub fn is_trainable(name: &str) -> bool {
        !(name.ends_with(".mean") || name.ends_with(".var"))
    }

    pub fn trainable(&self) -> Vec<(&String, &Var)> {
        self.params
            .iter()
            .filter(|(n, _)| Self::is_trainable(n))
            .collect()
    }

    /// Number of trained parameters (what the device stores after folding).
    pub fn parameter_count(&self) -> usize {
        self.params
            .iter()
            .filter(|(n, _)| n.ends_with(".weight") || n.ends_with(".bias") || n.ends_with(".beta"))
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    /// A deep copy of every tensor (the best weights while training, a checkpoint).
    pub fn snapshot(&self) -> Result<BTreeMap<String, Tensor>> {
        self.params
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().detach().copy()?)))
            .collect()
    }

    /// Sets every tensor from a snapshot; names and shapes must match.
    pub fn restore(&self, snapshot: &BTreeMap<String, Tensor>) -> Result<()> {
        for (name, var) in &self.params {
            let t = snapshot
                .get(name)
                .ok_or_else(|| TrainError::Checkpoint(format!("tensor `{name}` is missing")))?;
            if t.dims() != var.dims() {
                return Err(TrainError::Checkpoint(format!(
                    "tensor `{name}` has shape {:?}, the model wants {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }

    /// A model with the same spec and a copy of the weights (and QAT ranges).
    pub fn duplicate(&self) -> Result<Model> {
        let m = Model::new(self.spec.clone(), 0)?;
        m.restore(&self.snapshot()?)?;
        let mut m = m;
        m.qat = self.qat.as_ref().map(|q| QatState {
            ranges: Mutex::new(q.ranges.lock().map(|r| r.clone()).unwrap_or_default()),
        });
        Ok(m)
    }

    /// The QAT activation ranges, one per layer (None where no range was observed).
    pub fn qat_ranges(&self) -> Option<Vec<Option<(f32, f32)>>> {
        self.qat
            .as_ref()
            .and_then(|q| q.ranges.lock().ok().map(|r| r.clone()))
    }

    /// Turns quantization-aware training on: batch norm folds into the weights, weights
    /// and layer outputs pass through fake quantization.
    pub fn enable_qat(&mut self) {
        if self.qat.is_none() {
            self.qat = Some(QatState {
                ranges: Mutex::new(vec![None; self.spec.layers.len()]),
            });
        }
    }

    /// Writes `<path>.safetensors` (weights) and `<path>.json` (architecture).
    pub fn save(&self, path: &Path) -> Result<()> {
        let (weights, json) = paths(path);
        let tensors: BTreeMap<String, Tensor> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&tensors.into_iter().collect(), &weights).map_err(|e| {
            TrainError::File {
                path: weights.display().to_string(),
                message: e.to_string(),
            }
        })?;
        let file = ModelFile {
            format: FORMAT.into(),
            spec: self.spec.clone(),
            qat_ranges: self.qat_ranges(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| TrainError::File {
            path: json.display().to_string(),
            message: e.to_string(),
        })?;
        std::fs::write(&json, text).map_err(|e| TrainError::File {
            path: json.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Reads what [`Model::save`] wrote.
    pub fn load(path: &Path) -> Result<Model> {
        let (weights, json) = paths(path);
        let file_err = |p: &Path, e: String| TrainError::File {
            path: p.display().to_string(),
            message: e,
        };
        let text = std::fs::read_to_string(&json).map_err(|e| file_err(&json, e.to_string()))?;
        let file: ModelFile =
            serde_json::from_str(&text).map_err(|e| file_err(&json, e.to_string()))?;
        if file.format != FORMAT {
            return Err(file_err(
                &json,
                format!("format `{}`, expected `{FORMAT}`", file.format),
            ));
        }
        let mut model = Model::new(file.spec, 0)?;
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .map_err(|e| file_err(&weights, e.to_string()))?;
        model
            .restore(&tensors.into_iter().collect())
            .map_err(|e| file_err(&weights, e.to_string()))?;
        if let Some(r) = file.qat_ranges {
            if r.len() != model.spec.layers.len() {
                return Err(file_err(&json, "qat_ranges: one per layer expected".into()));
            }
            model.qat = Some(QatState {
                ranges: Mutex::new(r),
            });
        }
        Ok(model)
    }

    /// A batch of samples `[N, ...input_shape]` (any layout with those elements per sample)
    /// as the tensor the first layer takes.
    ///
    /// Inside the network activations are laid out channels first with the batch second:
    /// `[C, N, H, W]` for maps and `[F, N]` for vectors. Per-channel reductions (batch
    /// statistics, the gradients of per-channel weights) then run over trailing contiguous
    /// dimensions, which candle's CPU backend sums several times faster than leading ones,
    /// and a 1×1 convolution is a single matrix product.
    pub fn batch_tensor(&self, values: Vec<f32>, n: usize) -> Result<Tensor> {
        let x = match self.spec.input()? {
            Shape::Map { h, w, c } => Tensor::from_vec(values, (n, h, w, c), &Device::Cpu)?
                .permute((3, 0, 1, 2))?
                .contiguous()?,
            Shape::Flat(k) => Tensor::from_vec(values, (n, k), &Device::Cpu)?
                .t()?
                .contiguous()?,
        };
        Ok(x)
    }

    /// A batch from [`Model::batch_tensor`] back as `[N, values]` rows (channels last): what
    /// an autoencoder's output is compared with.
    pub fn batch_rows(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match x.rank() {
            4 => x.permute((1, 2, 3, 0))?.contiguous()?.flatten_from(1)?,
            _ => x.t()?.contiguous()?,
        })
    }

    fn var(&self, i: usize, name: &str) -> Result<&Tensor> {
        self.params
            .get(&format!("{i}.{name}"))
            .map(|v| v.as_tensor())
            .ok_or_else(|| TrainError::Spec(format!("layer {i} has no `{name}`")))
    }

    /// Batch norm as a per-channel (scale, shift) from the running statistics.
    pub(crate) fn bn_affine(&self, i: usize) -> Result<(Tensor, Tensor)> {
        let gamma = self.var(i, "gamma")?;
        let beta = self.var(i, "beta")?;
        let mean = self.var(i, "mean")?;
        let var = self.var(i, "var")?;
        let scale = gamma.broadcast_div(&(var + BN_EPSILON)?.sqrt()?)?;
        let shift = (beta - (mean * &scale)?)?;
        Ok((scale, shift))
    }

    /// Per-output-channel (weight, bias) with batch norm folded in, weight in the training
    /// layout (`[O, I, kh, kw]`, `[C, kh, kw]`, `[O, I]`). Differentiable.
    pub(crate) fn folded(&self, i: usize) -> Result<(Tensor, Tensor)> {
        let w = self.var(i, "weight")?;
        if self.params.contains_key(&format!("{i}.gamma")) {
            let (scale, shift) = self.bn_affine(i)?;
            let mut shape = vec![1; w.rank()];
            shape[0] = scale.elem_count();
            let wf = w.broadcast_mul(&scale.reshape(shape)?)?;
            Ok((wf, shift))
        } else {
            Ok((w.clone(), self.var(i, "bias")?.clone()))
        }
    }

    /// Runs the network on a batch from [`Model::batch_tensor`]: logits for a classifier, the
    /// reconstruction for an autoencoder.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut x = x.clone();
        let mut shape = self.spec.input()?;
        for (i, layer) in self.spec.layers.iter().enumerate() {
            let weighted = matches!(
                layer,
                Layer::Conv2d { .. } | Layer::DepthwiseConv2d { .. } | Layer::Dense { .. }
            );
            let (bn, relu) = match *layer {
                Layer::Conv2d {
                    batch_norm, relu, ..
                }
                | Layer::DepthwiseConv2d {
                    batch_norm, relu, ..
                }
                | Layer::Dense {
                    batch_norm, relu, ..
                } => (batch_norm, relu),
                _ => (false, false),
            };
            // Weights (and their bias) as this mode uses them.
            let qat = self.qat.is_some();
            let (w, b) = if !weighted {
                (None, None)
            } else if qat {
                let (w, b) = self.folded(i)?;
                (Some(fake_quant_per_channel(&w)?), Some(b))
            } else if bn {
                (Some(self.var(i, "weight")?.clone()), None)
            } else {
                (
                    Some(self.var(i, "weight")?.clone()),
                    Some(self.var(i, "bias")?.clone()),
                )
            };
            let out_shape = self.shapes[i];
            x = match (layer, shape, &w) {
                (
                    Layer::Conv2d {
                        kernel,
                        stride,
                        same,
                        ..
                    },
                    Shape::Map { h, w: wd, .. },
                    Some(wt),
                ) => {
                    if *kernel == [1, 1] && *stride == [1, 1] {
                        // Pointwise: [O, C] · [C, N·H·W].
                        let (c, n) = (x.dim(0)?, x.dim(1)?);
                        let o = wt.dim(0)?;
                        wt.reshape((o, c))?
                            .matmul(&x.reshape((c, ()))?)?
                            .reshape((o, n, h, wd))?
                    } else {
                        let x = pad_for_window(&x, h, wd, *kernel, *stride, *same, 0)?;
                        let trivial_h = h == 1 && kernel[0] == 1;
                        let s = if trivial_h { stride[1] } else { stride[0] };
                        x.transpose(0, 1)?
                            .conv2d(wt, 0, s, 1, 1)?
                            .transpose(0, 1)?
                            .contiguous()?
                    }
                }
                (
                    Layer::DepthwiseConv2d {
                        kernel,
                        stride,
                        same,
                        ..
                    },
                    Shape::Map { h, w: wd, .. },
                    Some(wt),
                ) => {
                    let Shape::Map { h: oh, w: ow, .. } = out_shape else {
                        unreachable!("depthwise output is a map")
                    };
                    depthwise(&x, wt, h, wd, oh, ow, *kernel, *stride, *same)?
                }
                (Layer::Dense { .. }, Shape::Flat(_), Some(wt)) => wt.matmul(&x)?,
                (Layer::AvgPool2d { size }, Shape::Map { h, w, .. }, _) => x
                    .narrow(2, 0, h / size[0] * size[0])?
                    .narrow(3, 0, w / size[1] * size[1])?
                    .avg_pool2d((size[0], size[1]))?,
                (Layer::MaxPool2d { size }, Shape::Map { h, w, .. }, _) => x
                    .narrow(2, 0, h / size[0] * size[0])?
                    .narrow(3, 0, w / size[1] * size[1])?
                    .max_pool2d((size[0], size[1]))?,
                (Layer::GlobalAvgPool, Shape::Map { .. }, _) => x.flatten_from(2)?.mean(2)?,
                (Layer::Flatten, Shape::Map { h, w, c }, _) => {
                    // Channels-last feature order: [H, W, C, N] → [H·W·C, N].
                    let n = x.dim(1)?;
                    x.permute((2, 3, 0, 1))?
                        .contiguous()?
                        .reshape((h * w * c, n))?
                }
                _ => {
                    return Err(TrainError::Spec(format!(
                        "layer {i} ({layer:?}) cannot take {shape:?}"
                    )))
                }
            };
            if weighted {
                let channel_shape = |c: usize| -> Vec<usize> {
                    if x.rank() == 4 {
                        vec![c, 1, 1, 1]
                    } else {
                        vec![c, 1]
                    }
                };
                if let Some(b) = &b {
                    x = x.broadcast_add(&b.reshape(channel_shape(b.elem_count()))?)?;
                } else if bn {
                    x = self.batch_norm(i, &x, mode)?;
                }
                if relu {
                    x = x.relu()?;
                }
                if qat {
                    x = self.fake_quant_activation(i, &x, mode)?;
                }
            }
            shape = out_shape;
        }
        // [outputs, N] → [N, outputs]
        Ok(x.t()?.contiguous()?)
    }

    fn batch_norm(&self, i: usize, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let c = x.dim(0)?;
        let cshape: Vec<usize> = if x.rank() == 4 {
            vec![c, 1, 1, 1]
        } else {
            vec![c, 1]
        };
        if mode == Mode::Eval {
            let (scale, shift) = self.bn_affine(i)?;
            return Ok(x
                .broadcast_mul(&scale.reshape(cshape.clone())?)?
                .broadcast_add(&shift.reshape(cshape)?)?);
        }
        let dims: Vec<usize> = if x.rank() == 4 {
            vec![1, 2, 3]
        } else {
            vec![1]
        };
        let count = x.elem_count() / c;
        let mean = x.mean_keepdim(dims.clone())?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(dims)?;
        let normed = centered.broadcast_div(&(&var + BN_EPSILON)?.sqrt()?)?;
        let gamma = self.var(i, "gamma")?.reshape(cshape.clone())?;
        let beta = self.var(i, "beta")?.reshape(cshape)?;
        let y = normed.broadcast_mul(&gamma)?.broadcast_add(&beta)?;
        // Running statistics (unbiased variance, as Keras keeps it).
        let unbias = count as f64 / (count.max(2) - 1) as f64;
        for (name, batch) in [
            ("mean", mean.detach().flatten_all()?),
            ("var", (var.detach().flatten_all()? * unbias)?),
        ] {
            let v = &self.params[&format!("{i}.{name}")];
            let updated =
                ((v.as_tensor().detach() * BN_MOMENTUM)? + (batch * (1.0 - BN_MOMENTUM))?)?;
            v.set(&updated)?;
        }
        Ok(y)
    }

    fn fake_quant_activation(&self, i: usize, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let Some(q) = &self.qat else {
            return Ok(x.clone());
        };
        let range = {
            let mut ranges = q
                .ranges
                .lock()
                .map_err(|_| TrainError::Spec("QAT ranges poisoned".into()))?;
            if mode == Mode::Train {
                let lo = x.detach().flatten_all()?.min(0)?.to_scalar::<f32>()?;
                let hi = x.detach().flatten_all()?.max(0)?.to_scalar::<f32>()?;
                ranges[i] = Some(match ranges[i] {
                    None => (lo, hi),
                    Some((l, h)) => (
                        l * QAT_RANGE_MOMENTUM + lo * (1.0 - QAT_RANGE_MOMENTUM),
                        h * QAT_RANGE_MOMENTUM + hi * (1.0 - QAT_RANGE_MOMENTUM),
                    ),
                });
            }
            ranges[i]
        };
        let Some((lo, hi)) = range else {
            return Ok(x.clone());
        };
        let (scale, zero_point) = activation_qparams(lo, hi);
        let q = ((x / scale as f64)?.round()? + zero_point as f64)?.clamp(-128f32, 127f32)?;
        let xq = ((q - zero_point as f64)? * scale as f64)?;
        // Straight-through estimator: the forward value is quantized, the gradient is identity.
        Ok((x + (xq - x)?.detach())?)
    }
}

/// Asymmetric int8 parameters for a range that is widened to contain zero (TFLite's rule).
pub fn activation_qparams(lo: f32, hi: f32) -> (f32, i32) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zero_point = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    (scale, zero_point)
}

/// Per-output-channel symmetric int8 fake quantization of a weight (axis 0), with a
/// straight-through gradient.
pub fn fake_quant_per_channel(w: &Tensor) -> Result<Tensor> {
    let o = w.dim(0)?;
    let flat = w.reshape((o, ()))?;
    let max = flat.detach().abs()?.max_keepdim(1)?;
    let scale = (max.clamp(1e-8f32, f32::MAX)? / 127.0)?;
    let q = flat
        .detach()
        .broadcast_div(&scale)?
        .round()?
        .clamp(-127f32, 127f32)?
        .broadcast_mul(&scale)?;
    let wq = (&flat + (q - &flat.detach())?.detach())?;
    Ok(wq.reshape(w.dims())?)
}

/// Pads (TFLite's `same` rule) and crops `x` `[C, N, H, W]` so that a window of `kernel` at
/// `stride` covers it exactly; `extra` more zero rows/columns go after (for strided slicing).
fn pad_for_window(
    x: &Tensor,
    h: usize,
    w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    same: bool,
    extra: usize,
) -> Result<Tensor> {
    let mut x = x.clone();
    for (axis, n, k, s) in [(2, h, kernel[0], stride[0]), (3, w, kernel[1], stride[1])] {
        let (out, before, after) = window(n, k, s, same)
            .ok_or_else(|| TrainError::Spec(format!("window {k}/{s} does not fit {n}")))?;
        let extra = if extra > 0 { s - 1 } else { 0 };
        x = x.pad_with_zeros(axis, before, after + extra)?;
        x = x.narrow(axis, 0, (out - 1) * s + k + extra)?;
    }
    Ok(x)
}

/// Depthwise convolution of `x` `[C, N, H, W]` by `w` `[C, kh, kw]` with TFLite's padding:
/// one custom operation with its own backward pass (see [`crate::depthwise`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise(
    x: &Tensor,
    w: &Tensor,
    h: usize,
    wd: usize,
    oh: usize,
    ow: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    same: bool,
) -> Result<Tensor> {
    let x = pad_for_window(x, h, wd, kernel, stride, same, 0)?;
    Ok(crate::depthwise::depthwise_conv2d(&x, w, stride, [oh, ow])?)
}

/// Depthwise convolution as a sum of shifted, per-channel-scaled slices, built from
/// candle's own operations: the reference the custom operation is tested against.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_composite(
    x: &Tensor,
    w: &Tensor,
    h: usize,
    wd: usize,
    c: usize,
    oh: usize,
    ow: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    same: bool,
) -> Result<Tensor> {
    let n = x.dim(1)?;
    let x = pad_for_window(x, h, wd, kernel, stride, same, 1)?;
    let [sh, sw] = stride;
    let mut acc: Option<Tensor> = None;
    for i in 0..kernel[0] {
        for j in 0..kernel[1] {
            let mut s = x.narrow(2, i, oh * sh)?.narrow(3, j, ow * sw)?;
            if sh > 1 || sw > 1 {
                s = s
                    .reshape((c, n, oh, sh, ow, sw))?
                    .narrow(3, 0, 1)?
                    .narrow(5, 0, 1)?
                    .reshape((c, n, oh, ow))?;
            }
            let wij = w.narrow(1, i, 1)?.narrow(2, j, 1)?.reshape((c, 1, 1, 1))?;
            let term = s.broadcast_mul(&wij)?;
            acc = Some(match acc {
                None => term,
                Some(a) => (a + term)?,
            });
        }
    }
    acc.ok_or_else(|| TrainError::Spec("depthwise kernel is empty".into()))
}
