//! `stepscope open` / `stepscope PATH...` / `stepscope demo`: the interactive TUI.

use crate::cli::range::{count, limits::*};
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::serverargs::ServerArgs;
use super::{annotator_name, InputArgs, EXIT_OK, EXIT_USAGE};
use crate::tui::{self, config, theme::Theme};

#[derive(Args, Debug, Default)]
pub struct OpenArgs {
    /// Trace files.
    pub paths: Vec<PathBuf>,
    /// Annotator name for labels (default: config file, $STEPSCOPE_ANNOTATOR, else $USER).
    #[arg(long)]
    pub annotator: Option<String>,
    /// Load this model in the background (a short name, GGUF file or HF folder).
    #[arg(long)]
    pub model: Option<String>,
    /// Device for --model: auto, cpu, cuda:N.
    #[arg(long, default_value = "auto", value_parser = crate::model::DeviceChoice::parse)]
    pub device: crate::model::DeviceChoice,
    /// Dtype for HF model folders: auto (bf16 on a GPU, f32 on the CPU), f32, bf16, f16.
    #[arg(long, default_value = "auto", value_parser = crate::model::Precision::parse)]
    pub dtype: crate::model::Precision,
    /// The model that writes refinements and new solutions (default: the config file's
    /// `generator`, else qwen2.5-coder-1.5b).
    #[arg(long)]
    pub generator: Option<String>,
    /// Colour theme (default: the config file's, else dark).
    #[arg(long, value_parser = ["dark", "light"])]
    pub theme: Option<String>,
    /// Blind labelling: hide the dataset label, other annotators' labels, verifier marks and
    /// answer correctness until you label a trace (config `blind`, `blind_hide`).
    #[arg(long)]
    pub blind: bool,
    /// Adjudication: start on the traces where annotators disagree; e / c / x decide the gold
    /// first error (with why) instead of my own label (`D` in the app switches it).
    #[arg(long, conflicts_with = "blind")]
    pub adjudicate: bool,
    /// Open a reproducible random sample of N traces (with --seed).
    #[arg(long, value_name = "N", value_parser = count(MAX_TRACES))]
    pub sample: Option<usize>,
    /// Seed of --sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Order the traces: `disagree` puts those where the stored verifiers disagree most first;
    /// `uncertain` puts the ones I have not labelled where a probe is least sure of the first
    /// error first (it reads the probe's stored results: score with it first).
    #[arg(long, value_parser = ["disagree", "uncertain"])]
    pub queue: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug, Default)]
pub struct DemoArgs {
    /// Model loaded in the background (fetched on first use).
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Do not load a model.
    #[arg(long)]
    pub no_model: bool,
    /// Annotator name for labels.
    #[arg(long)]
    pub annotator: Option<String>,
    /// Folder for label journals.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(args: OpenArgs) -> i32 {
    if args.paths.is_empty() {
        crate::errln!("stepscope open: give one or more trace files (or run `stepscope demo`)");
        return EXIT_USAGE;
    }
    let cfg = match config::load() {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("error: config: {e}");
            return EXIT_USAGE;
        }
    };
    if !std::io::stdout().is_terminal() {
        crate::errln!("stepscope: the TUI needs a terminal (use `stats`, `label` or `export` in scripts)");
        return EXIT_USAGE;
    }
    let theme_name = match args.theme.as_deref() {
        Some("light") => tui::theme::ThemeName::Light,
        Some(_) => tui::theme::ThemeName::Dark,
        None => cfg.theme,
    };
    let annotator = annotator_name(args.annotator.as_deref().or(cfg.annotator.as_deref()));
    let theme = Theme::new(theme_name, Theme::color_allowed());
    // With --server (or `servers` in the config) the servers' model is the app's model unless
    // --model names another, and it writes refinements unless --generator names another.
    let mut server = args.server.clone();
    if !server.given() {
        server.servers = cfg.servers.clone();
    }
    let remote = server.options();
    let settings = settings(&args, cfg, &server, annotator, theme);
    let mut app = tui::load_app(&args.paths, &args.input.opener(), settings);
    let queue = args.queue.as_deref().map(|q| match q {
        "uncertain" => tui::campaign::Queue::Uncertain,
        _ => tui::campaign::Queue::Disagree,
    });
    tui::campaign::start(&mut app, args.sample.map(|n| (n, args.seed)), queue);
    if args.adjudicate {
        tui::adjudicate::toggle(&mut app);
    }
    if app.library.entries.is_empty()
        && !app.library.problems.is_empty()
        && app.library.problems.iter().all(|p| p.line == 0)
    {
        for p in &app.library.problems {
            crate::errln!("error: {}: {}", p.file.display(), p.message);
        }
        return EXIT_USAGE;
    }
    let notes: Vec<String> = app.library.sources.iter().filter_map(|s| s.journal_note.clone()).collect();
    let spec = args.model.or_else(|| server.given().then(|| crate::model::remote::SERVER_SPEC.to_string()));
    let model = spec.map(|spec| tui::LoadRequest {
        spec,
        options: crate::model::LoadOptions { device: args.device, weights: None, dtype: args.dtype },
        remote,
    });
    match tui::run(app, model) {
        Ok(()) => {
            for n in notes {
                crate::errln!("note: {n}");
            }
            EXIT_OK
        }
        Err(e) => {
            crate::errln!("error: {e}");
            EXIT_USAGE
        }
    }
}

/// The app's settings from the flags and the config file, in one place.
fn settings(
    args: &OpenArgs,
    cfg: config::Config,
    server: &crate::cli::serverargs::ServerArgs,
    annotator: String,
    theme: Theme,
) -> tui::state::Settings {
    let mut s = tui::state::Settings::new(annotator, theme, cfg.keymap);
    s.refine = cfg.refine;
    if let Some(g) = &args.generator {
        s.refine.generator = g.clone();
    } else if server.given() {
        s.refine.generator = crate::model::remote::SERVER_SPEC.into();
    }
    if args.blind || cfg.blind {
        s.blind = Some(cfg.blind_hide);
    }
    if let Some(c) = cfg.categories {
        s.categories = c;
    }
    s.confirm_model_actions = cfg.confirm_model_actions;
    s.advance_after_label = cfg.advance_after_label;
    s.probe_model = cfg.probe_model.clone().or_else(|| args.model.clone()).unwrap_or_else(|| "smollm2".into());
    s.verify_options.remote = server.options();
    if server.given() {
        // The servers' judge is on in the verifier menu beside the arithmetic check.
        s.verifier_choices.push((format!("judge:{}", crate::model::remote::SERVER_SPEC), true));
    }
    s
}

/// The bundled traces shipped in `traces/` next to the crate.
pub fn demo_paths() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    // Journals and refinements files are opened with the traces they belong to.
    paths.retain(|p| {
        let name = p.to_string_lossy();
        !name.ends_with(".stepscope.jsonl") && !name.ends_with(".refined.jsonl")
    });
    paths.sort();
    paths
}

pub fn demo(args: DemoArgs) -> i32 {
    let paths = demo_paths();
    if paths.is_empty() {
        crate::errln!("stepscope demo: no bundled traces found in {}/traces", env!("CARGO_MANIFEST_DIR"));
        return EXIT_USAGE;
    }
    run(OpenArgs {
        paths,
        annotator: args.annotator,
        model: (!args.no_model).then(|| {
            if args.server.given() {
                crate::model::remote::SERVER_SPEC.into()
            } else {
                args.model
            }
        }),
        device: crate::model::DeviceChoice::Auto,
        dtype: crate::model::Precision::Auto,
        generator: None,
        theme: None,
        blind: false,
        adjudicate: false,
        sample: None,
        seed: 0,
        queue: None,
        server: args.server,
        input: InputArgs { store: args.store, ..InputArgs::default() },
    })
}
