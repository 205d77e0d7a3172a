//! The layering check (ARCHITECTURE.md, "Stages"): the engine's source is
//! grouped in stage folders, and a stage may only import from itself and
//! the stages below it. This test reads every file under `src/`, finds
//! each `crate::<stage>` path (in `use` lines and inline alike, `use
//! crate::{a, b}` groups and `super::` paths that climb to the crate root
//! included) and fails naming the file, the line and the import that goes
//! up a layer.
//!
//! Test code is not checked: files declared under `#[cfg(test)] mod x;` and
//! inline `#[cfg(test)] mod x { … }` blocks may reach up (a monitor test
//! starts a whole engine). Comments are not code and are skipped too.

use std::path::{Path, PathBuf};

/// The stages, bottom first: the one place the order is written.
const LAYERS: &[&str] = &[
    "model", "os", "net", "settings", "store", "deliver", "enrich", "source", "watch", "engine",
];

/// Files at the crate root that only declare and re-export (or are tests).
const ROOT_FILES: &[&str] = &["lib.rs"];

#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    text: String,
    problem: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}\n    {}",
            self.file,
            self.line,
            self.problem,
            self.text.trim()
        )
    }
}

fn layer(stage: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == stage)
}

/// The module path of a file relative to `src/`: `model/event.rs` ->
/// `["model", "event"]`, `notify/mod.rs` -> `["notify"]`, `lib.rs` -> `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs").to_owned();
        if stem != "mod" && stem != "lib" {
            parts.push(stem);
        }
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The code of a line without a `//` comment and without string contents
/// (a `"crate::x"` in a message is not an import). Good enough for this
/// code base: no raw strings hold `crate::` or braces that matter.
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push('"');
            }
            '/' if chars.peek() == Some(&'/') => break,
            // A char literal of a brace ('{' / '}') would unbalance blocks.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("{'") || rest.starts_with("}'") {
                    chars.next();
                    chars.next();
                    out.push_str("' '");
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every top-level module a piece of code names through `crate::` (a
/// `crate::{a, b::c}` group gives each path's first segment) or through
/// enough `super::` to reach the crate root; `module` is the file's module
/// path.
fn tops_named(text: &str, module: &[String]) -> Vec<String> {
    let mut tops: Vec<String> = crate_paths(text)
        .into_iter()
        .filter_map(|p| p.into_iter().next())
        .collect();
    // `super::super::x` climbing to the crate root.
    let mut i = 0;
    while let Some(pos) = text[i..].find("super::").map(|p| p + i) {
        let before = text[..pos].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            i = pos + 1;
            continue;
        }
        let mut depth = 0;
        let mut j = pos;
        while text[j..].starts_with("super::") {
            depth += 1;
            j += "super::".len();
        }
        i = j;
        if depth >= module.len() {
            let name: String = text[j..].chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() && name != "self" {
                tops.push(name);
            }
        }
    }
    tops
}

/// The first segment of each path in a `a::b, c, d::{e, f}}` group body
/// (up to its closing brace).
fn group_heads(group: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut depth = 0;
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => pieces.push(String::new()),
            c if depth == 0 => pieces.last_mut().expect("one piece").push(c),
            _ => {}
        }
    }
    pieces
        .iter()
        .map(|p| {
            p.trim()
                .chars()
                .take_while(|c| is_ident(*c))
                .collect::<String>()
        })
        .filter(|h| !h.is_empty() && h != "self")
        .collect()
}

/// The `#[cfg(test)] mod name;` declarations of a file: their names.
fn test_mod_decls(lines: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "#[cfg(test)]" {
            continue;
        }
        let Some(next) = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty() && !l.starts_with("#["))
        else {
            continue;
        };
        let decl = next
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
            names.push(name.trim().to_owned());
        }
    }
    names
}

/// The code of a file outside its inline `#[cfg(test)] mod … { }` blocks,
/// comments and string contents, as (line number from 1, code); a `use
/// crate::{` group over several lines comes as one piece at its first line.
fn code_lines(source: &str) -> Vec<(usize, String)> {
    let lines: Vec<String> = source.lines().map(code_of).collect();
    let mut out = Vec::new();
    let mut skip_depth: Option<i64> = None;
    let mut pending_cfg_test = false;
    let mut n = 0;
    while n < lines.len() {
        let start = n;
        let mut code = lines[n].clone();
        n += 1;
        let balance = |s: &str| s.matches('{').count() as i64 - s.matches('}').count() as i64;
        if let Some(depth) = skip_depth.as_mut() {
            *depth += balance(&code);
            if *depth <= 0 {
                skip_depth = None;
            }
            continue;
        }
        let trimmed = code.trim().to_owned();
        if trimmed == "#[cfg(test)]" {
            pending_cfg_test = true;
            continue;
        }
        if pending_cfg_test && !trimmed.is_empty() && !trimmed.starts_with("#[") {
            pending_cfg_test = false;
            let decl = trimmed
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if decl.starts_with("mod ") && decl.ends_with('{') {
                if balance(&code) > 0 {
                    skip_depth = Some(balance(&code));
                }
                continue;
            }
        }
        if let Some(open) = code.find("crate::{") {
            while balance(&code[open..]) > 0 && n < lines.len() {
                code.push(' ');
                code.push_str(&lines[n]);
                n += 1;
            }
        }
        out.push((start + 1, code));
    }
    out
}

/// Checks one file's text; `rel` is its path under `src/`.
fn check_file(rel: &Path, source: &str) -> Vec<Violation> {
    let module = module_path(rel);
    let Some(stage) = module.first() else {
        return Vec::new(); // lib.rs: declarations and re-exports
    };
    let mine = match layer(stage) {
        Some(l) => l,
        None => {
            return vec![Violation {
                file: rel.display().to_string(),
                line: 1,
                text: String::new(),
                problem: format!(
                    "`{stage}` is not a stage: put the module in one of {LAYERS:?} (or list a new stage in LAYERS)"
                ),
            }]
        }
    };
    let mut out = Vec::new();
    for (line, code) in code_lines(source) {
        for top in tops_named(&code, &module) {
            let problem = match layer(&top) {
                Some(theirs) if theirs <= mine => continue,
                Some(_) => format!(
                    "stage `{stage}` imports from `{top}`, a stage above it (layers, bottom first: {})",
                    LAYERS.join(" < ")
                ),
                None => format!(
                    "`crate::{top}` is not a stage path: import through the stage (`crate::<stage>::{top}`) so the layer shows"
                ),
            };
            out.push(Violation {
                file: rel.display().to_string(),
                line,
                text: source.lines().nth(line - 1).unwrap_or_default().to_owned(),
                problem,
            });
        }
    }
    out
}

/// The module a `crate::` path names, as a unit of the circle check: the
/// stage and the module under it (`crate::store::reach::gaps` ->
/// `store::reach`; `crate::store::Writer` -> `store`, the stage's root).
fn unit_of(path: &[&str], modules: &[String]) -> String {
    match path {
        [stage, module, ..] if modules.iter().any(|m| m == &format!("{stage}::{module}")) => {
            format!("{stage}::{module}")
        }
        [stage, ..] => (*stage).to_owned(),
        [] => String::new(),
    }
}

/// Every `crate::a::b` path of a piece of code, as segments.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut i = 0;
    while let Some(pos) = text[i..].find("crate::").map(|p| p + i) {
        let before = text[..pos].chars().next_back();
        i = pos + "crate::".len();
        if before.is_some_and(|c| is_ident(c) || c == '$' || c == ':') {
            continue;
        }
        let rest = &text[i..];
        let mut segs = Vec::new();
        let mut r = rest;
        loop {
            let name: String = r.chars().take_while(|c| is_ident(*c)).collect();
            if name.is_empty() {
                break;
            }
            r = &r[name.len()..];
            segs.push(name);
            match r.strip_prefix("::") {
                Some(next) => r = next,
                None => break,
            }
        }
        if let Some(group) = r.strip_prefix('{') {
            for head in group_heads(group) {
                let mut p = segs.clone();
                p.push(head);
                paths.push(p);
            }
        } else if !segs.is_empty() {
            paths.push(segs);
        }
    }
    paths
}

/// The circle check's edges of one file: (from unit, to unit, line).
fn unit_edges(rel: &Path, source: &str, modules: &[String]) -> Vec<(String, String, usize)> {
    let module = module_path(rel);
    let from = match module.as_slice() {
        [stage, m, ..] => format!("{stage}::{m}"),
        [stage] => stage.clone(),
        [] => return Vec::new(),
    };
    let mut edges = Vec::new();
    for (n, code) in code_lines(source) {
        for path in crate_paths(&code) {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            let to = unit_of(&segs, modules);
            let stage_of = |u: &str| u.split("::").next().unwrap_or_default().to_owned();
            // A stage's root and its own modules are one structure (a
            // parent declares and re-exports its children).
            let structural = (from == stage_of(&from) || to == stage_of(&to))
                && stage_of(&from) == stage_of(&to);
            if to != from && !structural {
                edges.push((from.clone(), to, n));
            }
        }
    }
    edges
}

/// Every `.rs` file under `dir`, with whether it is test-only code.
fn files(src: &Path) -> Vec<(PathBuf, bool)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    walk(src, &mut all);
    // Directories of test-only modules: `#[cfg(test)] mod tests;` in
    // `a/b.rs` is `a/b/tests.rs` (and everything under `a/b/tests/`).
    let mut test_roots: Vec<PathBuf> = Vec::new();
    for path in &all {
        let text = std::fs::read_to_string(path).expect("readable source");
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let stem = path.file_stem().expect("a file name").to_string_lossy();
        let dir = if stem == "mod" || stem == "lib" {
            path.parent().expect("a parent").to_path_buf()
        } else {
            path.with_extension("")
        };
        for name in test_mod_decls(&lines) {
            test_roots.push(dir.join(format!("{name}.rs")));
            test_roots.push(dir.join(&name));
        }
    }
    all.into_iter()
        .map(|p| {
            let test = test_roots.iter().any(|t| p.starts_with(t));
            (p, test)
        })
        .collect()
}

#[test]
fn imports_only_go_down_the_stages() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut checked = 0;
    for (path, test_only) in files(&src) {
        if test_only {
            continue;
        }
        let rel = path.strip_prefix(&src).expect("under src");
        if ROOT_FILES.iter().any(|r| rel == Path::new(r)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        violations.extend(check_file(rel, &text));
        checked += 1;
    }
    assert!(checked > 40, "only {checked} files checked: is src/ there?");
    assert!(
        violations.is_empty(),
        "{} import(s) go up a layer or skip the stage path:\n{}",
        violations.len(),
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The check itself: it must see an upward import in every form it reads.
#[test]
fn the_check_sees_upward_imports_in_every_form() {
    let model = Path::new("model/event.rs");
    let found = |src: &str| check_file(model, src);
    assert_eq!(found("use crate::store::Store;").len(), 1);
    assert_eq!(found("let s = crate::engine::Engine::start();").len(), 1);
    assert_eq!(found("use crate::{model::kind, deliver::notify};").len(), 1);
    assert_eq!(
        found("use crate::{\n    model::kind,\n    watch::monitor,\n};").len(),
        1
    );
    assert_eq!(found("use super::super::store::Reader;").len(), 1);
    // Not stage paths: the old flat names.
    assert_eq!(found("use crate::event::Event;").len(), 1);
    let v = &found("\n\nuse crate::store::Store;")[0];
    assert_eq!((v.file.as_str(), v.line), ("model/event.rs", 3));
    assert!(v.problem.contains("`store`"), "{}", v.problem);
}

#[test]
fn the_check_lets_downward_and_test_code_pass() {
    let deliver = Path::new("deliver/policy.rs");
    let found = |src: &str| check_file(deliver, src);
    assert!(found("use crate::model::kind::Subject;\nuse crate::store::Writer;").is_empty());
    assert!(found("use super::storm::Storm;").is_empty());
    // Comments and strings are not imports.
    assert!(found("// see crate::engine::Engine\nlet s = \"crate::engine\";").is_empty());
    // An inline test module may reach up; the code after it may not.
    let src = "#[cfg(test)]\nmod tests {\n    use crate::engine::Engine;\n    fn f() { if x { } }\n}\nuse crate::watch::monitor;";
    let v = found(src);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].line, 6);
}

/// A circle among the units, if any: each step as (from, to, where).
fn find_circle(edges: &[(String, String, String)]) -> Option<Vec<(String, String, String)>> {
    use std::collections::BTreeMap;
    let mut next: BTreeMap<&str, Vec<&(String, String, String)>> = BTreeMap::new();
    for e in edges {
        next.entry(e.0.as_str()).or_default().push(e);
    }
    // Depth-first search keeping the path; a unit met again on the path
    // closes a circle.
    fn visit<'a>(
        unit: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a (String, String, String)>>,
        path: &mut Vec<&'a (String, String, String)>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<Vec<(String, String, String)>> {
        if done.contains(unit) {
            return None;
        }
        for e in next.get(unit).into_iter().flatten() {
            if let Some(at) = path.iter().position(|p| p.0 == e.1) {
                let mut circle: Vec<_> = path[at..].iter().map(|p| (*p).clone()).collect();
                circle.push((*e).clone());
                return Some(circle);
            }
            if e.1 == e.0 {
                continue;
            }
            path.push(e);
            if let Some(c) = visit(&e.1, next, path, done) {
                return Some(c);
            }
            path.pop();
        }
        done.insert(unit);
        None
    }
    let mut done = std::collections::BTreeSet::new();
    for unit in next.keys() {
        if let Some(c) = visit(unit, &next, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_circles_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let code: Vec<(PathBuf, String)> = files(&src)
        .into_iter()
        .filter(|(_, test_only)| !test_only)
        .map(|(p, _)| {
            let text = std::fs::read_to_string(&p).expect("readable source");
            (p.strip_prefix(&src).expect("under src").to_path_buf(), text)
        })
        .collect();
    let modules: Vec<String> = code
        .iter()
        .filter_map(|(rel, _)| match module_path(rel).as_slice() {
            [stage, m, ..] => Some(format!("{stage}::{m}")),
            _ => None,
        })
        .collect();
    let mut edges = Vec::new();
    for (rel, text) in &code {
        for (from, to, line) in unit_edges(rel, text, &modules) {
            edges.push((from, to, format!("{}:{line}", rel.display())));
        }
    }
    assert!(edges.len() > 50, "only {} imports seen", edges.len());
    if let Some(circle) = find_circle(&edges) {
        panic!(
            "modules import each other in a circle (move the shared item down):\n{}",
            circle
                .iter()
                .map(|(from, to, at)| format!("    {from} -> {to}  ({at})"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn the_circle_check_finds_a_circle() {
    let e = |a: &str, b: &str| (a.to_owned(), b.to_owned(), "x.rs:1".to_owned());
    let line = [
        e("model::kind", "model::text"),
        e("model::event", "model::kind"),
    ];
    assert_eq!(find_circle(&line), None);
    let circle = [
        e("deliver::outbox", "deliver::notify"),
        e("deliver::notify", "enrich::pipeline"),
        e("enrich::pipeline", "deliver::outbox"),
    ];
    let found = find_circle(&circle).expect("a circle");
    assert_eq!(found.len(), 3, "{found:?}");
    // A stage's root and its own modules are structure, not a circle.
    let modules = vec!["store::reach".to_owned(), "model::kind".to_owned()];
    let edges = unit_edges(
        Path::new("store/reach.rs"),
        "use crate::store::{Reader, StoreError};\nuse crate::model::kind::Subject;",
        &modules,
    );
    assert_eq!(
        edges,
        vec![("store::reach".into(), "model::kind".into(), 2)]
    );
}
