//! The floors of ARCHITECTURE.md, checked: each room of `src/` names only the rooms below it.

use std::collections::BTreeSet;
use std::path::Path;

/// Each room and the rooms it may import (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("dirs", &[]),
    ("signals", &[]),
    ("trace", &["dirs", "signals"]),
    ("model", &["dirs"]),
    ("verify", &["model", "trace", "signals"]),
    ("refine", &["verify", "model", "trace", "signals"]),
    ("service", &["refine", "verify", "model", "trace", "signals"]),
    ("jobs", &["service", "refine", "verify", "model", "trace", "signals"]),
    ("tui", &["jobs", "service", "refine", "verify", "model", "trace", "signals", "dirs"]),
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
