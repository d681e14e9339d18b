//! Where a DS-CNN training step spends its time (forward, backward, update).
use mote_train::model::Mode;
use mote_train::{Model, Rng, Template};
use std::time::Instant;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
    let shape = [49, 40, 1];
    let spec = Template::DsCnn {
        stem: 64,
        width: 64,
        blocks: 2,
        downsample: false,
    }
    .build(&shape, &classes)?;
    let model = Model::new(spec, 1)?;
    let mut rng = Rng(1);
    // Train once so the library's allocator settings apply.
    let tiny = mote_train::Dataset::new(vec![0.0; 1960], shape.to_vec(), vec![0], classes.clone())?;
    let cfg = mote_train::TrainConfig {
        epochs: 1,
        progress: false,
        ..Default::default()
    };
    mote_train::train(model.spec.clone(), &tiny, &tiny, &cfg)?;
    let x = model.batch_tensor((0..32 * 1960).map(|_| rng.normal()).collect(), 32)?;
    for _ in 0..3 {
        let t = Instant::now();
        let y = model.forward(&x, Mode::Train)?;
        let loss = y.sqr()?.mean_all()?;
        let f = t.elapsed();
        let t = Instant::now();
        let _g = loss.backward()?;
        let b = t.elapsed();
        let t = Instant::now();
        let _ = model.forward(&x, Mode::Eval)?;
        println!("train fwd {f:?} bwd {b:?} eval fwd {:?}", t.elapsed());
    }
    Ok(())
}
