//! The subset of the Kusto Query Language that the simulator's Resource Graph answers:
//!
//! ```text
//! Resources
//! | where <predicate>            (and, or, not(...), parentheses)
//! | project <column>[, ...]      (a column, a dotted path, tags['k'], or name = path)
//! | order by <path> [asc|desc]   (also `sort by`)
//! | limit <n>                    (also `take`)
//! ```
//!
//! Predicates compare a column or path with string or number literals: `==`, `=~`, `!=`, `!~`,
//! `in`, `in~`, `!in`, `!in~`, `contains`, `!contains`, `startswith`, `has`. `=~`, `in~`,
//! `contains`, `startswith` and `has` ignore case, as in Kusto. Anything else is a parse error
//! naming what was not understood, as Resource Graph answers a query it cannot run.

use std::sync::Arc;

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub table: String,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Where(Expr),
    Project(Vec<(String, Path)>),
    OrderBy(Vec<(Path, bool)>),
    Limit(usize),
}

/// A column and the keys below it: `properties.encryption.keySource`, `tags['data-class']`.
pub type Path = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: Path,
        op: Op,
        values: Vec<Value>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    EqCi,
    Ne,
    NeCi,
    In,
    InCi,
    NotIn,
    NotInCi,
    Contains,
    NotContains,
    StartsWith,
    Has,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Sym(&'static str),
}

const SYMBOLS: &[&str] = &[
    "!in~", "==", "=~", "!=", "!~", "|", "(", ")", ",", ".", "[", "]", "=", "~", "!",
];

fn tokenize(q: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string literal is not closed".into()),
                    Some('\\') => {
                        if let Some(n) = chars.get(i + 1) {
                            s.push(*n);
                        }
                        i += 2;
                    }
                    Some(ch) if *ch == c => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Tok::Num(
                text.parse()
                    .map_err(|_| format!("'{text}' is not a number"))?,
            ));
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
            let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
                return Err(format!("unexpected character '{c}'"));
            };
            out.push(Tok::Sym(sym));
            i += sym.chars().count();
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }

    fn sym(&mut self, s: &str) -> Result<(), String> {
        if self.is_sym(s) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected '{s}' {}", self.here()))
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "at the end of the query".into(),
            Some(Tok::Ident(x)) => format!("near '{x}'"),
            Some(Tok::Str(x)) => format!("near '{x}'"),
            Some(Tok::Num(x)) => format!("near {x}"),
            Some(Tok::Sym(x)) => format!("near '{x}'"),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Ident(x)) => Ok(x),
            _ => {
                self.at -= 1;
                Err(format!("expected a name {}", self.here()))
            }
        }
    }

    fn path(&mut self) -> Result<Path, String> {
        let mut path = vec![self.ident()?];
        loop {
            if self.is_sym(".") {
                self.at += 1;
                path.push(self.ident()?);
            } else if self.is_sym("[") {
                self.at += 1;
                match self.next() {
                    Some(Tok::Str(k)) => path.push(k),
                    _ => return Err("expected a quoted key inside [ ]".into()),
                }
                self.sym("]")?;
            } else {
                return Ok(path);
            }
        }
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Value::String(s)),
            Some(Tok::Num(n)) => Ok(serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            Some(Tok::Ident(w)) if w == "true" || w == "false" => Ok(Value::Bool(w == "true")),
            _ => {
                self.at -= 1;
                Err(format!("expected a literal {}", self.here()))
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Value>, String> {
        self.sym("(")?;
        let mut values = vec![self.literal()?];
        while self.is_sym(",") {
            self.at += 1;
            values.push(self.literal()?);
        }
        self.sym(")")?;
        Ok(values)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.atom()?;
        while self.is_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        if self.is_sym("(") {
            self.at += 1;
            let e = self.or()?;
            self.sym(")")?;
            return Ok(e);
        }
        if self.is_word("not") && matches!(self.toks.get(self.at + 1), Some(Tok::Sym("("))) {
            self.at += 2;
            let e = self.or()?;
            self.sym(")")?;
            return Ok(Expr::Not(Box::new(e)));
        }
        let path = self.path()?;
        let op = self.op()?;
        let values = match op {
            Op::In | Op::InCi | Op::NotIn | Op::NotInCi => self.list()?,
            _ => vec![self.literal()?],
        };
        Ok(Expr::Cmp { path, op, values })
    }

    fn op(&mut self) -> Result<Op, String> {
        let op = match self.next() {
            Some(Tok::Sym("==")) => Op::Eq,
            Some(Tok::Sym("=~")) => Op::EqCi,
            Some(Tok::Sym("!=")) => Op::Ne,
            Some(Tok::Sym("!~")) => Op::NeCi,
            Some(Tok::Sym("!in~")) => Op::NotInCi,
            Some(Tok::Sym("!")) if self.is_word("in") => {
                self.at += 1;
                Op::NotIn
            }
            Some(Tok::Sym("!")) if self.is_word("contains") => {
                self.at += 1;
                Op::NotContains
            }
            Some(Tok::Ident(w)) if w == "in" => {
                if self.is_sym("~") {
                    self.at += 1;
                    Op::InCi
                } else {
                    Op::In
                }
            }
            Some(Tok::Ident(w)) if w == "contains" => Op::Contains,
            Some(Tok::Ident(w)) if w == "startswith" => Op::StartsWith,
            Some(Tok::Ident(w)) if w == "has" => Op::Has,
            _ => {
                self.at -= 1;
                return Err(format!("unsupported or missing operator {}", self.here()));
            }
        };
        Ok(op)
    }

    fn stage(&mut self) -> Result<Stage, String> {
        let word = self.ident()?.to_ascii_lowercase();
        match word.as_str() {
            "where" => Ok(Stage::Where(self.or()?)),
            "project" => {
                let mut cols = Vec::new();
                loop {
                    let first = self.path()?;
                    let (name, path) = if self.is_sym("=") && first.len() == 1 {
                        self.at += 1;
                        (first[0].clone(), self.path()?)
                    } else {
                        (first.join("_"), first)
                    };
                    cols.push((name, path));
                    if !self.is_sym(",") {
                        break;
                    }
                    self.at += 1;
                }
                Ok(Stage::Project(cols))
            }
            "order" | "sort" => {
                if !self.is_word("by") {
                    return Err(format!("expected 'by' {}", self.here()));
                }
                self.at += 1;
                let mut keys = Vec::new();
                loop {
                    let path = self.path()?;
                    // Kusto sorts descending unless told otherwise.
                    let mut desc = true;
                    if self.is_word("asc") {
                        desc = false;
                        self.at += 1;
                    } else if self.is_word("desc") {
                        self.at += 1;
                    }
                    keys.push((path, desc));
                    if !self.is_sym(",") {
                        break;
                    }
                    self.at += 1;
                }
                Ok(Stage::OrderBy(keys))
            }
            "limit" | "take" => match self.next() {
                Some(Tok::Num(n)) if n >= 0.0 => Ok(Stage::Limit(n as usize)),
                _ => Err("limit expects a number".into()),
            },
            other => Err(format!(
                "the operator '{other}' is not supported by this simulator (where, project, order by, limit)"
            )),
        }
    }
}

/// Parses a query, or says what it could not understand.
pub fn parse(q: &str) -> Result<Query, String> {
    let mut p = Parser {
        toks: tokenize(q)?,
        at: 0,
    };
    let table = p.ident()?;
    let mut stages = Vec::new();
    while p.peek().is_some() {
        p.sym("|")?;
        stages.push(p.stage()?);
    }
    Ok(Query { table, stages })
}

/// The value at a path of a row, or null.
pub fn lookup<'a>(row: &'a Value, path: &[String]) -> &'a Value {
    let mut v = row;
    for (i, key) in path.iter().enumerate() {
        v = match v {
            // Column names are case-insensitive; keys below them are not.
            Value::Object(m) if i == 0 => m
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
                .unwrap_or(&Value::Null),
            Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    v
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn same(a: &Value, b: &Value, ci: bool) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => match (text(a), text(b)) {
            (Some(x), Some(y)) if ci => x.eq_ignore_ascii_case(&y),
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Whether a row passes a predicate.
pub fn matches(row: &Value, e: &Expr) -> bool {
    match e {
        Expr::And(a, b) => matches(row, a) && matches(row, b),
        Expr::Or(a, b) => matches(row, a) || matches(row, b),
        Expr::Not(a) => !matches(row, a),
        Expr::Cmp { path, op, values } => {
            let v = lookup(row, path);
            let first = &values[0];
            let lower = |x: &Value| text(x).map(|s| s.to_lowercase());
            match op {
                Op::Eq => same(v, first, false),
                Op::EqCi => same(v, first, true),
                Op::Ne => !same(v, first, false),
                Op::NeCi => !same(v, first, true),
                Op::In => values.iter().any(|x| same(v, x, false)),
                Op::InCi => values.iter().any(|x| same(v, x, true)),
                Op::NotIn => !values.iter().any(|x| same(v, x, false)),
                Op::NotInCi => !values.iter().any(|x| same(v, x, true)),
                Op::Contains | Op::NotContains => {
                    let found =
                        matches!((lower(v), lower(first)), (Some(h), Some(n)) if h.contains(&n));
                    found == (*op == Op::Contains)
                }
                Op::StartsWith => {
                    matches!((lower(v), lower(first)), (Some(h), Some(n)) if h.starts_with(&n))
                }
                Op::Has => matches!((lower(v), lower(first)), (Some(h), Some(n))
                    if h.split(|c: char| !c.is_alphanumeric()).any(|term| term == n)),
            }
        }
    }
}

/// Runs the stages over the rows of the table, in order. `project` keeps only its columns.
/// Runs the query's stages over `rows`. Rows are shared, not copied: only projections build
/// new values, so a query over a large table costs its filter, not a copy of every row.
pub fn run(query: &Query, mut rows: Vec<Arc<Value>>) -> Vec<Arc<Value>> {
    for stage in &query.stages {
        match stage {
            Stage::Where(e) => rows.retain(|r| matches(r, e)),
            Stage::Project(cols) => {
                rows = rows
                    .into_iter()
                    .map(|r| {
                        let mut out = Map::new();
                        for (name, path) in cols {
                            out.insert(name.clone(), lookup(&r, path).clone());
                        }
                        Arc::new(Value::Object(out))
                    })
                    .collect();
            }
            Stage::OrderBy(keys) => rows.sort_by(|a, b| {
                for (path, desc) in keys {
                    let x = text(lookup(a, path)).unwrap_or_default().to_lowercase();
                    let y = text(lookup(b, path)).unwrap_or_default().to_lowercase();
                    let o = if *desc { y.cmp(&x) } else { x.cmp(&y) };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            }),
            Stage::Limit(n) => rows.truncate(*n),
        }
    }
    rows
}

/// Whether the query's output carries `id` (Resource Graph pages only such results).
pub fn projects_id(query: &Query) -> bool {
    query
        .stages
        .iter()
        .rev()
        .find_map(|s| match s {
            Stage::Project(cols) => Some(cols.iter().any(|(n, _)| n.eq_ignore_ascii_case("id"))),
            _ => None,
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Arc<Value>> {
        [
            json!({"id": "/s/1/rg/a/x/sta", "name": "sta", "type": "microsoft.storage/storageaccounts",
                   "resourceGroup": "rg-a", "tags": {"data-class": "phi"},
                   "properties": {"minimumTlsVersion": "TLS1_2", "encryption": {"keySource": "Microsoft.Keyvault"}}}),
            json!({"id": "/s/1/rg/b/x/stb", "name": "stb-test", "type": "microsoft.storage/storageaccounts",
                   "resourceGroup": "rg-b", "tags": {},
                   "properties": {"minimumTlsVersion": "TLS1_0"}}),
            json!({"id": "/s/1/rg/b/x/kv", "name": "kv", "type": "microsoft.keyvault/vaults",
                   "resourceGroup": "rg-b", "tags": {}, "properties": {}}),
        ]
        .into_iter()
        .map(Arc::new)
        .collect()
    }

    #[test]
    fn the_recorded_example_queries_parse_and_run() {
        let q = parse("Resources | project id, name, type, location, tags | limit 3").unwrap();
        let out = run(&q, rows());
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].as_object().unwrap().keys().count(),
            5,
            "only the projected columns"
        );
        let q = parse("Resources | where name contains 'test' | project id, name, type, location")
            .unwrap();
        let out = run(&q, rows());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["name"], "stb-test");
    }

    #[test]
    fn predicates_paths_aliases_and_order() {
        let q = parse(
            "resources | where type =~ 'Microsoft.Storage/storageAccounts' and (resourceGroup in~ ('RG-A', 'rg-c') or properties.minimumTlsVersion != 'TLS1_2') \
             | project id, tls = properties.minimumTlsVersion, tags['data-class'], properties.encryption.keySource | order by id asc",
        )
        .unwrap();
        let out = run(&q, rows());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["id"], "/s/1/rg/a/x/sta");
        assert_eq!(out[0]["tls"], "TLS1_2");
        assert_eq!(out[0]["tags_data-class"], "phi");
        assert_eq!(
            out[0]["properties_encryption_keySource"],
            "Microsoft.Keyvault"
        );
        assert_eq!(out[1]["tls"], "TLS1_0");
        let q = parse("Resources | where not(type == 'microsoft.keyvault/vaults') and name !in~ ('STA') | order by name").unwrap();
        let out = run(&q, rows());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["name"], "stb-test");
        assert!(projects_id(&parse("Resources | project id, name").unwrap()));
        assert!(!projects_id(&parse("Resources | project name").unwrap()));
    }

    #[test]
    fn what_is_not_understood_is_named() {
        let e = parse("Resources | summarize count() by type").unwrap_err();
        assert!(e.contains("summarize"), "{e}");
        let e = parse("Resources | where name ~~ 'x'").unwrap_err();
        assert!(e.contains("operator"), "{e}");
        let e = parse("Resources | where name == 'x").unwrap_err();
        assert!(e.contains("not closed"), "{e}");
    }
}
