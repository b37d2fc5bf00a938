//! `stepscope doctor`: the device the runtime would use and a self-test of the forward on it.

use crate::cli::range::count;
use clap::Args;
use serde_json::json;

use super::serverargs::ServerArgs;
use super::{EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE};
use crate::model::DeviceChoice;
use crate::service::doctor::{describe, self_test, tolerance};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Device to check: auto (GPU if built with --features cuda and present), cpu, cuda:N.
    #[arg(long, default_value = "auto", value_parser = DeviceChoice::parse)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub json: bool,
    /// With --server: the local model to compare the server's against (a short name, GGUF or
    /// HF folder).
    #[arg(long, short = 'm', default_value = "smollm2")]
    pub model: String,
    /// With --server: greedy tokens the server generates for the comparison.
    #[arg(long, default_value_t = 32, value_parser = count(4096))]
    pub tokens: usize,
    /// With --server: the question the completion answers.
    #[arg(
        long,
        default_value = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did she sell altogether?"
    )]
    pub question: String,
    /// Compare a server's model with --model instead of the self-test.
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(args: DoctorArgs) -> i32 {
    if args.server.given() {
        return match cross(&args) {
            Ok(true) => EXIT_OK,
            Ok(false) => EXIT_PROBLEMS,
            Err(e) => {
                crate::errln!("error: {e:#}");
                EXIT_USAGE
            }
        };
    }
    let device = match args.device.device() {
        Ok(d) => d,
        Err(e) => {
            crate::errln!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    let about = describe(&device);
    if !args.json {
        for line in &about {
            crate::outln!("{line}");
        }
        crate::outln!(
            "self-test: tiny random checkpoints; our forward (through the KV cache, and packed) against a plain f64 forward{}",
            if device.is_cpu() { "" } else { " and against our CPU path in f32" }
        );
        crate::outln!("hidden, logits: max |Δ| / max(1, max |reference|); PRM P: max |Δ|; tol: for both / for P");
        crate::outln!(
            "{:<6} {:<5} {:<14} {:>9} {:>9} {:>9} {:>9}  result",
            "arch",
            "dtype",
            "against",
            "hidden",
            "logits",
            "PRM P",
            "tol"
        );
    }
    let checks = match self_test(&device, &mut |_| {}) {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("error: the self-test could not run: {e:#}");
            return EXIT_PROBLEMS;
        }
    };
    let mut rows = Vec::new();
    for c in &checks {
        let (rel, prob) = tolerance(c.dtype);
        let dtype = format!("{:?}", c.dtype).to_lowercase();
        let verdict = if c.passed() { "ok" } else { "FAIL" };
        if !args.json {
            crate::outln!(
                "{:<6} {:<5} {:<14} {:>9.2e} {:>9.2e} {:>9.2e} {:>9}  {verdict}",
                c.arch,
                dtype,
                c.against,
                c.hidden,
                c.logits,
                c.prm,
                format!("{rel:.0e}/{prob:.0e}")
            );
        }
        rows.push(json!({"arch": c.arch, "dtype": dtype, "against": c.against, "hidden": c.hidden,
            "logits": c.logits, "prm": c.prm, "tolerance": rel, "prob_tolerance": prob,
            "passed": c.passed()}));
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    if args.json {
        crate::outln!("{}", json!({"device": about, "checks": rows, "failed": failed}));
    } else if failed == 0 {
        crate::outln!("all {} checks passed", checks.len());
    } else {
        crate::outln!("{failed} of {} checks FAILED", checks.len());
    }
    if failed == 0 {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    }
}

/// Log-prob differences above this are reported as a mismatch (same GGUF on both sides agrees
/// far closer; quantized files may differ by a few hundredths through activation rounding).
const CROSS_TOLERANCE: f64 = 0.25;

/// `doctor --server URL --model LOCAL`: the server's greedy tokens scored locally. `Ok(true)`
/// when the tokenizations agree and no log-prob differs by more than the tolerance.
fn cross(args: &DoctorArgs) -> anyhow::Result<bool> {
    use crate::model::LanguageModel;
    let mut models = crate::service::Models::new(crate::model::LoadOptions::default());
    models.set_remote(&args.server.options());
    let server = models.served(&mut |line| crate::errln!("{line}"))?;
    let local = models.language_model(&args.model, &mut |line| crate::errln!("{line}"))?;
    let c = crate::service::crosscheck::cross_check(server.as_ref(), local.as_ref(), &args.question, args.tokens)?;
    let ok = c.tokenization_agrees() && c.max_diff() <= CROSS_TOLERANCE;
    if args.json {
        let tokens: Vec<_> = c
            .tokens
            .iter()
            .map(|t| {
                json!({"id": t.id, "text": t.text, "server": t.server,
            "local": t.local, "local_argmax": t.local_argmax})
            })
            .collect();
        let probes: Vec<_> = c
            .probes
            .iter()
            .map(|p| {
                json!({"text": p.text, "server": p.server, "local": p.local,
            "agree": p.agrees()})
            })
            .collect();
        crate::outln!(
            "{}",
            json!({"server": server.backend(), "server_model": server.served_id(),
            "local": local.source().display().to_string(), "prompt_agrees": c.prompt.agrees(), "probes": probes,
            "tokens": tokens, "max_diff": c.max_diff(), "mean_diff": c.mean_diff(), "ok": ok})
        );
        return Ok(ok);
    }
    crate::outln!("server: {} ({})", server.served_id(), server.backend());
    crate::outln!("local:  {}", local.source().display());
    let yes = |b: bool| if b { "agree" } else { "DIFFER" };
    crate::outln!(
        "chat prompt tokens: {} ({} on the server, {} here)",
        yes(c.prompt.agrees()),
        c.prompt.server.len(),
        c.prompt.local.len()
    );
    for p in &c.probes {
        crate::outln!("tokens of {:?}: {} (server {:?}, here {:?})", p.text, yes(p.agrees()), p.server, p.local);
    }
    crate::outln!("{:>3} {:>7} {:<16} {:>10} {:>10} {:>9}  local argmax", "#", "id", "token", "server", "local", "|Δ|");
    for (i, t) in c.tokens.iter().enumerate() {
        crate::outln!(
            "{i:>3} {:>7} {:<16} {:>10.4} {:>10.4} {:>9.4}  {}",
            t.id,
            format!("{:?}", t.text),
            t.server,
            t.local,
            (t.server - t.local).abs(),
            if t.local_argmax { "same" } else { "other" }
        );
    }
    let same = c.tokens.iter().filter(|t| t.local_argmax).count();
    crate::outln!(
        "{} tokens: max |Δ log-prob| {:.4}, mean {:.4}; the local argmax is the server's token at {same} of them",
        c.tokens.len(),
        c.max_diff(),
        c.mean_diff()
    );
    crate::outln!(
        "{}",
        if ok { "the server and the local model agree" } else { "the server and the local model DIFFER" }
    );
    Ok(ok)
}
