//! `stepscope doctor`: the device the runtime would use and a self-test of the forward on it.

use clap::Args;
use serde_json::json;

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
}

pub fn run(args: DoctorArgs) -> i32 {
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
