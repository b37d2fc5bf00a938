//! The refinement prompts: minijinja templates shipped in `assets/prompts/`, each overridable by
//! a file of the same name in the user's prompts folder (`<config folder>/prompts/NAME.j2`).
//! A template that names a variable it is not given, or that fails to render, is an error that
//! names the template and where it came from.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use minijinja::{context, Environment, UndefinedBehavior};

/// Templates shipped with stepscope.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("global", include_str!("../../assets/prompts/global.j2")),
    ("local", include_str!("../../assets/prompts/local.j2")),
    ("local-critique", include_str!("../../assets/prompts/local-critique.j2")),
    ("intervene", include_str!("../../assets/prompts/intervene.j2")),
];

/// The largest prompt template read (the built-in ones are under 2 KiB).
const MAX_TEMPLATE_BYTES: u64 = 256 << 10;

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

/// A [`PromptInput`] that owns its text, to move onto the rendering thread.
struct OwnedInput {
    problem: String,
    steps: Vec<String>,
    bad: Option<usize>,
    reference: Option<String>,
    reference_solution: Option<String>,
}

impl OwnedInput {
    fn from(i: &PromptInput) -> OwnedInput {
        OwnedInput {
            problem: i.problem.to_string(),
            steps: i.steps.iter().map(|s| s.to_string()).collect(),
            bad: i.bad,
            reference: i.reference.map(str::to_string),
            reference_solution: i.reference_solution.map(str::to_string),
        }
    }

    fn borrowed(&self) -> PromptInput<'_> {
        PromptInput {
            problem: &self.problem,
            steps: self.steps.iter().map(String::as_str).collect(),
            bad: self.bad,
            reference: self.reference.as_deref(),
            reference_solution: self.reference_solution.as_deref(),
        }
    }
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
    // A name in the folder that is there at all (a dangling link included) is the user's
    // template: one that cannot be read is an error, never silently the built-in one.
    let user: Option<PathBuf> =
        dir.map(|d| d.join(format!("{name}.j2"))).filter(|p| std::fs::symlink_metadata(p).is_ok());
    let (source, origin) = match user {
        Some(p) => {
            let meta = std::fs::metadata(&p).map_err(|e| anyhow!("prompt template {}: {e}", p.display()))?;
            if !meta.is_file() {
                bail!("prompt template {}: not a regular file (a folder, FIFO or device)", p.display());
            }
            if meta.len() > MAX_TEMPLATE_BYTES {
                bail!("prompt template {}: larger than {} KiB", p.display(), MAX_TEMPLATE_BYTES >> 10);
            }
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
        // A user's template is bounded like a model's chat template: in time and in memory.
        let owned = OwnedInput::from(input);
        let this = self.clone();
        let limit = std::time::Duration::from_secs(crate::model::chat::TEMPLATE_SECONDS);
        let key = crate::model::fnv1a(crate::model::FNV_OFFSET, self.source.as_bytes());
        crate::model::bounded::run_keyed(
            key,
            "stepscope-prompt",
            limit,
            crate::model::chat::TEMPLATE_BYTES,
            move || this.render_here(&owned.borrowed()),
        )
        .map_err(|e| anyhow!("prompt template '{}' ({}): rendering {e}", self.name, self.origin))?
    }

    fn render_here(&self, input: &PromptInput) -> Result<String> {
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
        let plain = template("local", None).unwrap().render(&input()).unwrap();
        assert_eq!(plain.trim(), input().problem, "local asks the question as it was");
        let local = template("local-critique", None).unwrap().render(&input()).unwrap();
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
    fn a_users_template_that_is_no_file_or_fills_memory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("local.j2")).unwrap();
        let e = template("local", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("global.j2")).unwrap();
        let e = template("global", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let doubling =
            "{% set s = namespace(v=problem) %}{% for i in range(40) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}";
        std::fs::write(dir.path().join("intervene.j2"), doubling).unwrap();
        let e = template("intervene", Some(dir.path())).unwrap().render(&input()).unwrap_err().to_string();
        assert!(e.contains("intervene") && e.contains("needed more than 64 MiB"), "{e}");
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
        assert!(
            e.contains("no prompt template 'nope'") && e.contains("global, local, local-critique, intervene"),
            "{e}"
        );
    }
}
