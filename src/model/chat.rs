//! Chat templates rendered with minijinja (GGUF `tokenizer.chat_template` or
//! `tokenizer_config.json`), with a ChatML fallback when a model has none.

use anyhow::{anyhow, Result};
use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message { role: role.into(), content: content.into() }
    }
}

#[derive(Debug, Clone)]
pub struct ChatTemplate {
    pub source: Option<String>,
    pub bos: String,
    pub eos: String,
}

/// Template instructions one render may execute (real chat templates need a few thousand).
const TEMPLATE_FUEL: u64 = 1_000_000;

/// Wall time one render may take (real chat templates render in well under a millisecond).
pub const TEMPLATE_SECONDS: u64 = 5;

/// Memory one render may allocate (a chat of a 30k-token trace renders in well under 1 MiB).
pub const TEMPLATE_BYTES: usize = 64 << 20;

const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

impl ChatTemplate {
    /// Renders the conversation; with `add_generation_prompt` it ends where the assistant speaks.
    ///
    /// A template comes from a model file. Fuel bounds its instructions, but one instruction can
    /// still loop for minutes (`{{ 3333340000 * () }}` iterates an empty list 3e9 times, found by
    /// fuzzing), and a few can double a string until memory runs out; so the render runs under
    /// [`super::bounded::run`], with `TEMPLATE_SECONDS` and `TEMPLATE_BYTES`: the caller never
    /// hangs and the process never aborts.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let (this, messages) = (self.clone(), messages.to_vec());
        let limit = std::time::Duration::from_secs(TEMPLATE_SECONDS);
        let key = super::fnv1a(super::FNV_OFFSET, self.source.as_deref().unwrap_or(CHATML).as_bytes());
        super::bounded::run_keyed(key, "stepscope-template", limit, TEMPLATE_BYTES, move || {
            this.render_here(&messages, add_generation_prompt)
        })
        .map_err(|e| anyhow!("chat template: rendering {e}; the template is refused"))?
    }

    fn render_here(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let mut env = Environment::new();
        // A template comes from a model file: bound its work so a hostile one cannot hang us.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        let src = self.source.as_deref().unwrap_or(CHATML);
        env.add_template("chat", src).map_err(|e| anyhow!("chat template: {e}"))?;
        let tmpl = env.get_template("chat").map_err(|e| anyhow!("chat template: {e}"))?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos,
            eos_token => self.eos,
        })
        .map_err(|e| anyhow!("chat template: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_fallback_and_custom_template() {
        let t = ChatTemplate { source: None, bos: String::new(), eos: String::new() };
        let s = t.render(&[Message::new("user", "2+2?")], true).unwrap();
        assert_eq!(s, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
        let t = ChatTemplate {
            source: Some(
                "{{ bos_token }}{% for m in messages %}[{{ m.role|upper }}] {{ m.content.strip() }}{% endfor %}".into(),
            ),
            bos: "<s>".into(),
            eos: String::new(),
        };
        assert_eq!(t.render(&[Message::new("user", " hi ")], false).unwrap(), "<s>[USER] hi");
    }

    #[test]
    fn a_template_that_never_ends_is_stopped() {
        let source = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let t = ChatTemplate { source: Some(source.into()), bos: String::new(), eos: String::new() };
        let e = t.render(&[Message::new("user", "hi")], true).unwrap_err().to_string();
        assert!(e.contains("fuel"), "{e}");
    }

    /// A few instructions that double a string 40 times: refused at the memory budget, not an
    /// abort on a terabyte allocation.
    #[test]
    fn a_template_that_fills_memory_is_refused() {
        let source =
            "{% set s = namespace(v='x') %}{% for i in range(40) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}";
        let t = ChatTemplate { source: Some(source.into()), bos: String::new(), eos: String::new() };
        let e = t.render(&[Message::new("user", "hi")], true).unwrap_err().to_string();
        assert!(e.contains("needed more than 64 MiB"), "{e}");
    }

    /// One instruction that loops for minutes: the render gives up after its time limit.
    #[test]
    fn a_template_stuck_in_one_instruction_is_given_up() {
        let t = ChatTemplate { source: Some("{{ 3333340000 * () }}".into()), bos: String::new(), eos: String::new() };
        let e = t.render(&[Message::new("user", "hi")], true).unwrap_err().to_string();
        assert!(e.contains("did not finish"), "{e}");
    }
}
