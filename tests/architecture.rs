//! The shape of the code, checked: no import loops between modules, one module that writes to
//! Azure, and layers that stay layers (the controls and the API know no HTTP). Read from the
//! sources, without their `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("source directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src` (`controller::phistore::kinds`); `crate` for the
/// roots.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.first().is_some_and(|p| p == "bin") || parts == ["lib"] || parts == ["main"] {
        return "crate".into();
    }
    parts.join("::")
}

/// A file's code without its test module (everything from the first `#[cfg(test)]`) and
/// without comment lines (doc links name modules without importing them).
fn code_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("source");
    let code = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Tree {
    /// Module → its code.
    modules: BTreeMap<String, String>,
}

impl Tree {
    fn load() -> Tree {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // Test modules in files of their own (`…/tests.rs`) are left out like inline ones.
        let modules = files
            .iter()
            .filter(|f| !f.starts_with(src.join("bin")))
            .map(|f| (module_of(&src, f), code_of(f)))
            .filter(|(m, _)| m != "crate" && m != "tests" && !m.ends_with("::tests"))
            .collect();
        Tree { modules }
    }

    /// The longest known module a path names (`controller::pipeline::Failure` →
    /// `controller::pipeline`).
    fn resolve(&self, path: &str) -> Option<String> {
        let mut parts: Vec<&str> = path.split("::").collect();
        while !parts.is_empty() {
            let candidate = parts.join("::");
            if self.modules.contains_key(&candidate) {
                return Some(candidate);
            }
            parts.pop();
        }
        None
    }

    /// The modules each module refers to (`crate::…` and `super::…` paths, grouped `use`
    /// lists included), without itself, its ancestors or its descendants.
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for (module, code) in &self.modules {
            let parent: Vec<&str> = {
                let mut p: Vec<&str> = module.split("::").collect();
                p.pop();
                p
            };
            let mut deps = BTreeSet::new();
            for path in paths_in(code) {
                let full = if let Some(rest) = path.strip_prefix("crate::") {
                    rest.to_string()
                } else if let Some(rest) = path.strip_prefix("super::") {
                    if parent.is_empty() {
                        rest.to_string()
                    } else {
                        format!("{}::{rest}", parent.join("::"))
                    }
                } else {
                    continue;
                };
                if let Some(dep) = self.resolve(&full) {
                    let related = dep == *module
                        || module.starts_with(&format!("{dep}::"))
                        || dep.starts_with(&format!("{module}::"));
                    if !related {
                        deps.insert(dep);
                    }
                }
            }
            out.insert(module.clone(), deps);
        }
        out
    }

    /// [`Tree::edges`] with each module also importing what its submodules import: a path
    /// that names a module through its re-exports (`controls::storage::plan`) resolves to the
    /// module, not to the submodule whose imports come with it, so a loop through a re-export
    /// is found only this way.
    fn edges_with_submodules(&self) -> BTreeMap<String, BTreeSet<String>> {
        let direct = self.edges();
        let mut out = BTreeMap::new();
        for module in direct.keys() {
            let prefix = format!("{module}::");
            let deps: BTreeSet<String> = direct
                .iter()
                .filter(|(m, _)| *m == module || m.starts_with(&prefix))
                .flat_map(|(_, deps)| deps.iter().cloned())
                .filter(|d| {
                    d != module && !d.starts_with(&prefix) && !module.starts_with(&format!("{d}::"))
                })
                .collect();
            out.insert(module.clone(), deps);
        }
        out
    }
}

/// The paths a piece of code names: `crate::a::b::C`, `super::x`, and each member of a
/// grouped `use crate::a::{b, c::D}` as `crate::a::b`, `crate::a::c::D`.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let is_path = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::"))
            && (i == 0 || !is_path(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && is_path(bytes[j]) {
            j += 1;
        }
        let head = code[i..j].trim_end_matches("::").to_string();
        if code[j..].starts_with('{') && code[i..j].ends_with("::") {
            // A grouped list: one level is enough for the module a member names.
            let close = code[j..].find('}').map_or(code.len(), |c| j + c);
            for member in code[j + 1..close].split(',') {
                let member = member.trim().trim_start_matches('{');
                let name = member
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or_default();
                if !name.is_empty() && name != "self" {
                    out.push(format!("{head}::{name}"));
                }
            }
            out.push(head);
            i = close;
        } else {
            out.push(head);
            i = j;
        }
    }
    out
}

/// The import loops: strongly connected groups of more than one module.
fn loops(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative over a small graph.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(ws) = s.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_loop_finder_finds_a_loop_and_ignores_a_chain() {
    let graph = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        loops(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    assert!(loops(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    assert_eq!(
        paths_in("use crate::azure::{client::AzureClient, id};\nlet x = super::trust::permit();"),
        [
            "crate::azure::client::AzureClient",
            "crate::azure::id",
            "crate::azure",
            "super::trust::permit"
        ]
    );
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let tree = Tree::load();
    assert!(
        tree.modules.len() > 40,
        "{} modules found",
        tree.modules.len()
    );
    let edges = tree.edges();
    // The graph is read: the driver's known imports are in it.
    for (from, to) in [
        ("controller::phistore", "controller::execute"),
        ("controller::execute", "controller::trust"),
        ("controller::sweep", "controller::grants"),
    ] {
        assert!(
            edges[from].contains(to),
            "{from} -> {to} missing: {:?}",
            edges[from]
        );
    }
    let found = loops(&edges);
    assert!(found.is_empty(), "import loops in src: {found:?}");
    // Nor through a module's re-exports of its submodules.
    let found = loops(&tree.edges_with_submodules());
    assert!(
        found.is_empty(),
        "import loops in src through submodules: {found:?}"
    );
}

/// The verbs of `AzureClient` that change Azure.
const WRITE_VERBS: &[&str] = &[
    ".write(",
    ".write_and_wait(",
    ".delete(",
    ".read_modify_write(",
    ".ensure_role_assignment(",
    ".assign_role(",
    ".delete_role_assignment(",
    ".ensure_diagnostic_setting(",
    ".put_diagnostic_setting(",
    ".ensure_diagnostic_setting_absent(",
    ".create_key(",
    ".rotate_key(",
    ".set_key_expiry(",
    ".ensure_key(",
    ".create_key_with_policy(",
    ".ensure_rotation_policy(",
    ".ensure_private_endpoint(",
    ".ensure_private_endpoint_absent(",
    ".ensure_policy_assignment(",
    ".update_storage_account(",
    ".set_blob_service(",
    ".set_file_service(",
];

/// Whether `code` calls `verb` on an Azure client. A Kubernetes `Api::delete` shares the name
/// `.delete(` but always takes `DeleteParams` (an AzureClient's never does): a call whose
/// statement names them is not an Azure write.
fn azure_calls(code: &str, verb: &str) -> bool {
    code.match_indices(verb).any(|(at, _)| {
        let statement = code[at..].split(';').next().unwrap_or_default();
        !(verb == ".delete(" && statement.contains("DeleteParams"))
    })
}

#[test]
fn azure_writes_are_told_from_kubernetes_deletes() {
    assert!(azure_calls("client.delete(&id).await?;", ".delete("));
    assert!(azure_calls(
        "api.delete(NAME, &DeleteParams::default()).await?; client.delete(&id).await?;",
        ".delete("
    ));
    assert!(!azure_calls(
        "api.delete(NAME, &DeleteParams::default()).await?;",
        ".delete("
    ));
    assert!(azure_calls(
        "client.write(&id, DeleteParams).await?;",
        ".write("
    ));
}

#[test]
fn only_the_executor_writes_to_azure() {
    let tree = Tree::load();
    let mut writers = BTreeMap::new();
    for (module, code) in &tree.modules {
        if module.starts_with("azure") || module == "controller::execute" {
            continue;
        }
        let calls: Vec<&str> = WRITE_VERBS
            .iter()
            .copied()
            .filter(|verb| azure_calls(code, verb))
            .collect();
        if !calls.is_empty() {
            writers.insert(module.clone(), calls);
        }
    }
    assert!(
        writers.is_empty(),
        "Azure writes outside controller::execute: {writers:?}"
    );
    // The executor is where they are.
    let executor = &tree.modules["controller::execute"];
    assert!(WRITE_VERBS.iter().filter(|v| executor.contains(*v)).count() >= 10);
}

#[test]
fn the_controls_and_the_api_know_no_transport() {
    let tree = Tree::load();
    let edges = tree.edges();
    for (module, code) in &tree.modules {
        if !(module.starts_with("controls") || module.starts_with("api")) {
            continue;
        }
        for transport in ["azure_core", "reqwest", "kube::Client", "hyper"] {
            assert!(
                !code.contains(transport),
                "{module} names {transport}: the pure layers take data, not clients"
            );
        }
        for dep in &edges[module] {
            // The catalog sits below both: the API names its ids without knowing how a
            // control is evaluated.
            assert!(
                !(module.starts_with("api") && dep.starts_with("controls")),
                "{module} imports {dep}: the API may know the catalog, not the evaluators"
            );
            assert!(
                !dep.starts_with("controller")
                    && ![
                        "azure::client",
                        "azure::lro",
                        "azure::transport",
                        "azure::credential"
                    ]
                    .contains(&dep.as_str()),
                "{module} imports {dep}"
            );
        }
    }
}

/// Every Azure operation the code names is in the permission table `hipaa-operator azure-role`
/// prints, and the table names no operation the code no longer makes: a new call cannot ship
/// without the role that lets it through.
#[test]
fn the_generated_role_covers_every_call_the_code_makes() {
    use hipaa_operator::azure::permissions::{ARM_OPERATIONS, KEY_VAULT_OPERATIONS, knows};
    let tree = Tree::load();
    let mut named = BTreeSet::new();
    for (module, code) in &tree.modules {
        if module == "azure::permissions" {
            continue;
        }
        // Operation ids as Azure's specifications name them (`Vaults_Update`), and the Key
        // Vault data plane's (`call("RotateKey"`).
        for quoted in code.split('"').skip(1).step_by(2) {
            let mut parts = quoted.splitn(2, '_');
            let (head, tail) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let is_op = head.len() > 1
                && head.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && head.chars().nth(1).is_some_and(|c| c.is_ascii_lowercase())
                && tail.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && head != "Standard"
                && quoted != "LongRunningOperation_Poll";
            if is_op {
                named.insert(quoted.to_string());
            }
        }
        for call in code.split(".call(\"").skip(1) {
            if let Some(op) = call.split('"').next() {
                named.insert(op.to_string());
            }
        }
    }
    assert!(named.len() > 60, "{named:?}");
    let missing: Vec<&String> = named.iter().filter(|op| !knows(op)).collect();
    assert!(
        missing.is_empty(),
        "operations without a permission in azure::permissions: {missing:?}"
    );
    let stale: Vec<&str> = ARM_OPERATIONS
        .iter()
        .chain(KEY_VAULT_OPERATIONS)
        .map(|(op, _)| *op)
        .filter(|op| *op != "Resources" && !named.contains(*op))
        .collect();
    assert!(
        stale.is_empty(),
        "permissions for calls no longer made: {stale:?}"
    );
}
