//! `stepscope models fetch NAME` and `stepscope models list`.

use clap::{Args, Subcommand};

use super::{EXIT_OK, EXIT_USAGE};
use crate::model::config::Config;
use crate::model::fetch;

#[derive(Args, Debug)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// Download a known model into the cache (again, if already there).
    Fetch {
        /// smollm2 or qwen2.5-coder-0.5b
        name: String,
    },
    /// Known models and what is cached, with size and architecture.
    List,
    /// Print the cached file of a known model (fetching it first if needed).
    Path {
        /// smollm2 or qwen2.5-coder-0.5b
        name: String,
    },
    /// Write a GGUF model's tokenizer as tokenizer.json + tokenizer_config.json (for an HF folder).
    Tokenizer {
        /// A known model's name or a GGUF file.
        model: String,
        /// The folder to write.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Add this special token (repeatable), e.g. a PRM's step separator `<extra_0>`.
        #[arg(long = "add-special")]
        special: Vec<String>,
    },
}

pub fn run(args: ModelsArgs) -> i32 {
    match args.command {
        ModelsCommand::Tokenizer { ref model, ref out, ref special } => finish(
            crate::model::export_tokenizer(model, out, special, &mut |line| crate::errln!("{line}"))
                .map(|vocab| format!("{}: tokenizer.json ({vocab} tokens), tokenizer_config.json", out.display())),
        ),
        ModelsCommand::Fetch { ref name } | ModelsCommand::Path { ref name } => {
            let Some(m) = fetch::known(name) else {
                let names: Vec<&str> = fetch::KNOWN.iter().map(|m| m.name).collect();
                crate::errln!("error: unknown model '{name}' (known: {})", names.join(", "));
                return EXIT_USAGE;
            };
            let mut progress = |line: &str| crate::errln!("{line}");
            let result = if matches!(args.command, ModelsCommand::Fetch { .. }) {
                fetch::fetch(m, &mut progress)
            } else {
                fetch::ensure(m, &mut progress)
            };
            finish(result.map(|path| path.display().to_string()))
        }
        ModelsCommand::List => {
            crate::outln!("cache: {}", fetch::cache_dir().join("models").display());
            for m in fetch::KNOWN {
                let path = fetch::cached_path(m);
                let state = match std::fs::metadata(&path) {
                    Ok(meta) => {
                        format!("{:>7.1} MiB  {:<6}  {}", meta.len() as f64 / 1048576.0, arch_of(&path), path.display())
                    }
                    Err(_) => "not fetched (`stepscope models fetch` or first use)".to_string(),
                };
                crate::outln!("{:<20} {state}\n{:<20} {}", m.name, "", m.about);
            }
            EXIT_OK
        }
    }
}

/// Prints the line of a command that worked, or its error.
fn finish(result: anyhow::Result<String>) -> i32 {
    match result {
        Ok(line) => {
            crate::outln!("{line}");
            EXIT_OK
        }
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn arch_of(path: &std::path::Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else { return "?".into() };
    crate::model::read_gguf_header(&mut f)
        .ok()
        .and_then(|ct| Config::from_gguf(&ct).ok())
        .map_or("?".into(), |c| c.arch.name().to_string())
}
