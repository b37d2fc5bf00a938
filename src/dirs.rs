//! The per-user folders, in one place (the ground floor: imports nothing of ours). Each has an
//! override variable, then the XDG variable, then the usual folder under `$HOME`.

use std::path::PathBuf;

/// Label journals of read-only trace folders: `$STEPSCOPE_DATA_DIR`, else
/// `$XDG_DATA_HOME/stepscope`, else `~/.local/share/stepscope`.
pub fn data_dir() -> PathBuf {
    user_dir("STEPSCOPE_DATA_DIR", "XDG_DATA_HOME", ".local/share")
}

/// Fetched models: `$STEPSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/stepscope`, else
/// `~/.cache/stepscope`.
pub fn cache_dir() -> PathBuf {
    user_dir("STEPSCOPE_CACHE_DIR", "XDG_CACHE_HOME", ".cache")
}

/// The TUI config file: `$STEPSCOPE_CONFIG`, else `$XDG_CONFIG_HOME/stepscope/config.toml`, else
/// `~/.config/stepscope/config.toml`.
pub fn config_file() -> PathBuf {
    if let Some(p) = std::env::var_os("STEPSCOPE_CONFIG") {
        return PathBuf::from(p);
    }
    user_dir("", "XDG_CONFIG_HOME", ".config").join("config.toml")
}

/// The user's refinement prompt templates (`NAME.j2` overrides the built-in `NAME`): the
/// `prompts` folder beside the config file.
pub fn prompts_dir() -> PathBuf {
    let config = config_file();
    config.parent().map_or_else(|| PathBuf::from("prompts"), |d| d.join("prompts"))
}

/// `$override_var`, else `$xdg_var/stepscope`, else `~/<home_rel>/stepscope`. Empty values
/// count as unset.
fn user_dir(override_var: &str, xdg_var: &str, home_rel: &str) -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|d| !d.is_empty() && !name.is_empty());
    if let Some(d) = set(override_var) {
        return PathBuf::from(d);
    }
    if let Some(d) = set(xdg_var) {
        return PathBuf::from(d).join("stepscope");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(home_rel).join("stepscope")
}
