//! Where a refined trace came from: the `refinement` object of a native trace. `service::refine`
//! writes it; the TUI and the CLI read these fields and no string key (ARCHITECTURE.md lists the
//! contract). Files written by earlier versions read back equal: fields they lack are optional,
//! keys a later version adds are kept in `other`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The id of the draft it was made from.
    pub parent: String,
    /// The strategy's name (`refine::strategy::Strategy` parses it).
    pub strategy: String,
    /// The first wrong step the rewrite started from (none: a whole new solution).
    #[serde(default)]
    pub from_step: Option<usize>,
    /// `NAME@hash` of the prompt template, or `plain` for the question as asked.
    #[serde(default)]
    pub prompt: String,
    #[serde(default)]
    pub generator: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub cancelled: bool,
    /// `edit`: the step as the user rewrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_step: Option<String>,
    /// What it depends on besides parent, strategy and seed (the reuse key); absent in files
    /// written before reuse checked it, and such a candidate is made again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// Tokens generated, every attempt counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Generations it took (`local` samples again when a rewrite visibly failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<usize>,
    /// Keys this version does not know, written back unchanged.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Provenance {
    /// Reads the `refinement` value of a native trace; the message names the bad field.
    pub fn from_value(v: Value) -> Result<Provenance, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a provenance is plain data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_equal_with_fields_it_does_not_know() {
        let old = json!({"parent": "p", "strategy": "local", "from_step": null, "prompt": "plain",
                         "generator": "g", "seed": 42, "stop": "Eos", "cancelled": false,
                         "generated_tokens": 12, "seconds": 0.25, "later": {"x": 1}});
        let p = Provenance::from_value(old.clone()).unwrap();
        assert_eq!((p.parent.as_str(), p.from_step, p.seed, p.generated_tokens), ("p", None, 42, Some(12)));
        assert_eq!(p.other["later"], json!({"x": 1}));
        assert_eq!(p.to_value(), old);
        let minimal = Provenance::from_value(json!({"parent": "p", "strategy": "edit", "seed": 1})).unwrap();
        assert_eq!((minimal.strategy.as_str(), minimal.settings, minimal.attempts), ("edit", None, None));
        let e = Provenance::from_value(json!({"parent": 3, "strategy": "local"})).unwrap_err();
        assert!(e.contains("expected a string"), "{e}");
    }
}
