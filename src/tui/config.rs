//! The optional TOML config: `theme = "dark" | "light"`, `annotator = "…"`, and a `[keys]` table
//! mapping action names to keys (see the README).

use std::path::PathBuf;

use super::keymap::Keymap;
use super::state::{Hide, RefineSettings};
use super::theme::ThemeName;

#[derive(Debug, Clone)]
pub struct Config {
    pub theme: ThemeName,
    pub annotator: Option<String>,
    pub keymap: Keymap,
    /// `generator`, `refine_max_tokens`, `fork_samples`, `local_resamples`, `rerank`.
    pub refine: RefineSettings,
    /// `blind = true`: hide what `blind_hide` names (default: everything) until I label a trace.
    pub blind: bool,
    pub blind_hide: Hide,
    /// `categories = [...]`: the error categories offered after `e` (at most 9).
    pub categories: Option<Vec<String>>,
    /// `servers = ["http://host:8080", …]`: use these servers' model when `--server` is not
    /// given (the key stays out of the file: `OPENAI_API_KEY` or `--api-key`).
    pub servers: Vec<String>,
    /// `probe_model = "…"`: the model whose hidden states the train key's probe reads.
    pub probe_model: Option<String>,
    /// `confirm_model_actions = false`: refine, generate, train and score-all start at once
    /// (default: on a second press of their key).
    pub confirm_model_actions: bool,
    /// `advance_after_label = true`: after a new label, go on to the next unlabelled trace.
    pub advance_after_label: bool,
}

impl Default for Config {
    fn default() -> Config {
        let prompts = Some(crate::dirs::prompts_dir()).filter(|d| d.is_dir());
        let refine = RefineSettings { prompts, ..RefineSettings::default() };
        Config {
            theme: ThemeName::Dark,
            annotator: None,
            keymap: Keymap::default(),
            refine,
            blind: false,
            blind_hide: Hide::ALL,
            categories: None,
            servers: Vec::new(),
            probe_model: None,
            confirm_model_actions: true,
            advance_after_label: false,
        }
    }
}

/// The config file's path (see [`crate::dirs::config_file`]).
pub fn config_path() -> Option<PathBuf> {
    Some(crate::dirs::config_file())
}

/// Loads the config file if there is one; a broken file is an error naming the file, and so is
/// a `$STEPSCOPE_CONFIG` that names no file (a typo there would otherwise go unnoticed).
pub fn load() -> Result<Config, String> {
    if let Some(p) = std::env::var_os("STEPSCOPE_CONFIG") {
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() => {}
            Ok(m) if m.is_dir() => {
                return Err(format!("{}: a folder, not a config file (named by $STEPSCOPE_CONFIG)", p.display()))
            }
            Ok(_) => {
                return Err(format!(
                    "{}: not a regular file (a FIFO or device; named by $STEPSCOPE_CONFIG)",
                    p.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{}: no such file (named by $STEPSCOPE_CONFIG)", p.display()))
            }
            Err(e) => return Err(format!("{}: {e} (named by $STEPSCOPE_CONFIG)", p.display())),
        }
    }
    let Some(path) = config_path().filter(|p| p.exists()) else { return Ok(Config::default()) };
    if !path.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Config, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| short_lines(&e.to_string()))?;
    let mut config = Config::default();
    for (key, value) in &table {
        match key.as_str() {
            "theme" => {
                config.theme = match value.as_str() {
                    Some("dark") => ThemeName::Dark,
                    Some("light") => ThemeName::Light,
                    _ => return Err("theme: expected \"dark\" or \"light\"".into()),
                }
            }
            "annotator" => config.annotator = value.as_str().map(str::to_string),
            "generator" => {
                config.refine.generator = value.as_str().ok_or("generator: expected a model name or path")?.to_string()
            }
            "confirm_model_actions" => {
                config.confirm_model_actions = value.as_bool().ok_or("confirm_model_actions: expected true or false")?
            }
            "advance_after_label" => {
                config.advance_after_label = value.as_bool().ok_or("advance_after_label: expected true or false")?
            }
            "probe_model" => {
                config.probe_model =
                    Some(value.as_str().ok_or("probe_model: expected a model name or path")?.to_string())
            }
            "refine_max_tokens" => config.refine.max_tokens = whole(key, value, 1 << 17)?,
            "fork_samples" => config.refine.fork_samples = whole(key, value, 256)?,
            "local_resamples" => config.refine.local_resamples = whole_from(key, value, 0, 256)?,
            "rerank" => {
                let name = value.as_str().ok_or("rerank: expected \"min\", \"product\" or \"last\"")?;
                config.refine.aggregate = name.parse().map_err(|e| format!("rerank: {e}"))?;
            }
            "blind" => config.blind = value.as_bool().ok_or("blind: expected true or false")?,
            "blind_hide" => config.blind_hide = hide_list(value)?,
            "categories" => {
                let list = strings(value).ok_or("categories: expected a list of names")?;
                if list.len() > 9 {
                    return Err("categories: at most 9 (one digit each)".into());
                }
                config.categories = Some(list);
            }
            "servers" => config.servers = strings(value).ok_or("servers: expected a list of URLs")?,
            "api_key" => return Err("api_key: keys do not belong in a file; use OPENAI_API_KEY or --api-key".into()),
            "keys" => {
                let keys = value.as_table().ok_or("[keys] must be a table")?;
                config.keymap = config.keymap.with_overrides(keys)?;
            }
            other => return Err(format!("unknown setting '{other}'")),
        }
    }
    Ok(config)
}

/// A parser's message with each line cut to 160 characters (it quotes the offending line, which
/// may be 100 KB long).
fn short_lines(message: &str) -> String {
    let cut = |l: &str| {
        if l.chars().count() > 160 {
            format!("{}…", l.chars().take(160).collect::<String>())
        } else {
            l.to_string()
        }
    };
    message.lines().map(cut).collect::<Vec<_>>().join("\n")
}

fn strings(value: &toml::Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(|v| v.as_str().map(str::to_string)).collect()
}

/// `blind_hide = ["dataset", "annotators", "verifiers", "answer"]`: what blind mode hides.
fn hide_list(value: &toml::Value) -> Result<Hide, String> {
    let names = strings(value).ok_or("blind_hide: expected a list of names")?;
    let mut hide = Hide::NOTHING;
    for n in names {
        match n.as_str() {
            "dataset" => hide.dataset = true,
            "annotators" => hide.annotators = true,
            "verifiers" => hide.verifiers = true,
            "answer" => hide.answer = true,
            other => {
                return Err(format!("blind_hide: unknown '{other}' (expected dataset, annotators, verifiers, answer)"))
            }
        }
    }
    Ok(hide)
}

/// A whole number from 1 to `max` (every number in the file has a range, as on the command line).
fn whole(key: &str, value: &toml::Value, max: i64) -> Result<usize, String> {
    whole_from(key, value, 1, max)
}

fn whole_from(key: &str, value: &toml::Value, min: i64, max: i64) -> Result<usize, String> {
    match value.as_integer() {
        Some(n) if (min..=max).contains(&n) => Ok(n as usize),
        _ => Err(format!("{key}: expected a whole number from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser message quotes the bad line: a 100 KB line is cut, not echoed whole.
    #[test]
    fn a_long_bad_line_is_cut_in_the_message() {
        let text = format!("theme = \"{}", "x".repeat(100_000));
        let e = parse(&text).unwrap_err();
        assert!(e.len() < 2_000, "{} bytes", e.len());
    }

    #[test]
    fn servers_are_read_and_keys_refused() {
        let c = parse("servers = [\"http://gpu1:8000\", \"http://gpu2:8000\"]").unwrap();
        assert_eq!(c.servers, ["http://gpu1:8000", "http://gpu2:8000"]);
        let err = parse("api_key = \"sk-1\"").unwrap_err();
        assert!(err.contains("OPENAI_API_KEY") && !err.contains("sk-1"), "{err}");
    }

    #[test]
    fn parses_settings() {
        let c = parse("theme = \"light\"\nannotator = \"ana\"\n[keys]\nquit = \"Q\"\n").unwrap();
        assert_eq!(c.theme, ThemeName::Light);
        assert_eq!(c.annotator.as_deref(), Some("ana"));
        assert!(parse("theme = \"blue\"").is_err());
        assert!(parse("colour = 1").is_err());
        let r = parse("generator = \"smollm2\"\nrefine_max_tokens = 64\nfork_samples = 2\nlocal_resamples = 0")
            .unwrap()
            .refine;
        assert_eq!((r.generator.as_str(), r.max_tokens, r.fork_samples, r.local_resamples), ("smollm2", 64, 2, 0));
        let e = parse("local_resamples = 257").unwrap_err();
        assert!(e.contains("local_resamples: expected a whole number from 0 to 256"), "{e}");
        assert!(parse("fork_samples = 0").unwrap_err().contains("fork_samples"));
        let r = parse("rerank = \"product\"").unwrap().refine;
        assert_eq!(r.aggregate, crate::refine::rerank::Aggregate::Product);
        assert!(parse("rerank = \"best\"").unwrap_err().contains("rerank"));
        let c =
            parse("blind = true\nblind_hide = [\"dataset\", \"answer\"]\ncategories = [\"arith\", \"logic\"]").unwrap();
        assert!(c.blind);
        assert_eq!(c.blind_hide, Hide { dataset: true, answer: true, annotators: false, verifiers: false });
        assert_eq!(c.categories.unwrap(), ["arith", "logic"]);
        assert!(parse("blind_hide = [\"ds\"]").unwrap_err().contains("unknown 'ds'"));
    }
}
