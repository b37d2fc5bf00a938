//! Options shared by the commands that run a model.

use clap::{Args, ValueEnum};

use super::serverargs::ServerArgs;
use crate::model::{self, DeviceChoice, LoadOptions, Model, Precision, WeightMode};

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: a short name (smollm2, qwen2.5-coder-0.5b; fetched on first use), a GGUF file, or
    /// an HF model folder.
    #[arg(long, short = 'm', default_value = "smollm2")]
    pub model: String,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How a command loads its local models (the main model, and verifiers' models and PRMs).
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Device for local models: auto (GPU if built with --features cuda and present), cpu, cuda:N.
    #[arg(long, default_value = "auto", value_parser = DeviceChoice::parse)]
    pub device: DeviceChoice,
    /// How to hold GGUF weights.
    #[arg(long, value_enum, default_value_t = Weights::Auto)]
    pub weights: Weights,
    /// Dtype for HF model folders: auto (bf16 on a GPU, f32 on the CPU), f32, bf16, f16.
    #[arg(long, default_value = "auto", value_parser = Precision::parse)]
    pub dtype: Precision,
}

impl LoadArgs {
    pub fn options(&self) -> LoadOptions {
        LoadOptions { device: self.device, weights: self.weights.mode(), dtype: self.dtype }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Weights {
    /// Quantized on the CPU; on a GPU mixed when the model is small enough, else quantized.
    Auto,
    /// Dense f32 for prefill and quantized blocks for decode.
    Mixed,
    /// Dequantize to f32 (the reference numbers; the most memory).
    Dense,
    /// Keep the GGUF's quantized blocks, read by our kernels (Q4_1, Q5_0, Q8_0, Q4_K, Q6_K).
    Quantized,
}

impl Weights {
    pub fn mode(self) -> Option<WeightMode> {
        match self {
            Weights::Auto => None,
            Weights::Dense => Some(WeightMode::Dense),
            Weights::Mixed => Some(WeightMode::Mixed),
            Weights::Quantized => Some(WeightMode::Quantized),
        }
    }
}

impl ModelArgs {
    /// Loads the local model, printing fetch/load progress to stderr. Commands that call this
    /// measure or read a local model (`bench`, `logprobs`): a server is refused, not ignored.
    pub fn load(&self) -> anyhow::Result<Model> {
        if self.server.given() {
            anyhow::bail!("this command runs a local model (--model); --server is not supported here");
        }
        model::load(&self.model, self.options(), &mut |line| crate::errln!("{line}"))
    }

    /// The model spec to load: `server` when servers are given, else `--model`.
    pub fn spec(&self) -> String {
        if self.server.given() {
            crate::model::remote::SERVER_SPEC.to_string()
        } else {
            self.model.clone()
        }
    }

    pub fn options(&self) -> LoadOptions {
        self.load.options()
    }
}
