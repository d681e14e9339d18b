//! The exported float graph, compiled by mote's compiler and run by mote's runtime, gives the
//! framework's own outputs for every template; save/load keeps them.

mod common;

use candle_core::Tensor;
use common::run_in_runtime;
use mote_train::model::Mode;
use mote_train::{Model, Rng, Template};

fn framework_output(model: &Model, input: &[f32]) -> Vec<f32> {
    let x = model.batch_tensor(input.to_vec(), 1).unwrap();
    let out = model.forward(&x, Mode::Eval).unwrap();
    let out = if model.spec.classes().is_some() {
        // The graph ends in SOFTMAX.
        let e = out.exp().unwrap();
        e.broadcast_div(&e.sum_keepdim(1).unwrap()).unwrap()
    } else {
        out
    };
    out.flatten_all().unwrap().to_vec1().unwrap()
}

/// Gives batch norm non-trivial statistics so that folding is really exercised.
fn randomise_batch_norm(model: &Model, rng: &mut Rng) {
    for (name, var) in model.params() {
        let n = var.elem_count();
        let values: Vec<f32> =
            if name.ends_with(".mean") || name.ends_with(".beta") || name.ends_with(".bias") {
                (0..n).map(|_| 0.3 * rng.normal()).collect()
            } else if name.ends_with(".var") || name.ends_with(".gamma") {
                (0..n).map(|_| rng.uniform(0.5, 1.5)).collect()
            } else {
                continue;
            };
        var.set(&Tensor::from_vec(values, var.dims(), &candle_core::Device::Cpu).unwrap())
            .unwrap();
    }
}

#[test]
fn exported_graph_runs_like_the_framework_for_every_template() {
    let classes: Vec<String> = (0..5).map(|k| format!("k{k}")).collect();
    let cases: Vec<(Template, Vec<usize>)> = vec![
        (
            Template::DsCnn {
                stem: 12,
                width: 12,
                blocks: 2,
                downsample: false,
            },
            vec![49, 10, 1],
        ),
        (
            Template::DsCnn {
                stem: 8,
                width: 8,
                blocks: 1,
                downsample: false,
            },
            vec![15, 9, 2],
        ),
        (
            Template::DsCnn {
                stem: 6,
                width: 10,
                blocks: 2,
                downsample: true,
            },
            vec![21, 13, 1],
        ),
        (Template::SmallCnn { width: 4 }, vec![17, 16, 3]),
        (
            Template::FcAutoencoder {
                hidden: 24,
                bottleneck: 4,
            },
            vec![40],
        ),
        (Template::Conv1d { width: 6 }, vec![1, 33, 3]),
    ];
    let mut rng = Rng(42);
    for (template, shape) in cases {
        let spec = template.build(&shape, &classes).unwrap();
        let model = Model::new(spec, 5).unwrap();
        randomise_batch_norm(&model, &mut rng);
        let graph = mote_train::export::to_graph(&model).unwrap();
        graph.check().unwrap();
        let n: usize = shape.iter().product();
        for _ in 0..3 {
            let input: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let want = framework_output(&model, &input);
            let got = run_in_runtime(&graph, &input);
            assert_eq!(got.len(), want.len(), "{template:?}");
            let err = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err <= 1e-4, "{template:?}: runtime differs by {err}");
        }
    }
}

#[test]
fn saved_model_loads_with_the_same_outputs() {
    let classes: Vec<String> = (0..3).map(|k| format!("k{k}")).collect();
    let spec = Template::SmallCnn { width: 4 }
        .build(&[8, 8, 1], &classes)
        .unwrap();
    let model = Model::new(spec, 9).unwrap();
    randomise_batch_norm(&model, &mut Rng(1));
    let path = std::env::temp_dir().join(format!("mote-train-save-{}", std::process::id()));
    model.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    let input: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    assert_eq!(
        framework_output(&model, &input),
        framework_output(&back, &input)
    );
    let _ = std::fs::remove_file(path.with_extension("json"));
    let _ = std::fs::remove_file(path.with_extension("safetensors"));
}

#[test]
fn keyword_template_sized_for_20_kb_fits_as_int8() {
    let classes: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
    let shape = [49, 40, 1];
    let template = Template::ds_cnn_for_arena(&shape, 20 * 1024);
    let model = Model::new(template.build(&shape, &classes).unwrap(), 3).unwrap();
    randomise_batch_norm(&model, &mut Rng(2));
    let graph = mote_train::export::to_graph(&model).unwrap();
    let mut rng = Rng(4);
    let calibration: Vec<Vec<f32>> = (0..4)
        .map(|_| (0..49 * 40).map(|_| rng.uniform(0.0, 10.0)).collect())
        .collect();
    let (int8, report) =
        mote_compiler::quantize(&graph, &calibration, &Default::default()).unwrap();
    let compiled = mote_compiler::compile(&int8).unwrap();
    assert!(
        compiled.report.arena_bytes <= 20 * 1024,
        "{template:?}: arena {} B",
        compiled.report.arena_bytes
    );
    assert!(
        report.int8_weight_bytes <= 64 * 1024,
        "{template:?}: weights {} B",
        report.int8_weight_bytes
    );
    eprintln!(
        "{template:?}: int8 arena {} B, weights {} B, {} MACs",
        compiled.report.arena_bytes, report.int8_weight_bytes, report.macs
    );
}
