//! Depthwise convolution for training as one candle custom operation with a hand-written
//! backward pass.
//!
//! candle has no depthwise kernel: its grouped convolution runs one convolution per channel,
//! and composing the layer from kh·kw shifted slices (what mote did first) spends most of a
//! DS-CNN's training time copying strided views and building a long autodiff graph. Here the
//! forward pass and both gradients are three plain loops over contiguous `[C, N, H, W]`
//! buffers, split across cores by channel on candle's own worker threads (a second pool
//! would fight candle's spinning workers for the cores). The composite version is kept in the tests as
//! the reference these loops must agree with.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use std::sync::Mutex;

/// Geometry of one depthwise convolution over an already padded input.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    channels: usize,
    batch: usize,
    /// Padded input height and width.
    in_h: usize,
    in_w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn in_plane(&self) -> usize {
        self.batch * self.in_h * self.in_w
    }
    fn out_plane(&self) -> usize {
        self.batch * self.out_h * self.out_w
    }
    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// Runs `work(c, plane)` on every `plane`-sized chunk of `out` (one per channel), spread
/// over candle's worker threads.
fn per_channel(out: &mut [f32], plane: usize, work: impl Fn(usize, &mut [f32]) + Sync) {
    if plane == 0 {
        return;
    }
    // One lock per channel, each taken once by the one thread that runs that channel: a
    // safe way to hand disjoint chunks to the pool's `Fn` workers.
    let planes: Vec<Mutex<&mut [f32]>> = out.chunks_mut(plane).map(Mutex::new).collect();
    candle_core::utils::barrier_pool().execute_chunked(planes.len(), |channels| {
        for c in channels {
            let mut chunk = planes[c].lock().unwrap_or_else(|e| e.into_inner());
            work(c, &mut chunk);
        }
    });
}

/// The contiguous f32 values of a custom op's argument.
fn values<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        candle_core::bail!("depthwise convolution: {what} must be f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("depthwise convolution: {what} must be contiguous");
    };
    Ok(&all[start..end])
}

/// `y[c, n, i, j] = Σ_ab x[c, n, i·sh + a, j·sw + b] · w[c, a, b]`.
struct Forward(Geometry);

impl CustomOp2 for Forward {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = values(xs, xl, "input")?;
        let w = values(ws, wl, "weight")?;
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.stride;
        let mut y = vec![0f32; g.channels * g.out_plane()];
        per_channel(&mut y, g.out_plane(), |c, out| {
            let x = &x[c * g.in_plane()..(c + 1) * g.in_plane()];
            let w = &w[c * g.taps()..(c + 1) * g.taps()];
            for n in 0..g.batch {
                let image = &x[n * g.in_h * g.in_w..(n + 1) * g.in_h * g.in_w];
                for i in 0..g.out_h {
                    let row_out = &mut out[(n * g.out_h + i) * g.out_w..][..g.out_w];
                    for a in 0..kh {
                        let row_in = &image[(i * sh + a) * g.in_w..][..g.in_w];
                        for b in 0..kw {
                            let tap = w[a * kw + b];
                            if sw == 1 {
                                for (o, v) in row_out.iter_mut().zip(&row_in[b..]) {
                                    *o += tap * v;
                                }
                            } else {
                                for (j, o) in row_out.iter_mut().enumerate() {
                                    *o += tap * row_in[j * sw + b];
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok((
            CpuStorage::F32(y),
            Shape::from((g.channels, g.batch, g.out_h, g.out_w)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad_y: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_y = grad_y.contiguous()?;
        let grad_x = grad_y.apply_op2_no_bwd(w, &InputGradient(self.0))?;
        let grad_w = x.apply_op2_no_bwd(&grad_y, &WeightGradient(self.0))?;
        Ok((Some(grad_x), Some(grad_w)))
    }
}

/// `dx[c, n, i·sh + a, j·sw + b] += dy[c, n, i, j] · w[c, a, b]`.
struct InputGradient(Geometry);

impl CustomOp2 for InputGradient {
    fn name(&self) -> &'static str {
        "depthwise-conv2d-input-gradient"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let dy = values(gs, gl, "output gradient")?;
        let w = values(ws, wl, "weight")?;
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.stride;
        let mut dx = vec![0f32; g.channels * g.in_plane()];
        per_channel(&mut dx, g.in_plane(), |c, grad_in| {
            let dy = &dy[c * g.out_plane()..(c + 1) * g.out_plane()];
            let w = &w[c * g.taps()..(c + 1) * g.taps()];
            for n in 0..g.batch {
                let image = &mut grad_in[n * g.in_h * g.in_w..(n + 1) * g.in_h * g.in_w];
                for i in 0..g.out_h {
                    let row_dy = &dy[(n * g.out_h + i) * g.out_w..][..g.out_w];
                    for a in 0..kh {
                        let row_in = &mut image[(i * sh + a) * g.in_w..][..g.in_w];
                        for b in 0..kw {
                            let tap = w[a * kw + b];
                            if sw == 1 {
                                for (d, v) in row_in[b..].iter_mut().zip(row_dy) {
                                    *d += tap * v;
                                }
                            } else {
                                for (j, v) in row_dy.iter().enumerate() {
                                    row_in[j * sw + b] += tap * v;
                                }
                            }
                        }
                    }
                }
            }
        });
        Ok((
            CpuStorage::F32(dx),
            Shape::from((g.channels, g.batch, g.in_h, g.in_w)),
        ))
    }
}

/// `dw[c, a, b] = Σ_nij dy[c, n, i, j] · x[c, n, i·sh + a, j·sw + b]`.
struct WeightGradient(Geometry);

impl CustomOp2 for WeightGradient {
    fn name(&self) -> &'static str {
        "depthwise-conv2d-weight-gradient"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = values(xs, xl, "input")?;
        let dy = values(gs, gl, "output gradient")?;
        let [kh, kw] = g.kernel;
        let [sh, sw] = g.stride;
        let mut dw = vec![0f32; g.channels * g.taps()];
        per_channel(&mut dw, g.taps(), |c, taps| {
            let x = &x[c * g.in_plane()..(c + 1) * g.in_plane()];
            let dy = &dy[c * g.out_plane()..(c + 1) * g.out_plane()];
            for (t, tap) in taps.iter_mut().enumerate() {
                let (a, b) = (t / kw, t % kw);
                debug_assert!(a < kh);
                let mut sum = 0f32;
                for n in 0..g.batch {
                    let image = &x[n * g.in_h * g.in_w..(n + 1) * g.in_h * g.in_w];
                    for i in 0..g.out_h {
                        let row_dy = &dy[(n * g.out_h + i) * g.out_w..][..g.out_w];
                        let row_in = &image[(i * sh + a) * g.in_w..][..g.in_w];
                        if sw == 1 {
                            sum += row_dy
                                .iter()
                                .zip(&row_in[b..])
                                .map(|(d, v)| d * v)
                                .sum::<f32>();
                        } else {
                            sum += row_dy
                                .iter()
                                .enumerate()
                                .map(|(j, d)| d * row_in[j * sw + b])
                                .sum::<f32>();
                        }
                    }
                }
                *tap = sum;
            }
        });
        Ok((
            CpuStorage::F32(dw),
            Shape::from((g.channels, kh, kw)),
        ))
    }
}

/// Depthwise convolution of `x` `[C, N, H, W]`, already padded so that the window covers it
/// exactly (`H = (out_h - 1)·sh + kh`), by `w` `[C, kh, kw]`: `[C, N, out_h, out_w]`.
/// Differentiable in both arguments.
pub(crate) fn depthwise_conv2d(
    x: &Tensor,
    w: &Tensor,
    stride: [usize; 2],
    out: [usize; 2],
) -> candle_core::Result<Tensor> {
    let (channels, batch, in_h, in_w) = x.dims4()?;
    let (wc, kh, kw) = w.dims3()?;
    let [sh, sw] = stride;
    let [out_h, out_w] = out;
    if wc != channels
        || sh == 0
        || sw == 0
        || out_h == 0
        || out_w == 0
        || (out_h - 1) * sh + kh > in_h
        || (out_w - 1) * sw + kw > in_w
    {
        candle_core::bail!(
            "depthwise convolution: input {:?}, weight {:?}, stride {stride:?} and output {out:?} do not agree",
            x.dims(),
            w.dims()
        );
    }
    let geometry = Geometry {
        channels,
        batch,
        in_h,
        in_w,
        kernel: [kh, kw],
        stride,
        out_h,
        out_w,
    };
    x.contiguous()?
        .apply_op2(&w.contiguous()?, Forward(geometry))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use crate::model::depthwise_composite;
    use crate::spec::window;
    use crate::Rng;

    fn random(shape: &[usize], rng: &mut Rng) -> Tensor {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_difference(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Output and both gradients of the custom operation against the composite of candle's
    /// own operations, over kernels, strides and both padding rules.
    #[test]
    fn custom_operation_matches_the_composite_forward_and_backward() {
        let mut rng = Rng(7);
        let cases = [
            // (c, n, h, w, kernel, stride, same)
            (3, 2, 7, 6, [3, 3], [1, 1], true),
            (4, 3, 9, 8, [3, 3], [2, 2], true),
            (2, 2, 9, 9, [3, 3], [2, 2], false),
            (5, 1, 1, 17, [1, 5], [1, 2], true),
            (2, 4, 6, 5, [2, 4], [1, 3], true),
            (1, 2, 5, 5, [5, 5], [1, 1], false),
        ];
        for (c, n, h, wd, kernel, stride, same) in cases {
            let x = Var::from_tensor(&random(&[c, n, h, wd], &mut rng)).unwrap();
            let w = Var::from_tensor(&random(&[c, kernel[0], kernel[1]], &mut rng)).unwrap();
            let (oh, _, _) = window(h, kernel[0], stride[0], same).unwrap();
            let (ow, _, _) = window(wd, kernel[1], stride[1], same).unwrap();
            let probe = random(&[c, n, oh, ow], &mut rng);
            let run = |custom: bool| {
                let y = if custom {
                    crate::model::depthwise(
                        x.as_tensor(),
                        w.as_tensor(),
                        h,
                        wd,
                        oh,
                        ow,
                        kernel,
                        stride,
                        same,
                    )
                } else {
                    depthwise_composite(
                        x.as_tensor(),
                        w.as_tensor(),
                        h,
                        wd,
                        c,
                        oh,
                        ow,
                        kernel,
                        stride,
                        same,
                    )
                }
                .unwrap();
                let grads = (&y * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let gx = grads.get(x.as_tensor()).unwrap().clone();
                let gw = grads.get(w.as_tensor()).unwrap().clone();
                (y, gx, gw)
            };
            let (y, gx, gw) = run(true);
            let (y_ref, gx_ref, gw_ref) = run(false);
            let case = format!("{c}x{n}x{h}x{wd} kernel {kernel:?} stride {stride:?} same {same}");
            assert!(max_difference(&y, &y_ref) < 1e-5, "output, {case}");
            assert!(
                max_difference(&gx, &gx_ref) < 1e-5,
                "input gradient, {case}"
            );
            assert!(
                max_difference(&gw, &gw_ref) < 1e-4,
                "weight gradient, {case}"
            );
        }
    }

    #[test]
    fn mismatched_shapes_are_an_error() {
        let mut rng = Rng(1);
        let x = random(&[3, 1, 5, 5], &mut rng);
        let w = random(&[2, 3, 3], &mut rng);
        let err = super::depthwise_conv2d(&x, &w, [1, 1], [3, 3]).unwrap_err();
        assert!(err.to_string().contains("do not agree"), "{err}");
        let w = random(&[3, 3, 3], &mut rng);
        assert!(super::depthwise_conv2d(&x, &w, [1, 1], [4, 3]).is_err());
    }
}
