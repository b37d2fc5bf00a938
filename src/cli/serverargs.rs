//! `--server` and its company: the options of every command that can use a model behind an
//! HTTP server instead of a local one.

use crate::cli::range::{count, limits::*, within};
use std::time::Duration;

use clap::Args;

use crate::model::remote::{Limits, RemoteOptions};

#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// An OpenAI-compatible server (llama.cpp's llama-server, vLLM, …) to use instead of a local
    /// model, as http://HOST:PORT. Repeat it, or separate URLs with commas, to spread the work
    /// over several servers of one model. Verifiers name its model `server` (`judge:server`);
    /// a model verifier given without a model uses it (`--verifier judge`).
    #[arg(long = "server", value_name = "URL")]
    pub servers: Vec<String>,
    /// Bearer token for the servers (never printed or stored).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Requests in flight per server.
    #[arg(long, default_value_t = 4, value_parser = count(MAX_CONCURRENCY))]
    pub concurrency: usize,
    /// Seconds to wait for a server's answer (or for the next token of a stream).
    #[arg(long, default_value_t = 120.0, value_parser = within(MIN_TIMEOUT_S, MAX_TIMEOUT_S))]
    pub timeout: f64,
    /// Extra tries after a connection error, a timeout, a 429 or a 5xx.
    #[arg(long, default_value_t = 3, value_parser = within(0, MAX_RETRIES))]
    pub retries: usize,
}

impl ServerArgs {
    pub fn given(&self) -> bool {
        !self.servers.is_empty()
    }

    pub fn options(&self) -> RemoteOptions {
        RemoteOptions {
            servers: RemoteOptions::split_servers(&self.servers),
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            concurrency: self.concurrency,
            limits: Limits {
                timeout: Duration::from_secs_f64(self.timeout),
                retries: self.retries,
                ..Limits::default()
            },
        }
    }
}
