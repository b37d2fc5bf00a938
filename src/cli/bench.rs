//! `stepscope bench`: prompt-processing and generation speed in the style of llama-bench
//! (pp512 / tg128 rows, mean ± sd over repetitions, after one warm-up run).

use crate::cli::range::{count, limits::*, within};
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::modelargs::ModelArgs;
use super::{EXIT_OK, EXIT_USAGE};
use crate::model::{LanguageModel, Model, WeightMode};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens processed in one batch (pp test); 0 skips it.
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512, value_parser = within(1, MAX_CONTEXT))]
    pub n_prompt: usize,
    /// Tokens generated one at a time (tg test); 0 skips it.
    #[arg(short = 'n', long = "n-gen", default_value_t = 128, value_parser = within(1, MAX_TOKENS))]
    pub n_gen: usize,
    /// Repetitions per test.
    #[arg(short = 'r', long, default_value_t = 3, value_parser = count(1000))]
    pub repetitions: usize,
    #[arg(long)]
    pub json: bool,
    /// Instead: batched decoding, like llama-batched-bench with a shared prompt. For each N
    /// (comma-separated), the prompt of --n-prompt tokens is read once, N sequences continue it
    /// (forked caches) and decode --n-gen tokens each, all N in one forward pass per token;
    /// reports the aggregate decode speed (N × n-gen tokens over the decode time).
    #[arg(long, value_delimiter = ',', value_name = "N,N", value_parser = within(1, MAX_SAMPLES))]
    pub batch: Vec<usize>,
    /// Instead: time to the first token of a local refinement continuing a prefix read once and
    /// forked, against reading the prefix again (a draft of N steps, refined from its last step).
    #[arg(long, value_name = "STEPS", value_parser = count(MAX_STEP))]
    pub refine_prefix: Option<usize>,
    /// Instead: PRM scoring throughput. Scores every trace of --traces with the PRM in this HF
    /// folder (on --device, in --dtype), for each --batch-tokens setting, and reports traces/s
    /// and tokens/s.
    #[arg(long, value_name = "DIR")]
    pub prm: Option<std::path::PathBuf>,
    /// --prm: the trace file to score.
    #[arg(long, value_name = "FILE")]
    pub traces: Option<std::path::PathBuf>,
    /// --prm: the most tokens in one packed forward pass, comma-separated settings; 0 is one
    /// pass per trace.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 4096], value_parser = within(0, MAX_CONTEXT))]
    pub batch_tokens: Vec<usize>,
    /// --prm: score only the first N traces.
    #[arg(long, value_parser = count(MAX_TRACES))]
    pub limit: Option<usize>,
    /// --prm: write every trace's step probabilities here (JSON lines: id, mode, tokens, probs).
    #[arg(long, value_name = "FILE")]
    pub probs_out: Option<std::path::PathBuf>,
}

pub fn run(args: BenchArgs) -> i32 {
    match bench(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

/// Pseudo-random token ids, as llama-bench uses.
fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    let mut s = 12345u64;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % vocab as u64) as u32
        })
        .collect()
}

fn prompt_once(m: &Model, toks: &[u32]) -> anyhow::Result<f64> {
    let t = Instant::now();
    m.prompt_logits(toks)?;
    Ok(toks.len() as f64 / t.elapsed().as_secs_f64())
}

fn gen_once(m: &Model, n: usize, vocab: usize) -> anyhow::Result<f64> {
    let mut cache = m.start();
    let mut next = tokens(1, vocab)[0];
    let t = Instant::now();
    for _ in 0..n {
        next = m.greedy_step(next, &mut cache)?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// One timed run returning tokens per second.
type Test<'a> = dyn Fn() -> anyhow::Result<f64> + 'a;

fn stats(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len().max(2) - 1) as f64;
    (mean, var.sqrt())
}

fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.prm {
        return prm_throughput(args, dir);
    }
    let m = args.model.load()?;
    if let Some(steps) = args.refine_prefix {
        return refine_prefix(args, &m, steps);
    }
    if !args.batch.is_empty() {
        return batched(args, &m);
    }
    let vocab = m.vocab_size();
    let threads = candle_core::utils::get_num_threads();
    let size_mib = std::fs::metadata(&m.path).map(|x| x.len() as f64 / 1048576.0).unwrap_or(0.0);
    let decode = m.decode_kernels();
    let weights = match m.weights() {
        WeightMode::Dense => format!("dense {}", m.dtype_name()),
        WeightMode::Mixed => format!("f32 prefill + {decode} decode"),
        WeightMode::Quantized => format!("{decode} weights"),
    };
    let backend = format!("candle {} {weights}", m.device_name());
    let mut rows = Vec::new();
    let mut tests: Vec<(String, Box<Test>)> = Vec::new();
    if args.n_prompt > 0 {
        let toks = tokens(args.n_prompt, vocab);
        let m = &m;
        tests.push((format!("pp{}", args.n_prompt), Box::new(move || prompt_once(m, &toks))));
    }
    if args.n_gen > 0 {
        let m = &m;
        tests.push((format!("tg{}", args.n_gen), Box::new(move || gen_once(m, args.n_gen, vocab))));
    }
    // With --json, standard output carries the JSON only; the table goes to standard error.
    let table = |line: String| if args.json { crate::errln!("{line}") } else { crate::outln!("{line}") };
    table("| model | size | backend | threads | test | t/s |".into());
    table("| --- | ---: | --- | ---: | ---: | ---: |".into());
    for (name, f) in &tests {
        f()?; // warm-up
        let runs: Vec<f64> = (0..args.repetitions.max(1)).map(|_| f()).collect::<anyhow::Result<_>>()?;
        let (mean, sd) = stats(&runs);
        table(format!("| {} | {size_mib:.1} MiB | {backend} | {threads} | {name} | {mean:.2} ± {sd:.2} |", m.name));
        rows.push(json!({"model": m.name, "backend": backend, "threads": threads, "test": name, "tokens_per_second": mean, "sd": sd, "runs": runs}));
    }
    if args.json {
        crate::outln!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}

/// One run of `bench --batch`: the shared prompt read once, then `n` sequences decoding `gen`
/// tokens each in lockstep; returns (prompt tokens/s, aggregate decode tokens/s).
fn batch_once(m: &Model, prompt: &[u32], n: usize, gen: usize, vocab: usize) -> anyhow::Result<(f64, f64)> {
    let t = Instant::now();
    let mut base = m.start();
    m.extend(&mut base, prompt)?;
    let pp = prompt.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut seqs = (0..n).map(|_| base.fork()).collect::<anyhow::Result<Vec<_>>>()?;
    // Each sequence starts from its own token, so they decode different texts.
    let mut next = tokens(n + 1, vocab)[1..].to_vec();
    for _ in 0..gen {
        next = m.greedy_steps(&next, &mut seqs)?;
    }
    Ok((pp, (n * gen) as f64 / t.elapsed().as_secs_f64()))
}

/// `bench --batch N,…`: aggregate decode speed of N sequences sharing a prompt, per N.
fn batched(args: &BenchArgs, m: &Model) -> anyhow::Result<()> {
    let vocab = m.vocab_size();
    let prompt = tokens(args.n_prompt, vocab);
    let table = |line: String| if args.json { crate::errln!("{line}") } else { crate::outln!("{line}") };
    table(format!("| model | threads | sequences | shared prompt t/s (pp{}) | decode t/s, all sequences (tg{} each) | per sequence |", args.n_prompt, args.n_gen));
    table("| --- | ---: | ---: | ---: | ---: | ---: |".into());
    let threads = candle_core::utils::get_num_threads();
    let mut rows = Vec::new();
    for &n in &args.batch {
        batch_once(m, &prompt, n, args.n_gen.min(8), vocab)?; // warm-up
        let runs: Vec<(f64, f64)> = (0..args.repetitions.max(1))
            .map(|_| batch_once(m, &prompt, n, args.n_gen, vocab))
            .collect::<anyhow::Result<_>>()?;
        let pp: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let tg: Vec<f64> = runs.iter().map(|r| r.1).collect();
        let ((pm, _), (tm, ts)) = (stats(&pp), stats(&tg));
        table(format!("| {} | {threads} | {n} | {pm:.2} | {tm:.2} ± {ts:.2} | {:.2} |", m.name, tm / n as f64));
        rows.push(json!({"model": m.name, "threads": threads, "sequences": n, "n_prompt": args.n_prompt,
            "n_gen": args.n_gen, "prompt_tokens_per_second": pm, "decode_tokens_per_second": tm, "sd": ts, "runs": tg}));
    }
    if args.json {
        crate::outln!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}

/// A draft of `steps` arithmetic steps about one problem, refined locally from its last step:
/// the prompt holds the whole draft and the answer starts with every step but the last.
fn long_draft(steps: usize) -> crate::trace::Trace {
    let texts: Vec<String> = (0..steps)
        .map(|i| {
            format!(
                "On day {} the shop sells {} boxes of {} apples, so it sells {} apples that day.",
                i + 1,
                i + 3,
                12,
                (i + 3) * 12
            )
        })
        .collect();
    let mut t = crate::trace::Trace::from_step_texts(
        "bench",
        "A shop sells boxes of 12 apples. On day d it sells d + 2 boxes. How many apples does it sell in total?",
        &texts,
    );
    t.reference_answer = Some("0".into());
    t
}

/// Time to first token of a local refinement: continuing the prepared prefix (forked) versus
/// reading it again; reported with their ratio.
fn refine_prefix(args: &BenchArgs, m: &Model, steps: usize) -> anyhow::Result<()> {
    use crate::refine::strategy::{plan, Strategy};
    use crate::service::refine::{continue_from, prepare};
    let draft = long_draft(steps.max(2));
    let p = plan(Strategy::Local, &draft, Some(draft.steps.len() - 1), None)?;
    let params = crate::model::generate::GenerateParams { max_tokens: 1, top_k: 1, ..Default::default() };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let prepared = prepare(m, &p.ask)?;
    let cached = || -> anyhow::Result<f64> {
        let t = Instant::now();
        continue_from(m, &prepared, &params, &cancel, &mut |_| {})?;
        Ok(t.elapsed().as_secs_f64())
    };
    let fresh = || -> anyhow::Result<f64> {
        let t = Instant::now();
        let again = prepare(m, &p.ask)?;
        continue_from(m, &again, &params, &cancel, &mut |_| {})?;
        Ok(t.elapsed().as_secs_f64())
    };
    cached()?; // warm-up
    fresh()?;
    let reps = args.repetitions.max(1);
    let a: Vec<f64> = (0..reps).map(|_| cached()).collect::<anyhow::Result<_>>()?;
    let b: Vec<f64> = (0..reps).map(|_| fresh()).collect::<anyhow::Result<_>>()?;
    let ((ma, sa), (mb, sb)) = (stats(&a), stats(&b));
    let ratio = ma / mb;
    let table = |line: String| if args.json { crate::errln!("{line}") } else { crate::outln!("{line}") };
    table("| model | prefix tokens | forked prefix: first token | re-read prefix: first token | ratio |".into());
    table("| --- | ---: | ---: | ---: | ---: |".into());
    table(format!(
        "| {} | {} | {:.1} ± {:.1} ms | {:.1} ± {:.1} ms | {ratio:.3} |",
        m.name,
        prepared.tokens(),
        ma * 1e3,
        sa * 1e3,
        mb * 1e3,
        sb * 1e3
    ));
    if args.json {
        crate::outln!(
            "{}",
            json!({"model": m.name, "prefix_tokens": prepared.tokens(), "forked_seconds": a, "reread_seconds": b,
                   "forked_mean": ma, "reread_mean": mb, "ratio": ratio})
        );
    }
    Ok(())
}

/// PRM scoring throughput: every trace once per --batch-tokens setting, after a warm-up on the
/// first traces; the step probabilities of each setting go to --probs-out.
fn prm_throughput(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    use crate::verify::prm::PrmVerifier;
    use crate::verify::{Ctx, Options, Scored};
    use std::io::Write;
    let path = args.traces.as_ref().ok_or_else(|| anyhow::anyhow!("--prm needs --traces FILE"))?;
    let file = super::InputArgs::default().open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let (mut traces, problems) = file.load_all();
    for p in &problems {
        crate::errln!("warning: {}: {p}", path.display());
    }
    traces.truncate(args.limit.unwrap_or(usize::MAX));
    if traces.is_empty() {
        anyhow::bail!("{}: no traces to score", path.display());
    }
    let opts = Options { load: args.model.options(), ..Options::default() };
    crate::errln!("loading {}", dir.display());
    let load_start = Instant::now();
    let prm = PrmVerifier::load(&dir.to_string_lossy(), &opts)?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let model = prm.model();
    let lengths: Vec<usize> = traces.iter().map(|t| prm.input_tokens(t)).collect::<anyhow::Result<_>>()?;
    let tokens: usize = lengths.iter().sum();
    let refs: Vec<&crate::trace::Trace> = traces.iter().collect();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let score = |batch: usize, part: &[&crate::trace::Trace]| -> anyhow::Result<Vec<Scored>> {
        if batch == 0 {
            let mut quiet = |_: &str| {};
            part.iter().map(|t| prm.score_trace(t, &mut Ctx { cancel: &cancel, progress: &mut quiet })).collect()
        } else {
            prm.score_packed(part, batch)
        }
    };
    let mut out = match &args.probs_out {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )),
        None => None,
    };
    let backend = format!("candle {} {}", model.device_name(), model.dtype_name());
    let table = |line: String| if args.json { crate::errln!("{line}") } else { crate::outln!("{line}") };
    table(format!(
        "PRM {} ({}), {} traces, {tokens} tokens, loaded in {load_seconds:.1} s",
        model.name,
        prm.format().name(),
        traces.len()
    ));
    table("| backend | mode | traces | tokens | seconds | traces/s | tokens/s |".into());
    table("| --- | --- | ---: | ---: | ---: | ---: | ---: |".into());
    let mut rows = Vec::new();
    for &batch in &args.batch_tokens {
        score(batch, &refs[..refs.len().min(8)])?; // warm-up
        let start = Instant::now();
        let scored = score(batch, &refs)?;
        let seconds = start.elapsed().as_secs_f64();
        let mode = if batch == 0 { "one pass per trace".to_string() } else { format!("packed ≤ {batch} tokens") };
        let (tps, kps) = (traces.len() as f64 / seconds, tokens as f64 / seconds);
        table(format!("| {backend} | {mode} | {} | {tokens} | {seconds:.2} | {tps:.2} | {kps:.0} |", traces.len()));
        rows.push(json!({"backend": backend, "batch_tokens": batch, "traces": traces.len(), "tokens": tokens,
            "seconds": seconds, "traces_per_second": tps, "tokens_per_second": kps, "load_seconds": load_seconds}));
        if let Some(w) = out.as_mut() {
            for ((t, s), n) in traces.iter().zip(&scored).zip(&lengths) {
                let probs: Vec<Option<f64>> = s.steps.iter().map(|x| x.score).collect();
                writeln!(w, "{}", json!({"id": t.id, "batch_tokens": batch, "tokens": n, "probs": probs}))?;
            }
        }
    }
    if let Some(mut w) = out {
        w.flush()?;
    }
    if args.json {
        crate::outln!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}
