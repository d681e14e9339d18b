//! Times the default keyword synthesis: `cargo run --release -p mote-data --example synth_time -- OUT [PER_CLASS]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).cloned().unwrap_or_else(|| "/tmp/kw".into());
    let mut options = mote_data::KeywordOptions::default();
    if let Some(n) = args.get(2).and_then(|s| s.parse().ok()) {
        options.per_class = n;
    }
    match mote_data::synth_keywords(&out, 1, &options) {
        Ok(s) => println!(
            "{} clips in {:.1} s (reused: {})",
            s.total(),
            s.seconds,
            s.reused
        ),
        Err(e) => eprintln!("error: {e}"),
    }
}
