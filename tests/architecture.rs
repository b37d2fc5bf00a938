//! The floors of ARCHITECTURE.md, checked: each room of `src/` names only the rooms below it.

use std::collections::BTreeSet;
use std::path::Path;

/// Each room and the rooms it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("dirs", &[]),
    ("latex", &[]),
    ("arith", &[]),
    ("signals", &[]),
    ("trace", &["dirs", "latex", "signals"]),
    ("model", &["dirs", "latex"]),
    ("verify", &["model", "trace", "signals", "arith"]),
    ("refine", &["verify", "model", "trace", "signals", "arith"]),
    ("service", &["refine", "verify", "model", "trace", "signals", "arith"]),
    ("jobs", &["service", "refine", "verify", "model", "trace", "signals", "arith"]),
    ("tui", &["jobs", "service", "refine", "verify", "model", "trace", "signals", "arith", "latex", "dirs"]),
];

/// Rooms a source file names through `crate::ROOM` (plain or in a `use crate::{…}` group).
fn named_rooms(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for n in names {
            let room: String = n.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !room.is_empty() {
                out.insert(room);
            }
        }
    }
    out
}

fn files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            files(&e.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|x| x == "rs") {
        out.push(path.to_path_buf());
    }
}

#[test]
fn no_room_imports_a_room_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rooms: Vec<&str> = ALLOWED.iter().map(|(r, _)| *r).chain(["cli"]).collect();
    let mut wrong = Vec::new();
    for (room, allowed) in ALLOWED {
        let mut paths = Vec::new();
        let dir = src.join(room);
        files(if dir.is_dir() { &dir } else { &src }, &mut paths);
        if !dir.is_dir() {
            paths.retain(|p| p.file_stem().is_some_and(|s| s == *room) && p.parent() == Some(src.as_path()));
        }
        assert!(!paths.is_empty(), "room {room} has no source files");
        for p in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            for named in named_rooms(&text) {
                if named != *room && rooms.contains(&named.as_str()) && !allowed.contains(&named.as_str()) {
                    wrong.push(format!("{}: names crate::{named}", p.strip_prefix(&src).unwrap().display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn model_internals_stay_in_the_model_room() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let mut wrong = Vec::new();
    for p in paths.iter().filter(|p| !p.starts_with(src.join("model"))) {
        let text = std::fs::read_to_string(p).unwrap();
        for field in [".transformer", ".tokenizer"] {
            for (i, _) in text.match_indices(field) {
                let next = text[i + field.len()..].chars().next().unwrap_or(' ');
                if !(next.is_ascii_alphanumeric() || next == '_') {
                    wrong.push(format!("{}: {field}", p.strip_prefix(&src).unwrap().display()));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "model internals used outside src/model:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_grouped_imports() {
    let rooms = named_rooms("use crate::{model::X, trace};\nuse crate::cli::InputArgs;");
    assert_eq!(rooms.into_iter().collect::<Vec<_>>(), ["cli", "model", "trace"]);
}

/// Every room of `src/` is on the map: named as `src/ROOM/` in ARCHITECTURE.md and in README's
/// layout, so a new folder cannot go undocumented.
#[test]
fn every_room_is_in_the_architecture_map_and_the_readme_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(root.join("src")).unwrap() {
        let path = e.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let name = format!("`src/{}/`", path.file_name().unwrap().to_string_lossy());
        for (doc, text) in [("ARCHITECTURE.md", &architecture), ("README.md", &readme)] {
            if !text.contains(&name) {
                missing.push(format!("{name} in {doc}"));
            }
        }
    }
    assert!(missing.is_empty(), "rooms missing from the docs: {missing:?}");
}

/// The first identifier of each top-level item of a `{a, b::c, d::{e, f}}` group (the text
/// after the opening brace), or of a plain path.
fn leading_names(rest: &str) -> Vec<String> {
    let ident = |s: &str| s.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let Some(group) = rest.strip_prefix('{') else { return vec![ident(rest)] };
    let (mut depth, mut item, mut out) = (0, String::new(), Vec::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => out.push(ident(&std::mem::take(&mut item))),
            _ if depth == 0 => item.push(c),
            _ => {}
        }
    }
    out.push(ident(&item));
    out
}

/// The sibling files (and sub-folders) a file of `dir` names: `super::NAME` or
/// `crate::PATH::NAME` where PATH is `dir`. Its test module is left out (there `super` is the
/// file itself).
fn sibling_uses(text: &str, crate_path: &str, siblings: &[String]) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    let mut out = BTreeSet::new();
    for prefix in ["super::".to_string(), format!("{crate_path}::")] {
        for (i, _) in code.match_indices(prefix.as_str()) {
            // `super::super::…` and `crate::a::b::` seen from `crate::a::` are not siblings.
            if prefix == "super::" && code[..i].ends_with("super::") {
                continue;
            }
            for name in leading_names(&code[i + prefix.len()..]) {
                if siblings.contains(&name) {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// A cycle in `edges` (file → files it names), as the path that closes it.
fn find_cycle(edges: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &std::collections::BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(k) = path.iter().position(|p| p == n) {
            let mut cycle = path[k..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// Inside every folder of `src/`, the files form layers: no file names a sibling that names it
/// back, directly or around a loop. `mod.rs` is the folder's door (it declares and re-exports
/// its files, which may use what it defines) and is left out.
#[test]
fn no_folder_has_an_import_cycle_between_its_files() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![src.clone()];
    let mut cycles = Vec::new();
    while let Some(dir) = dirs.pop() {
        let mut siblings = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p.clone());
            }
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if (p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
                && stem != "mod"
                && stem != "lib"
                && stem != "main"
            {
                siblings.push(stem);
            }
        }
        let rel = dir.strip_prefix(&src).unwrap();
        let crate_path: String = std::iter::once("crate".to_string())
            .chain(rel.components().map(|c| c.as_os_str().to_string_lossy().to_string()))
            .collect::<Vec<_>>()
            .join("::");
        let mut edges = std::collections::BTreeMap::new();
        for name in &siblings {
            let file = dir.join(format!("{name}.rs"));
            let mut text = std::fs::read_to_string(&file).unwrap_or_default();
            // A sub-folder's files speak for it.
            let mut inner = Vec::new();
            if dir.join(name).is_dir() {
                files(&dir.join(name), &mut inner);
            }
            for p in inner {
                // From inside the sub-folder `super::` is the sub-folder, so only `crate::` paths count.
                let t = std::fs::read_to_string(p).unwrap().replace("super::", "self_::");
                text.push_str(&t);
            }
            let mut uses = sibling_uses(&text, &crate_path, &siblings);
            uses.remove(name);
            edges.insert(name.clone(), uses);
        }
        if let Some(c) = find_cycle(&edges) {
            cycles.push(format!("{}: {}", rel.display(), c.join(" → ")));
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_reads_groups_and_finds_loops() {
    let siblings: Vec<String> = ["claim", "expr", "scope"].map(String::from).to_vec();
    let uses = sibling_uses(
        "use super::{claim::Claim, expr::{lex, Tok}};\nuse crate::arith::scope;",
        "crate::arith",
        &siblings,
    );
    assert_eq!(uses.into_iter().collect::<Vec<_>>(), ["claim", "expr", "scope"]);
    let tests_only =
        sibling_uses("fn a() {}\n#[cfg(test)]\nmod tests {\n    use super::expr;\n}", "crate::arith", &siblings);
    assert!(tests_only.is_empty());
    let edge = |a: &str, b: &[&str]| (a.to_string(), b.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
    let layered = [edge("check", &["claim", "scope"]), edge("scope", &["claim"]), edge("claim", &[])].into();
    assert_eq!(find_cycle(&layered), None);
    let looped = [edge("check", &["scope"]), edge("scope", &["claim"]), edge("claim", &["check"])].into();
    assert_eq!(find_cycle(&looped).unwrap(), ["check", "scope", "claim", "check"]);
}
