//! The refinement prompts: minijinja templates shipped in `assets/prompts/`, each overridable by
//! a file of the same name in the user's prompts folder (`<config folder>/prompts/NAME.j2`).
//! A template that names a variable it is not given, or that fails to render, is an error that
//! names the template and where it came from.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use minijinja::{context, Environment, UndefinedBehavior};

/// Templates shipped with stepscope.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("global", include_str!("../../assets/prompts/global.j2")),
    ("local", include_str!("../../assets/prompts/local.j2")),
    ("intervene", include_str!("../../assets/prompts/intervene.j2")),
];

/// Bounds the work of a user's template (a loop that never ends is an error, not a hang).
const FUEL: u64 = 1_000_000;

/// What a prompt is about: the problem, the draft's steps, the first wrong step, and the
/// reference when it is known.
#[derive(Debug, Clone, Default)]
pub struct PromptInput<'a> {
    pub problem: &'a str,
    pub steps: Vec<&'a str>,
    /// 0-based index of the first wrong step.
    pub bad: Option<usize>,
    pub reference: Option<&'a str>,
    pub reference_solution: Option<&'a str>,
}

/// A loaded template: its text, where it came from, and a short version for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub source: String,
    /// `built-in` or the file it was read from.
    pub origin: String,
    /// `NAME@` plus 8 hex digits of the template text's hash.
    pub version: String,
}

/// The template `name`: the user's file in `dir` when there is one, else the built-in one.
pub fn template(name: &str, dir: Option<&Path>) -> Result<Template> {
    let user: Option<PathBuf> = dir.map(|d| d.join(format!("{name}.j2"))).filter(|p| p.is_file());
    let (source, origin) = match user {
        Some(p) => {
            let text = std::fs::read_to_string(&p).map_err(|e| anyhow!("prompt template {}: {e}", p.display()))?;
            (text, p.display().to_string())
        }
        None => {
            let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                anyhow!("no prompt template '{name}' (built-in ones: {})", names.join(", "))
            })?;
            (text.to_string(), "built-in".to_string())
        }
    };
    let hash = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    Ok(Template { name: name.to_string(), version: format!("{name}@{:08x}", hash as u32), source, origin })
}

impl Template {
    /// Renders the template; every error names the template and its origin.
    pub fn render(&self, input: &PromptInput) -> Result<String> {
        let fail = |e: minijinja::Error| anyhow!("prompt template '{}' ({}): {e}", self.name, self.origin);
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("prompt", &self.source).map_err(fail)?;
        let text = env
            .get_template("prompt")
            .map_err(fail)?
            .render(context! {
                problem => input.problem,
                steps => input.steps,
                bad => input.bad,
                reference => input.reference,
                reference_solution => input.reference_solution,
            })
            .map_err(fail)?;
        Ok(text.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PromptInput<'static> {
        PromptInput {
            problem: "A box holds 6 eggs. How many eggs are in 4 boxes?",
            steps: vec!["Each box holds 6 eggs.", "4 × 6 = 26.", "The answer is \\boxed{26}."],
            bad: Some(1),
            reference: Some("24"),
            reference_solution: None,
        }
    }

    #[test]
    fn built_in_templates_render() {
        let local = template("local", None).unwrap().render(&input()).unwrap();
        assert!(local.contains("[BAD] 4 × 6 = 26."), "{local}");
        assert!(local.contains("\nEach box holds 6 eggs.\n"), "the step before is unmarked: {local}");
        let marked: Vec<&str> = local.lines().filter(|l| l.starts_with("[BAD]")).collect();
        assert_eq!(marked, ["[BAD] 4 × 6 = 26."], "only the first wrong step is marked: {local}");
        let global = template("global", None).unwrap().render(&input()).unwrap();
        assert!(!global.contains("[BAD]") && global.contains("4 × 6 = 26."), "{global}");
        let intervene = template("intervene", None).unwrap().render(&input()).unwrap();
        assert!(intervene.contains("Correct final answer: 24"), "{intervene}");
        assert!(intervene.contains("Step 1 of the attempt is the first wrong step"), "{intervene}");
        assert!(!intervene.contains("Reference solution"), "{intervene}");
    }

    #[test]
    fn a_users_template_replaces_the_built_in_one_and_its_errors_name_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("global.j2"), "Fix: {{ problem }}").unwrap();
        let t = template("global", Some(dir.path())).unwrap();
        assert_eq!(t.render(&input()).unwrap(), "Fix: A box holds 6 eggs. How many eggs are in 4 boxes?");
        assert!(t.origin.ends_with("global.j2") && t.version.starts_with("global@"));
        assert_ne!(t.version, template("global", None).unwrap().version, "the version follows the text");
        std::fs::write(dir.path().join("local.j2"), "{{ no_such_variable }}").unwrap();
        let e = template("local", Some(dir.path())).unwrap().render(&input()).unwrap_err().to_string();
        assert!(e.contains("prompt template 'local'") && e.contains("local.j2") && e.contains("undefined"), "{e}");
        std::fs::write(dir.path().join("intervene.j2"), "{% for x in steps %}").unwrap();
        let e = template("intervene", Some(dir.path())).unwrap().render(&input()).unwrap_err().to_string();
        assert!(e.contains("prompt template 'intervene'"), "{e}");
        let e = template("nope", None).unwrap_err().to_string();
        assert!(e.contains("no prompt template 'nope'") && e.contains("global, local, intervene"), "{e}");
    }
}
