//! The verifier spec: the typed form of `KIND[:MODEL][@N]` strings. What `Display` writes,
//! `parse` reads back, so a spec stored in the journal (and offered again by the TUI menu)
//! recreates the same verifier: `rollout:smollm2@4` is model `smollm2` with 4 rollouts.

use std::fmt;

/// A verifier and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerifierSpec {
    Arith,
    Prm {
        path: String,
    },
    /// A head trained here (`stepscope train`) on a local model's hidden states.
    Probe {
        path: String,
    },
    Judge {
        model: String,
    },
    /// `votes`: samples for a majority vote (absent: the command's `--votes`, else greedy).
    Critic {
        model: String,
        votes: Option<usize>,
    },
    /// `rollouts`: continuations per step (absent: the command's `--rollouts`).
    Rollout {
        model: String,
        rollouts: Option<usize>,
    },
}

pub const KINDS: &str = "arith, prm:PATH, probe:HEAD, judge:MODEL, critic:MODEL[@VOTES], rollout:MODEL[@ROLLOUTS]";

impl VerifierSpec {
    /// Parses a spec string. A trailing `@N` (N a positive integer) on a critic or rollout model is
    /// the count, so such a model name cannot itself end in `@N`.
    pub fn parse(spec: &str) -> Result<VerifierSpec, String> {
        if spec.len() > MAX_SPEC {
            return Err(format!("a verifier spec of {} bytes is too long ({}…)", spec.len(), short(spec)));
        }
        let (kind, arg) = spec.split_once(':').map_or((spec, None), |(k, a)| (k, Some(a)));
        let model = |arg: Option<&str>| -> Result<String, String> {
            match arg {
                Some(m) if !m.is_empty() => Ok(m.to_string()),
                _ => Err(format!("verifier '{}' needs a model: {}:MODEL", short(kind), short(kind))),
            }
        };
        match kind {
            "arith" if arg.is_some() => Err(format!("verifier 'arith' takes no model (got '{}')", short(spec))),
            "arith" => Ok(VerifierSpec::Arith),
            "prm" => Ok(VerifierSpec::Prm { path: model(arg)? }),
            "probe" => Ok(VerifierSpec::Probe { path: model(arg)? }),
            "judge" => Ok(VerifierSpec::Judge { model: model(arg)? }),
            "critic" => {
                let (m, votes) = split_count(&model(arg)?)?;
                Ok(VerifierSpec::Critic { model: m, votes })
            }
            "rollout" => {
                let (m, rollouts) = split_count(&model(arg)?)?;
                Ok(VerifierSpec::Rollout { model: m, rollouts })
            }
            _ => Err(format!("unknown verifier '{}' (expected one of {KINDS})", short(spec))),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            VerifierSpec::Arith => "arith",
            VerifierSpec::Prm { .. } => "prm",
            VerifierSpec::Probe { .. } => "probe",
            VerifierSpec::Judge { .. } => "judge",
            VerifierSpec::Critic { .. } => "critic",
            VerifierSpec::Rollout { .. } => "rollout",
        }
    }

    /// The spec as the verifier built from it (with these options' defaults) writes it into
    /// results: a rollout always names its count, a greedy critic never does.
    pub fn canonical(&self, votes: usize, rollouts: usize) -> VerifierSpec {
        match self {
            VerifierSpec::Critic { model, votes: v } => {
                let n = v.unwrap_or(votes);
                VerifierSpec::Critic { model: model.clone(), votes: (n > 1).then_some(n) }
            }
            VerifierSpec::Rollout { model, rollouts: r } => {
                VerifierSpec::Rollout { model: model.clone(), rollouts: Some(r.unwrap_or(rollouts)) }
            }
            other => other.clone(),
        }
    }

    /// The first-error threshold τ the verifier uses unless told otherwise (methods.md §4):
    /// 0.5 for probabilities, half of one rollout's share for rollouts.
    pub fn default_threshold(&self, rollouts: usize) -> f64 {
        match self {
            VerifierSpec::Rollout { rollouts: r, .. } => 0.5 / r.unwrap_or(rollouts).max(1) as f64,
            _ => 0.5,
        }
    }

    /// The model file or folder the verifier's results depend on, as the spec names it.
    pub fn model_spec(&self) -> Option<&str> {
        match self {
            VerifierSpec::Prm { path } | VerifierSpec::Probe { path } => Some(path),
            other => other.language_model(),
        }
    }

    /// The causal language model the verifier runs, if it runs one (a PRM loads its own).
    pub fn language_model(&self) -> Option<&str> {
        match self {
            VerifierSpec::Judge { model }
            | VerifierSpec::Critic { model, .. }
            | VerifierSpec::Rollout { model, .. } => Some(model),
            VerifierSpec::Arith | VerifierSpec::Prm { .. } | VerifierSpec::Probe { .. } => None,
        }
    }
}

/// The longest spec read (a model path is at most 4096 bytes).
const MAX_SPEC: usize = 4200;

/// A spec as an error message echoes it: at most 80 characters, no control characters.
fn short(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
    if s.chars().count() > 80 {
        format!("{clean}…")
    } else {
        clean
    }
}

/// The most votes or rollouts a spec may ask for (`@N`): beyond it a run would not end in any
/// useful time.
pub const MAX_COUNT: usize = 256;

/// `MODEL@N` → (MODEL, Some(N)); `MODEL` → (MODEL, None). A suffix that looks like a number
/// (`@-1`, `@2.5`, `@99999999`) must be a count from 1 to [`MAX_COUNT`]; it is never read as part
/// of a model's name.
fn split_count(s: &str) -> Result<(String, Option<usize>), String> {
    let Some((model, n)) = s.rsplit_once('@') else { return Ok((s.to_string(), None)) };
    let numeric = !n.contains('/') && n.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.');
    if !numeric {
        return Ok((s.to_string(), None));
    }
    let count = n.parse::<usize>().ok().filter(|c| (1..=MAX_COUNT).contains(c));
    match count {
        Some(count) if !model.is_empty() => Ok((model.to_string(), Some(count))),
        _ => Err(format!("'{}': expected MODEL@N with N from 1 to {MAX_COUNT}", short(s))),
    }
}

impl fmt::Display for VerifierSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifierSpec::Arith => write!(f, "arith"),
            VerifierSpec::Prm { path } => write!(f, "prm:{path}"),
            VerifierSpec::Probe { path } => write!(f, "probe:{path}"),
            VerifierSpec::Judge { model } => write!(f, "judge:{model}"),
            VerifierSpec::Critic { model, votes: None } => write!(f, "critic:{model}"),
            VerifierSpec::Critic { model, votes: Some(n) } => write!(f, "critic:{model}@{n}"),
            VerifierSpec::Rollout { model, rollouts: None } => write!(f, "rollout:{model}"),
            VerifierSpec::Rollout { model, rollouts: Some(n) } => write!(f, "rollout:{model}@{n}"),
        }
    }
}

impl std::str::FromStr for VerifierSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<VerifierSpec, String> {
        VerifierSpec::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_specs_recreate_their_verifier() {
        let s = VerifierSpec::parse("rollout:smollm2@4").unwrap();
        assert_eq!(s, VerifierSpec::Rollout { model: "smollm2".into(), rollouts: Some(4) });
        assert_eq!(s.to_string(), "rollout:smollm2@4");
        assert_eq!(
            VerifierSpec::parse("critic:/m/a@b/x.gguf").unwrap(),
            VerifierSpec::Critic { model: "/m/a@b/x.gguf".into(), votes: None }
        );
        assert!(VerifierSpec::parse("critic:m@0").is_err());
        // A number after `@` is a count, in range, never part of the model's name.
        for bad in ["rollout:m@-1", "rollout:m@99999999", "critic:m@2.5", "rollout:m@257"] {
            let e = VerifierSpec::parse(bad).unwrap_err();
            assert!(e.contains("from 1 to 256"), "{bad}: {e}");
        }
        assert_eq!(
            VerifierSpec::parse("rollout:/m/run@2/x.gguf").unwrap(),
            VerifierSpec::Rollout { model: "/m/run@2/x.gguf".into(), rollouts: None }
        );
        assert!(VerifierSpec::parse("judge:").unwrap_err().contains("needs a model"));
        assert!(VerifierSpec::parse("arith:x").unwrap_err().contains("takes no model"));
        assert!(VerifierSpec::parse("prmx:y").unwrap_err().contains("unknown verifier"));
    }
}
