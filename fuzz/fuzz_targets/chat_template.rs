//! A chat template from a model file, rendered: minijinja with Python string methods, under the
//! fuel limit stepscope sets. Nothing may panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscope::model::{ChatTemplate, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let t = ChatTemplate { source: Some(source.to_string()), bos: "<s>".into(), eos: "</s>".into() };
    let messages = [Message::new("system", "Solve it."), Message::new("user", "What is 2+2?")];
    let _ = t.render(&messages, true);
});
