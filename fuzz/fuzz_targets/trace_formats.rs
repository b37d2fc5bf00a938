//! Every trace reader, on arbitrary bytes: open (detected or forced format), load every record,
//! and write every loaded trace back in every export format. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscope::trace::export::{self, ExportFormat};
use stepscope::trace::{Format, ReadOptions, TraceFile};

const FORMATS: [&str; 8] = ["processbench", "gsm8k", "gsm8k-solutions", "prm800k", "openai", "trl", "jsonl", "text"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    // The first byte picks a forced format (or detection); the rest is the file.
    let format = FORMATS.get(pick as usize % (FORMATS.len() + 1)).map(|f| Format::parse(f).unwrap());
    let path = std::path::Path::new("fuzz.jsonl");
    let Ok(file) = TraceFile::from_bytes(path, rest.to_vec(), format, ReadOptions::default()) else { return };
    let (traces, _problems) = file.load_all();
    for t in &traces {
        let _ = t.answer_correct();
        for to in ["jsonl", "processbench", "prm800k", "trl"] {
            let mut out = Vec::new();
            export::write(ExportFormat::parse(to).unwrap(), &[(t, t.label)], &mut out).unwrap();
        }
    }
});
