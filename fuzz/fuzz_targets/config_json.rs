//! An HF config.json as stepscope reads it: any JSON, then the config with its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscope::model::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(c) = Config::from_hf_json(&v) {
            let _ = c.approx_params();
        }
    }
});
