//! Training, early stopping, checkpoints, metrics and optimisation on small synthetic data.

mod common;

use common::{blobs, quiet};
use mote_train::metrics::roc_auc;
use mote_train::{
    distill, distill_from_teacher_channels, prune_magnitude, prune_structured, qat, train,
    Dataset, Footprint, Metrics, Model, Template, TrainConfig,
};

fn small_cnn_spec(data: &Dataset, width: usize) -> mote_train::ModelSpec {
    Template::SmallCnn { width }
        .build(&data.sample_shape, &data.classes)
        .unwrap()
}

#[test]
fn training_improves_accuracy_on_a_separable_problem() {
    let data = blobs(192, [8, 8, 1], 4, 1);
    let (tr, val) = data.split(0.25, 7);
    let spec = small_cnn_spec(&data, 4);
    let untrained = Model::new(spec.clone(), 3).unwrap();
    let before = mote_train::train::evaluate_model(&untrained, &val)
        .unwrap()
        .accuracy();
    let trained = train(spec, &tr, &val, &quiet(6)).unwrap();
    let after = trained.evaluate(&val).unwrap();
    assert!(
        after.accuracy() > 0.9,
        "accuracy {} (before {before})\n{after}",
        after.accuracy()
    );
    assert!(
        after.accuracy() > before + 0.3,
        "before {before} after {}",
        after.accuracy()
    );
    assert!(trained.history.len() == 6);
    assert!(trained.history.last().unwrap().train_loss < trained.history[0].train_loss);
}

#[test]
fn ds_cnn_and_conv1d_learn_the_toy_problems() {
    let data = blobs(160, [12, 8, 1], 4, 2);
    let (tr, val) = data.split(0.25, 7);
    let spec = Template::DsCnn {
        stem: 8,
        width: 8,
        blocks: 2,
        downsample: false,
    }
    .build(&data.sample_shape, &data.classes)
    .unwrap();
    let t = train(spec, &tr, &val, &quiet(8)).unwrap();
    let acc = t.evaluate(&val).unwrap().accuracy();
    assert!(acc > 0.9, "ds_cnn accuracy {acc}");

    let data = blobs(160, [1, 32, 3], 4, 3);
    let (tr, val) = data.split(0.25, 7);
    let spec = Template::Conv1d { width: 8 }
        .build(&data.sample_shape, &data.classes)
        .unwrap();
    let t = train(spec, &tr, &val, &quiet(8)).unwrap();
    let acc = t.evaluate(&val).unwrap().accuracy();
    assert!(acc > 0.9, "conv1d accuracy {acc}");
}

#[test]
fn early_stopping_stops_when_validation_stops_improving() {
    let data = blobs(64, [8, 8, 1], 4, 4);
    let (tr, val) = data.split(0.25, 7);
    // A learning rate too small to change any prediction: the score never improves after
    // the first epoch, so training stops after 1 + patience + 1 epochs.
    let cfg = TrainConfig {
        learning_rate: 1e-12,
        patience: 1,
        ..quiet(20)
    };
    let t = train(small_cnn_spec(&data, 4), &tr, &val, &cfg).unwrap();
    assert!(t.stopped_early, "{:?}", t.history);
    // Stopped right after `patience + 1` epochs without a better score.
    assert_eq!(t.history.len(), t.best_epoch + 3, "{:?}", t.history);
    assert!(t.history.len() < 20);
    let best = t.history[t.best_epoch].val_score;
    assert!(t.history[t.best_epoch + 1..]
        .iter()
        .all(|e| e.val_score <= best));
}

#[test]
fn resuming_from_a_checkpoint_gives_the_same_weights() {
    let data = blobs(64, [8, 8, 1], 4, 5);
    let (tr, val) = data.split(0.25, 7);
    let spec = small_cnn_spec(&data, 4);
    let dir = std::env::temp_dir().join(format!("mote-train-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let straight = train(spec.clone(), &tr, &val, &quiet(4)).unwrap();
    let interrupted = TrainConfig {
        checkpoint_dir: Some(dir.clone()),
        epoch_limit: Some(2),
        ..quiet(4)
    };
    let first = train(spec.clone(), &tr, &val, &interrupted).unwrap();
    assert_eq!(first.history.len(), 2);
    assert!(dir.join("last.safetensors").exists() && dir.join("best.json").exists());
    let resume = TrainConfig {
        checkpoint_dir: Some(dir.clone()),
        resume: true,
        ..quiet(4)
    };
    let resumed = train(spec, &tr, &val, &resume).unwrap();
    assert_eq!(resumed.history.len(), 4);
    let (a, b) = (
        straight.model.snapshot().unwrap(),
        resumed.model.snapshot().unwrap(),
    );
    for (name, t) in &a {
        let x: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = b[name].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(x, y, "tensor {name} differs after resume");
    }
    // The best model written to the checkpoint loads back.
    let best = Model::load(&dir.join("best")).unwrap();
    assert_eq!(best.spec, straight.model.spec);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metrics_on_hand_made_cases() {
    let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let truth = [0, 0, 0, 1, 1, 2, 2, 2];
    let predicted = [0, 0, 1, 1, 2, 2, 2, 0];
    let m = Metrics::from_predictions(&classes, &truth, &predicted);
    assert_eq!(
        m.confusion,
        vec![vec![2, 1, 0], vec![0, 1, 1], vec![1, 0, 2]]
    );
    assert!((m.accuracy() - 5.0 / 8.0).abs() < 1e-6);
    assert!((m.precision(0) - 2.0 / 3.0).abs() < 1e-6);
    assert!((m.recall(0) - 2.0 / 3.0).abs() < 1e-6);
    assert!((m.precision(1) - 0.5).abs() < 1e-6);
    assert!((m.recall(1) - 0.5).abs() < 1e-6);
    assert!((m.recall(2) - 2.0 / 3.0).abs() < 1e-6);
    let text = m.to_string();
    assert!(
        text.contains("62.50%") && text.contains("precision"),
        "{text}"
    );

    // Perfect separation, perfect inversion, all tied, and a hand-counted case: of the
    // 2·2 (positive, negative) pairs, 3 are ordered right.
    let pos = [false, false, true, true];
    assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &pos), Some(1.0));
    assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &pos), Some(0.0));
    assert_eq!(roc_auc(&[0.5; 4], &pos), Some(0.5));
    assert_eq!(roc_auc(&[0.1, 0.6, 0.5, 0.9], &pos), Some(0.75));
    assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
}

#[test]
fn autoencoder_separates_anomalies_by_reconstruction_error() {
    // Normal samples live on a 2-D subspace of 32 dimensions; anomalies do not.
    let mut rng = mote_train::Rng(9);
    let basis: Vec<Vec<f32>> = (0..2)
        .map(|_| (0..32).map(|_| rng.normal()).collect())
        .collect();
    let sample = |anomal: bool, rng: &mut mote_train::Rng| -> Vec<f32> {
        if anomal {
            (0..32).map(|_| 1.5 * rng.normal()).collect()
        } else {
            let (a, b) = (rng.normal(), rng.normal());
            (0..32)
                .map(|i| a * basis[0][i] + b * basis[1][i] + 0.05 * rng.normal())
                .collect()
        }
    };
    let classes = vec!["normal".to_string(), "anomaly".to_string()];
    let mut f = Vec::new();
    for _ in 0..256 {
        f.extend(sample(false, &mut rng));
    }
    let train_set = Dataset::new(f, vec![32], vec![0; 256], classes.clone()).unwrap();
    let (mut f, mut l) = (Vec::new(), Vec::new());
    for i in 0..80 {
        f.extend(sample(i % 2 == 1, &mut rng));
        l.push(i % 2);
    }
    let test = Dataset::new(f, vec![32], l, classes.clone()).unwrap();
    let spec = Template::FcAutoencoder {
        hidden: 32,
        bottleneck: 4,
    }
    .build(&[32], &classes)
    .unwrap();
    let t = train(spec, &train_set, &test, &quiet(10)).unwrap();
    let m = t.evaluate(&test).unwrap();
    assert!(m.auc.unwrap() > 0.9, "AUC {:?}", m.auc);
}

#[test]
fn structured_pruning_really_shrinks_the_network() {
    let data = blobs(160, [8, 8, 1], 4, 6);
    let (tr, val) = data.split(0.25, 7);
    let spec = Template::DsCnn {
        stem: 16,
        width: 16,
        blocks: 2,
        downsample: false,
    }
    .build(&data.sample_shape, &data.classes)
    .unwrap();
    let base = train(spec, &tr, &val, &quiet(6)).unwrap();
    let fine_tune = quiet(8);
    let pruned = prune_structured(&base.model, 0.5, &tr, &val, &fine_tune, None).unwrap();
    let (b, a) = (pruned.before, pruned.after);
    assert!(a.macs as f64 <= 0.6 * b.macs as f64, "{pruned}");
    assert!(a.parameters < b.parameters, "{pruned}");
    assert!(pruned.trained.to_graph().unwrap().check().is_ok());
    assert!(pruned.score_after > 0.85, "{pruned}");
    eprintln!("{pruned}");
    // The pruned model is a narrower DS-CNN.
    let widths: Vec<usize> = pruned
        .trained
        .model
        .spec
        .layers
        .iter()
        .filter_map(|l| match l {
            mote_train::Layer::Conv2d { filters, .. } => Some(*filters),
            _ => None,
        })
        .collect();
    assert_eq!(widths, vec![8, 8, 8]);

    // Fine-tuned on the unpruned model's soft outputs as well: the same narrower network.
    let distilled =
        prune_structured(&base.model, 0.5, &tr, &val, &fine_tune, Some((2.0, 0.5))).unwrap();
    assert_eq!(distilled.after.macs, a.macs, "{distilled}");
    assert!(distilled.score_after > 0.85, "{distilled}");
    let bad = prune_structured(&base.model, 0.5, &tr, &val, &fine_tune, Some((2.0, 1.5)));
    assert!(bad.is_err());
}

#[test]
fn distillation_trains_a_smaller_student() {
    let data = blobs(160, [8, 8, 1], 4, 8);
    let (tr, val) = data.split(0.25, 7);
    let teacher = train(small_cnn_spec(&data, 8), &tr, &val, &quiet(6)).unwrap();
    let student = small_cnn_spec(&data, 4);
    let d = distill(&teacher.model, student, &tr, &val, &quiet(6), 4.0, 0.7).unwrap();
    assert!(d.after.parameters * 3 < d.before.parameters, "{d}");
    assert!(d.score_after > 0.85, "{d}");

    // A student cut from the teacher's own channels, at most a quarter of its parameters.
    let cut =
        distill_from_teacher_channels(&teacher.model, 0.25, &tr, &val, &quiet(6), 4.0, 0.7)
            .unwrap();
    assert!(cut.after.parameters * 4 <= cut.before.parameters, "{cut}");
    assert!(cut.after.parameters * 8 > cut.before.parameters, "{cut}");
    assert!(cut.score_after > 0.85, "{cut}");
    let bad = distill_from_teacher_channels(&teacher.model, 1.5, &tr, &val, &quiet(1), 4.0, 0.7);
    assert!(bad.is_err());
}

#[test]
fn magnitude_pruning_keeps_masked_weights_at_zero() {
    let data = blobs(96, [8, 8, 1], 4, 10);
    let (tr, val) = data.split(0.25, 7);
    let base = train(small_cnn_spec(&data, 4), &tr, &val, &quiet(4)).unwrap();
    let p = prune_magnitude(&base.model, 0.5, 2, &tr, &val, &quiet(4)).unwrap();
    let f = Footprint::of(&p.trained.model).unwrap();
    assert_eq!(f.parameters, p.before.parameters);
    // Half of the weights (not the biases) are zero.
    let weights: usize = p
        .trained
        .model
        .params()
        .iter()
        .filter(|(n, _)| n.ends_with(".weight"))
        .map(|(_, v)| v.elem_count())
        .sum();
    assert!(
        f.nonzero_parameters <= f.parameters - weights / 2 + 4,
        "{p}"
    );
    assert!(p.score_after > 0.8, "{p}");
}

#[test]
fn quantization_aware_training_keeps_accuracy_and_saves_ranges() {
    let data = blobs(96, [8, 8, 1], 4, 11);
    let (tr, val) = data.split(0.25, 7);
    let base = train(small_cnn_spec(&data, 4), &tr, &val, &quiet(4)).unwrap();
    let q = qat(&base.model, &tr, &val, &quiet(2)).unwrap();
    assert!(q.score_after > 0.85, "{q}");
    let ranges = q.trained.model.qat_ranges().unwrap();
    assert!(ranges.iter().any(|r| r.is_some()));
    let path = std::env::temp_dir().join(format!("mote-train-qat-{}", std::process::id()));
    q.trained.save(&path).unwrap();
    let back = Model::load(&path).unwrap();
    assert_eq!(back.qat_ranges(), Some(ranges));
    let _ = std::fs::remove_file(path.with_extension("json"));
    let _ = std::fs::remove_file(path.with_extension("safetensors"));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(Dataset::new(vec![0.0; 5], vec![2], vec![0, 0], vec!["a".into()]).is_err());
    assert!(Dataset::new(vec![0.0; 4], vec![2], vec![0, 3], vec!["a".into()]).is_err());
    assert!(Template::from_name("resnet999").is_err());
    assert!(Template::DsCnn {
        stem: 8,
        width: 8,
        blocks: 1,
        downsample: false
    }
    .build(&[640], &["a".into()])
    .is_err());
    let data = blobs(8, [8, 8, 1], 2, 1);
    let other = blobs(8, [4, 4, 1], 2, 1);
    assert!(train(small_cnn_spec(&data, 2), &other, &other, &quiet(1)).is_err());
    assert!(Model::load(std::path::Path::new("/nonexistent/model")).is_err());
}

#[test]
fn removing_no_channel_keeps_the_outputs_and_removing_half_keeps_the_strongest() {
    let data = blobs(96, [8, 8, 1], 4, 12);
    let (tr, val) = data.split(0.25, 7);
    let spec = Template::DsCnn {
        stem: 8,
        width: 8,
        blocks: 2,
        downsample: false,
    }
    .build(&data.sample_shape, &data.classes)
    .unwrap();
    let base = train(spec, &tr, &val, &quiet(3)).unwrap();
    let same = mote_train::remove_channels(&base.model, 0.0, 1).unwrap();
    let a = base.evaluate(&val).unwrap();
    let b = mote_train::train::evaluate_model(&same, &val).unwrap();
    assert_eq!(a.confusion, b.confusion);
    assert!((a.loss - b.loss).abs() < 1e-5);
    let half = mote_train::remove_channels(&base.model, 0.5, 1).unwrap();
    assert!(half.parameter_count() < base.model.parameter_count());
}
