//! Key bindings: defaults plus overrides from the `[keys]` table of the config file.

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, BINDINGS};

/// A key with the modifiers that matter for matching (Ctrl and Alt; Shift is in the char).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn from_event(e: &KeyEvent) -> Key {
        let code = match e.code {
            KeyCode::BackTab => KeyCode::Tab,
            other => other,
        };
        Key { code, ctrl: e.modifiers.contains(KeyModifiers::CONTROL), alt: e.modifiers.contains(KeyModifiers::ALT) }
    }

    /// Parses `q`, `U`, `ctrl-r`, `alt-x`, `tab`, `enter`, `esc`, `up`, `pgdn`, `space`, `f1`…
    pub fn parse(s: &str) -> Result<Key, String> {
        let (mut ctrl, mut alt) = (false, false);
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").or_else(|| rest.strip_prefix("C-")) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").or_else(|| rest.strip_prefix("M-")) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest.to_lowercase().as_str() {
            "tab" => KeyCode::Tab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap())
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(format!("unknown key '{s}'")),
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    /// How the help overlay shows the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("ctrl-{base}"),
            (_, true) => format!("alt-{base}"),
            _ => base,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    map: HashMap<Key, Action>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        let mut map = HashMap::new();
        for b in BINDINGS {
            for k in b.keys {
                map.insert(Key::parse(k).expect("default keys parse"), b.action.clone());
            }
        }
        Keymap { map }
    }
}

impl Keymap {
    /// Applies `[keys]` overrides: `action = "key"` or `action = ["key", …]` replaces that
    /// action's default keys.
    pub fn with_overrides(mut self, table: &toml::Table) -> Result<Keymap, String> {
        // Keys the file binds, and to what: one key for two actions in the file is an error (the
        // later one would silently win).
        let mut given: std::collections::HashMap<Key, &str> = std::collections::HashMap::new();
        for (name, value) in table {
            let action = Action::from_name(name).ok_or_else(|| format!("[keys]: unknown action '{name}'"))?;
            let keys: Vec<String> = match value {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                _ => return Err(format!("[keys].{name}: expected a key or a list of keys")),
            };
            self.map.retain(|_, a| *a != action);
            for k in keys {
                let key = Key::parse(&k).map_err(|e| format!("[keys].{name}: {e}"))?;
                if let Some(other) = given.insert(key, name.as_str()).filter(|o| *o != name.as_str()) {
                    return Err(format!("[keys]: '{k}' is bound to both {other} and {name}"));
                }
                self.map.insert(key, action.clone());
            }
        }
        Ok(self)
    }

    pub fn action(&self, key: &Key) -> Option<Action> {
        self.map.get(key).cloned()
    }

    /// The keys bound to an action, for the help overlay.
    pub fn keys_for(&self, action: &Action) -> Vec<String> {
        let mut keys: Vec<String> = self.map.iter().filter(|(_, a)| *a == action).map(|(k, _)| k.label()).collect();
        keys.sort_by_key(|k| (k.chars().count() > 1, k.clone()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_for_two_actions_is_refused() {
        let table: toml::Table = toml::from_str("quit = [\"j\"]\ndown = [\"j\"]").unwrap();
        let e = Keymap::default().with_overrides(&table).unwrap_err();
        assert!(e.contains("'j' is bound to both"), "{e}");
        let table: toml::Table = toml::from_str("quit = [\"x\"]\ndown = [\"j\", \"n\"]").unwrap();
        assert!(Keymap::default().with_overrides(&table).is_ok());
    }

    /// No default key is bound twice (the later binding would silently win).
    #[test]
    fn default_keys_are_distinct() {
        let mut seen = std::collections::HashMap::new();
        for b in BINDINGS {
            for k in b.keys {
                let key = Key::parse(k).unwrap();
                assert_eq!(seen.insert(key, b.name), None, "{k} is bound twice");
            }
        }
    }

    #[test]
    fn parse_keys() {
        assert_eq!(Key::parse("ctrl-r").unwrap(), Key { code: KeyCode::Char('r'), ctrl: true, alt: false });
        assert_eq!(Key::parse("U").unwrap().code, KeyCode::Char('U'));
        assert_eq!(Key::parse("pgdn").unwrap().code, KeyCode::PageDown);
        assert!(Key::parse("hyper-x").is_err());
    }

    #[test]
    fn overrides_replace_defaults() {
        let table: toml::Table = toml::from_str("first_error = [\"E\", \"ctrl-e\"]\nquit = \"Q\"").unwrap();
        let km = Keymap::default().with_overrides(&table).unwrap();
        assert_eq!(km.action(&Key::parse("E").unwrap()), Some(Action::MarkFirstError));
        assert_eq!(km.action(&Key::parse("e").unwrap()), None);
        assert_eq!(km.action(&Key::parse("q").unwrap()), None);
        let bad: toml::Table = toml::from_str("fly = \"z\"").unwrap();
        assert!(Keymap::default().with_overrides(&bad).is_err());
    }
}
