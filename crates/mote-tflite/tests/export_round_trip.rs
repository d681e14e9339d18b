//! `.tflite` export: every real model mote covers, imported, exported and imported again,
//! gives an equal graph (tensors with their names, dtypes, shapes, quantization and bytes;
//! operators with their attributes; inputs and outputs), and exporting that again gives the
//! same bytes.

use mote_testdata::{golden, shared_dir, COVERED_MODELS};

#[test]
fn every_covered_model_round_trips() {
    let Some(shared) = shared_dir() else { return };
    for name in COVERED_MODELS {
        let g = golden(&shared, name);
        let original = std::fs::read(&g.model).unwrap();
        let graph = mote_tflite::import(&original).unwrap_or_else(|e| panic!("{name}: {e}"));
        let exported =
            mote_tflite::export(&graph).unwrap_or_else(|e| panic!("{name}: export: {e}"));
        let again = mote_tflite::import(&exported)
            .unwrap_or_else(|e| panic!("{name}: importing the export: {e}"));
        assert_eq!(again.tensors.len(), graph.tensors.len(), "{name}");
        for (t, (a, b)) in graph.tensors.iter().zip(&again.tensors).enumerate() {
            assert_eq!(a, b, "{name}: tensor #{t} differs after the round trip");
        }
        for (n, (a, b)) in graph.nodes.iter().zip(&again.nodes).enumerate() {
            assert_eq!(a, b, "{name}: operator #{n} differs after the round trip");
        }
        assert_eq!(graph, again, "{name}: graphs differ");
        // Deterministic: the same graph gives the same file.
        assert_eq!(
            mote_tflite::export(&again).unwrap(),
            exported,
            "{name}: export is not deterministic"
        );
        // Constants are written once: the file holds them plus metadata of about the
        // original's size (names, shapes, quantization).
        let constant_bytes: usize = graph
            .tensors
            .iter()
            .filter_map(|t| t.data.as_ref())
            .map(Vec::len)
            .sum();
        assert!(
            exported.len() >= constant_bytes && exported.len() < original.len() + 4096,
            "{name}: {} bytes exported from {} ({constant_bytes} of constants)",
            exported.len(),
            original.len()
        );
    }
}

#[test]
fn an_inconsistent_graph_is_refused_with_the_operator_named() {
    let Some(shared) = shared_dir() else { return };
    let g = golden(&shared, "hello_world_int8");
    let mut graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
    let out = graph.nodes[1].outputs[0];
    graph.tensors[out].shape = vec![1, 3];
    let err = mote_tflite::export(&graph).unwrap_err().to_string();
    assert!(err.contains("operator #"), "{err}");
}
