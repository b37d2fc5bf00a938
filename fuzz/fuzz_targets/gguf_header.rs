//! A GGUF header as stepscope reads it: candle's metadata parser, then our config (with its
//! sane limits), the tensor-shape check and the tokenizer from metadata. Nothing may panic or
//! allocate without bound.
#![no_main]

use candle_core::quantized::gguf_file;
use libfuzzer_sys::fuzz_target;
use stepscope::model::{forward, tokenizer, Config};

fuzz_target!(|data: &[u8]| {
    let Ok(ct) = stepscope::model::read_gguf_header(&mut std::io::Cursor::new(data)) else { return };
    let _: &gguf_file::Content = &ct;
    if let Ok(config) = Config::from_gguf(&ct) {
        let _ = forward::check_gguf_tensors(&config, &ct);
    }
    let _ = tokenizer::from_gguf(&ct);
});
