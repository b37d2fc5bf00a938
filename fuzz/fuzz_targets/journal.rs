//! The label journal on arbitrary bytes: replay, queries, compaction, and replay again. Nothing
//! may panic, and compaction must not change any current label.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscope::trace::store::{compact_file, Store};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("stepscope-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.jsonl.stepscope.jsonl");
    let _ = std::fs::remove_file(path.with_extension("jsonl.rejected"));
    std::fs::write(&path, data).unwrap();
    let Ok(before) = Store::open(&path) else { return };
    let labels = |s: &Store| -> Vec<(String, String, i64)> {
        let mut v: Vec<_> =
            s.all_labels().into_iter().map(|(t, a, l, _)| (t.to_string(), a.to_string(), l.to_index())).collect();
        v.sort();
        v
    };
    let specs = before.result_specs();
    for (t, _, _) in labels(&before) {
        let _ = before.latest_label(&t);
        let _ = before.results_for(&t);
    }
    compact_file(&path).unwrap();
    let after = Store::open(&path).unwrap();
    assert_eq!(labels(&before), labels(&after), "compaction changed a label");
    assert_eq!(specs, after.result_specs(), "compaction changed the stored results");
});
