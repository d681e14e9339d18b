//! Time per training step of DS-CNNs on the CPU (batch 32, forward + backward + Adam), the
//! figure the README reports. `cargo run --release -p mote-train --example step_time`.

use std::time::Instant;

use mote_train::{Dataset, Rng, Template, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let classes: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
    for (shape, template) in [
        (
            vec![49, 40, 1],
            Template::DsCnn {
                stem: 64,
                width: 64,
                blocks: 2,
                downsample: false,
            },
        ),
        (
            vec![49, 40, 1],
            Template::DsCnn {
                stem: 64,
                width: 64,
                blocks: 4,
                downsample: false,
            },
        ),
        (
            vec![49, 40, 1],
            Template::ds_cnn_for_arena(&[49, 40, 1], 20 * 1024),
        ),
        (
            vec![49, 10, 1],
            Template::DsCnn {
                stem: 64,
                width: 64,
                blocks: 4,
                downsample: false,
            },
        ),
    ] {
        let n = 32 * 6;
        let size: usize = shape.iter().product();
        let mut rng = Rng(1);
        let data = Dataset::new(
            (0..n * size).map(|_| rng.normal()).collect(),
            shape.clone(),
            (0..n).map(|i| i % 12).collect(),
            classes.clone(),
        )?;
        let spec = template.build(&shape, &classes)?;
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: 32,
            progress: false,
            ..TrainConfig::default()
        };
        // The first epoch's validation pass on an empty set is free; time the 6 steps.
        let empty = data.subset(&[]);
        let start = Instant::now();
        mote_train::train(spec, &data, &empty, &cfg)?;
        let ms = start.elapsed().as_secs_f64() * 1000.0 / 6.0;
        println!("{template:?} input {shape:?}: {ms:.0} ms per step of 32");
    }
    Ok(())
}
