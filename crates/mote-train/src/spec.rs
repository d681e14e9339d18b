//! Architectures: a sequential list of [`Layer`]s, each of which lowers to one `mote-ir`
//! operator (batch norm folds into the preceding convolution or dense layer, ReLU fuses into
//! it), and the [`Template`]s that build the architectures for mote's use cases.

use serde::{Deserialize, Serialize};

use crate::{Result, TrainError};

/// One layer. Convolutions take `same` padding with TFLite's rule (the extra row or column
/// goes after), `valid` otherwise. Pools are `valid` with window = stride, the case whose
/// gradient the tensor library implements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    Conv2d {
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        same: bool,
        batch_norm: bool,
        relu: bool,
    },
    DepthwiseConv2d {
        kernel: [usize; 2],
        stride: [usize; 2],
        same: bool,
        batch_norm: bool,
        relu: bool,
    },
    Dense {
        units: usize,
        batch_norm: bool,
        relu: bool,
    },
    AvgPool2d {
        size: [usize; 2],
    },
    MaxPool2d {
        size: [usize; 2],
    },
    /// Mean over height and width: `[H, W, C]` → `[C]`.
    GlobalAvgPool,
    /// `[H, W, C]` → `[H·W·C]` in channels-last order.
    Flatten,
}

/// What the network's output means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Task {
    /// Logits over classes; the exported graph ends in SOFTMAX.
    Classify { classes: Vec<String> },
    /// Reconstructs its input (anomaly detection by reconstruction error).
    Reconstruct,
}

/// A whole architecture: input shape (without batch), layers, task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub template: String,
    pub input_shape: Vec<usize>,
    pub layers: Vec<Layer>,
    pub task: Task,
}

/// Activation shape between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Map { h: usize, w: usize, c: usize },
    Flat(usize),
}

impl Shape {
    pub fn elements(self) -> usize {
        match self {
            Shape::Map { h, w, c } => h * w * c,
            Shape::Flat(n) => n,
        }
    }
}

/// Output size and (before, after) padding of a window along one dimension, TFLite's rule.
pub fn window(input: usize, k: usize, s: usize, same: bool) -> Option<(usize, usize, usize)> {
    if s == 0 || k == 0 {
        return None;
    }
    if same {
        let out = input.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(input);
        Some((out, total / 2, total - total / 2))
    } else {
        if input < k {
            return None;
        }
        Some(((input - k) / s + 1, 0, 0))
    }
}

impl ModelSpec {
    pub fn input(&self) -> Result<Shape> {
        match self.input_shape[..] {
            [h, w, c] if h * w * c > 0 => Ok(Shape::Map { h, w, c }),
            [n] if n > 0 => Ok(Shape::Flat(n)),
            _ => Err(TrainError::Spec(format!(
                "input shape {:?}: expected [H, W, C] or [N]",
                self.input_shape
            ))),
        }
    }

    /// Shape after each layer (`shapes()[i]` is layer i's output), checking every layer.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        let mut s = self.input()?;
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let err = |m: String| TrainError::Spec(format!("layer {i} ({layer:?}): {m}"));
            s = match (*layer, s) {
                (
                    Layer::Conv2d {
                        filters,
                        kernel,
                        stride,
                        same,
                        ..
                    },
                    Shape::Map { h, w, .. },
                ) => {
                    let (oh, ..) = window(h, kernel[0], stride[0], same)
                        .ok_or_else(|| err(format!("does not fit height {h}")))?;
                    let (ow, ..) = window(w, kernel[1], stride[1], same)
                        .ok_or_else(|| err(format!("does not fit width {w}")))?;
                    // candle convolves with one stride for both axes; an axis of size 1
                    // with a kernel of 1 ignores its stride.
                    let trivial = |n: usize, k: usize| n == 1 && k == 1;
                    if stride[0] != stride[1] && !trivial(h, kernel[0]) && !trivial(w, kernel[1]) {
                        return Err(err("different strides per axis are not supported".into()));
                    }
                    if filters == 0 {
                        return Err(err("no filters".into()));
                    }
                    Shape::Map {
                        h: oh,
                        w: ow,
                        c: filters,
                    }
                }
                (
                    Layer::DepthwiseConv2d {
                        kernel,
                        stride,
                        same,
                        ..
                    },
                    Shape::Map { h, w, c },
                ) => {
                    let (oh, ..) = window(h, kernel[0], stride[0], same)
                        .ok_or_else(|| err(format!("does not fit height {h}")))?;
                    let (ow, ..) = window(w, kernel[1], stride[1], same)
                        .ok_or_else(|| err(format!("does not fit width {w}")))?;
                    Shape::Map { h: oh, w: ow, c }
                }
                (Layer::Dense { units, .. }, Shape::Flat(_)) if units > 0 => Shape::Flat(units),
                (Layer::AvgPool2d { size } | Layer::MaxPool2d { size }, Shape::Map { h, w, c }) => {
                    if size[0] == 0 || size[1] == 0 || h < size[0] || w < size[1] {
                        return Err(err(format!("window {size:?} does not fit {h}x{w}")));
                    }
                    Shape::Map {
                        h: h / size[0],
                        w: w / size[1],
                        c,
                    }
                }
                (Layer::GlobalAvgPool, Shape::Map { c, .. }) => Shape::Flat(c),
                (Layer::Flatten, s @ Shape::Map { .. }) => Shape::Flat(s.elements()),
                (_, s) => return Err(err(format!("cannot take input of shape {s:?}"))),
            };
            out.push(s);
        }
        let last = out.last().copied().unwrap_or(s);
        match &self.task {
            Task::Classify { classes } if last != Shape::Flat(classes.len()) => {
                Err(TrainError::Spec(format!(
                    "classifier ends in {last:?}, expected {} logits",
                    classes.len()
                )))
            }
            Task::Reconstruct if last.elements() != self.input()?.elements() => {
                Err(TrainError::Spec(format!(
                    "autoencoder ends in {last:?}, expected {} values",
                    self.input()?.elements()
                )))
            }
            _ => Ok(out),
        }
    }

    pub fn classes(&self) -> Option<&[String]> {
        match &self.task {
            Task::Classify { classes } => Some(classes),
            Task::Reconstruct => None,
        }
    }
}

/// The model families mote trains. `width` scales the channel counts (hidden units for the
/// autoencoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Keyword spotting (MLPerf Tiny KWS shape): conv 10×4 stride 2 with `stem` filters,
    /// `blocks` depthwise-separable blocks of `width` channels (the first one's depthwise
    /// with stride 2 when `downsample`, which keeps wide blocks inside a small arena on
    /// large inputs), global average pool, dense.
    DsCnn {
        stem: usize,
        width: usize,
        blocks: usize,
        downsample: bool,
    },
    /// Images: conv-BN-ReLU + max pool stages, global average pool, dense.
    SmallCnn { width: usize },
    /// Anomaly detection (MLPerf Tiny AD shape): dense 128×4 → 8 → 128×4 → input.
    FcAutoencoder { hidden: usize, bottleneck: usize },
    /// Accelerometer windows `[1, T, axes]`: 1-D convolutions written as 2-D with height 1.
    Conv1d { width: usize },
}

impl Template {
    pub const NAMES: [&'static str; 4] = ["ds_cnn", "small_cnn", "fc_autoencoder", "conv1d"];

    /// The template with its default size.
    pub fn from_name(name: &str) -> Result<Template> {
        Ok(match name {
            "ds_cnn" => Template::DsCnn {
                stem: 64,
                width: 64,
                blocks: 4,
                downsample: false,
            },
            "small_cnn" => Template::SmallCnn { width: 16 },
            "fc_autoencoder" => Template::FcAutoencoder {
                hidden: 128,
                bottleneck: 8,
            },
            "conv1d" => Template::Conv1d { width: 32 },
            _ => {
                return Err(TrainError::Spec(format!(
                    "unknown template `{name}` (known: {})",
                    Self::NAMES.join(", ")
                )))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Template::DsCnn { .. } => "ds_cnn",
            Template::SmallCnn { .. } => "small_cnn",
            Template::FcAutoencoder { .. } => "fc_autoencoder",
            Template::Conv1d { .. } => "conv1d",
        }
    }

    /// The same template with its channel counts scaled by `factor` (at least 1 channel).
    pub fn scaled(&self, factor: f32) -> Template {
        let s = |n: usize| ((n as f32 * factor).round() as usize).max(1);
        match *self {
            Template::DsCnn {
                stem,
                width,
                blocks,
                downsample,
            } => Template::DsCnn {
                stem: s(stem),
                width: s(width),
                blocks,
                downsample,
            },
            Template::SmallCnn { width } => Template::SmallCnn { width: s(width) },
            Template::FcAutoencoder { hidden, bottleneck } => Template::FcAutoencoder {
                hidden: s(hidden),
                bottleneck,
            },
            Template::Conv1d { width } => Template::Conv1d { width: s(width) },
        }
    }

    /// DS-CNN whose int8 activations fit `arena_bytes` (with 5% left for alignment): the
    /// widest operator's input plus output bounds the arena. Without downsampling that is a
    /// depthwise block at half the input's resolution; when that allows fewer than 48
    /// channels, the first block's depthwise takes stride 2 so that the blocks run at a
    /// quarter of the resolution with up to 64 channels.
    pub fn ds_cnn_for_arena(input_shape: &[usize], arena_bytes: usize) -> Template {
        let (h, w) = match input_shape {
            [h, w, ..] => (*h, *w),
            _ => (1, 1),
        };
        let budget = arena_bytes * 95 / 100;
        let input: usize = input_shape.iter().product();
        let half = h.div_ceil(2) * w.div_ceil(2);
        let quarter = h.div_ceil(4) * w.div_ceil(4);
        let widths = [64, 48, 32, 24, 16, 12, 8];
        let plain = widths
            .into_iter()
            .find(|&c| (input + half * c).max(2 * half * c) <= budget)
            .unwrap_or(8);
        if plain >= 48 {
            return Template::DsCnn {
                stem: plain,
                width: plain,
                blocks: 4,
                downsample: false,
            };
        }
        let stem = widths
            .into_iter()
            .find(|&s| (input + half * s).max(half * s + quarter * s) <= budget)
            .unwrap_or(8);
        let width = widths
            .into_iter()
            .find(|&c| (quarter * (stem + c)).max(2 * quarter * c) <= budget)
            .unwrap_or(8);
        Template::DsCnn {
            stem,
            width,
            blocks: 4,
            downsample: true,
        }
    }

    /// Builds the architecture for samples of `input_shape` and `classes` (ignored by the
    /// autoencoder).
    pub fn build(&self, input_shape: &[usize], classes: &[String]) -> Result<ModelSpec> {
        let task = Task::Classify {
            classes: classes.to_vec(),
        };
        let conv = |filters, kernel, stride| Layer::Conv2d {
            filters,
            kernel,
            stride,
            same: true,
            batch_norm: true,
            relu: true,
        };
        let dw = |kernel, stride| Layer::DepthwiseConv2d {
            kernel,
            stride,
            same: true,
            batch_norm: true,
            relu: true,
        };
        let head = |n: usize| Layer::Dense {
            units: n,
            batch_norm: false,
            relu: false,
        };
        let map_input = || -> Result<(usize, usize, usize)> {
            match input_shape {
                [h, w, c] => Ok((*h, *w, *c)),
                [h, w] => Ok((*h, *w, 1)),
                _ => Err(TrainError::Spec(format!(
                    "{} needs samples of shape [H, W, C], got {input_shape:?}",
                    self.name()
                ))),
            }
        };
        let (shape, layers, task) = match *self {
            Template::DsCnn {
                stem,
                width,
                blocks,
                downsample,
            } => {
                let (h, w, c) = map_input()?;
                let mut layers = vec![conv(stem, [10.min(h), 4.min(w)], [2, 2])];
                for b in 0..blocks {
                    let s = if downsample && b == 0 { 2 } else { 1 };
                    layers.push(dw([3, 3], [s, s]));
                    layers.push(conv(width, [1, 1], [1, 1]));
                }
                layers.push(Layer::GlobalAvgPool);
                layers.push(head(classes.len()));
                (vec![h, w, c], layers, task)
            }
            Template::SmallCnn { width } => {
                let (h, w, c) = map_input()?;
                let mut layers = Vec::new();
                let (mut hh, mut ww) = (h, w);
                for stage in 0..3 {
                    layers.push(conv(width << stage, [3, 3], [1, 1]));
                    if hh >= 4 && ww >= 4 {
                        layers.push(Layer::MaxPool2d { size: [2, 2] });
                        hh /= 2;
                        ww /= 2;
                    }
                }
                layers.push(Layer::GlobalAvgPool);
                layers.push(head(classes.len()));
                (vec![h, w, c], layers, task)
            }
            Template::FcAutoencoder { hidden, bottleneck } => {
                let n: usize = input_shape.iter().product();
                if n == 0 {
                    return Err(TrainError::Spec("autoencoder input has no elements".into()));
                }
                let dense = |units| Layer::Dense {
                    units,
                    batch_norm: true,
                    relu: true,
                };
                let mut layers: Vec<Layer> = (0..4).map(|_| dense(hidden)).collect();
                layers.push(dense(bottleneck));
                layers.extend((0..4).map(|_| dense(hidden)));
                layers.push(head(n));
                (vec![n], layers, Task::Reconstruct)
            }
            Template::Conv1d { width } => {
                // [T, axes] or [1, T, axes]: time runs along the width axis.
                let (t, axes) = match input_shape {
                    [t, a] => (*t, *a),
                    [1, t, a] => (*t, *a),
                    _ => {
                        return Err(TrainError::Spec(format!(
                            "conv1d needs samples of shape [T, axes] or [1, T, axes], got {input_shape:?}"
                        )))
                    }
                };
                let k = 5.min(t);
                let layers = vec![
                    conv(width, [1, k], [1, 2]),
                    conv(width, [1, k], [1, 2]),
                    conv(width * 2, [1, 3.min(t)], [1, 1]),
                    Layer::GlobalAvgPool,
                    head(classes.len()),
                ];
                (vec![1, t, axes], layers, task)
            }
        };
        let spec = ModelSpec {
            template: self.name().to_string(),
            input_shape: shape,
            layers,
            task,
        };
        spec.shapes()?;
        Ok(spec)
    }
}
