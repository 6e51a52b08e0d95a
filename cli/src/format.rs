//! Output shared by every noun: Podman's tables (its tabwriter layout), Go
//! templates (gtmpl, with Podman's extra functions), and Go-style JSON.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_json::Value;

/// Podman's tabwriter (minwidth 12, padding 2): every column but the last
/// is padded to its widest cell + 2, at least 12.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count() + 2).max(12);
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// serde_json → gtmpl, objects as struct-like objects (`.Field` access).
pub fn to_gtmpl(v: &Value) -> gtmpl::Value {
    match v {
        Value::Null => gtmpl::Value::Nil,
        Value::Bool(b) => gtmpl::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                gtmpl::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                gtmpl::Value::from(u)
            } else {
                gtmpl::Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => gtmpl::Value::String(s.clone()),
        Value::Array(a) => gtmpl::Value::Array(a.iter().map(to_gtmpl).collect()),
        Value::Object(o) => gtmpl::Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// Renders a Go template on `data`; adds the newline Podman adds.
/// A parsed Go template with Podman's functions, to render many items.
pub struct Compiled {
    t: gtmpl::Template,
}

impl Compiled {
    pub fn new(template: &str) -> Result<Compiled> {
        let mut t = gtmpl::Template::default();
        t.add_func("json", json_func);
        t.add_func("upper", |a| str_func(a, |s| s.to_uppercase()));
        t.add_func("lower", |a| str_func(a, |s| s.to_lowercase()));
        t.add_func("title", |a| {
            str_func(a, |s| {
                s.split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        match c.next() {
                            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                            None => String::new(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        });
        t.add_func("join", join_func);
        t.add_func("gofmt", gofmt_func);
        t.parse(print_as_go(template))
            .map_err(|e| anyhow!("template parsing error: {e}"))?;
        Ok(Compiled { t })
    }

    /// Renders `data`; adds the newline Podman adds.
    pub fn render(&self, data: &Value) -> Result<String> {
        let ctx = gtmpl::Context::from(to_gtmpl(data));
        let mut s = self.t.render(&ctx).map_err(|e| anyhow!("template: {e}"))?;
        if !s.ends_with('\n') {
            s.push('\n');
        }
        Ok(s)
    }
}

/// Renders a Go template on `data`; adds the newline Podman adds.
pub fn render(template: &str, data: &Value) -> Result<String> {
    Compiled::new(template)?.render(data)
}

/// Go's `fmt` form of a value, as Podman's templates print it: lists
/// `[a b]`, maps and objects `map[k:v]` (keys sorted), nil `<nil>`.
fn go_string(v: &gtmpl::Value) -> String {
    match v {
        gtmpl::Value::NoValue => "<no value>".into(),
        gtmpl::Value::Nil => "<nil>".into(),
        gtmpl::Value::Function(_) => String::new(),
        gtmpl::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(go_string).collect::<Vec<_>>().join(" ")
            )
        }
        gtmpl::Value::Object(o) | gtmpl::Value::Map(o) => {
            let sorted: BTreeMap<_, _> = o.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_string(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn gofmt_func(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let v = args.first().unwrap_or(&gtmpl::Value::NoValue);
    Ok(gtmpl::Value::String(go_string(v)))
}

/// Pipes every printing action of a template through `gofmt` (gtmpl prints
/// lists and maps in Rust's debug form). Control actions, comments and
/// variable assignments are left as they are.
fn print_as_go(template: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // The closing delimiter, outside string literals.
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' && q == '"' {
                        escaped = true;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == '"' || c == '`' || c == '\'' => quote = Some(c),
                None if after[i..].starts_with("}}") => {
                    end = Some(i);
                    break;
                }
                None => {}
            }
        }
        let Some(end) = end else {
            // Unterminated: the parser reports it.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (pre, body) = match inner.strip_prefix('-') {
            Some(b) if b.starts_with(char::is_whitespace) => ("-", b),
            _ => ("", inner),
        };
        let (body, post) = match body.strip_suffix('-') {
            Some(b) if b.ends_with(char::is_whitespace) => (b, "-"),
            _ => (body, ""),
        };
        let core = body.trim();
        let first = core.split_whitespace().next().unwrap_or("");
        let skip = core.is_empty()
            || core.starts_with("/*")
            || KEYWORDS.contains(&first)
            || core.contains(":=")
            || (first.starts_with('$') && core.split_whitespace().nth(1) == Some("="));
        if skip {
            out.push_str("{{");
            out.push_str(inner);
        } else {
            out.push_str(&format!("{{{{{pre} {core} | gofmt {post}"));
        }
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// `{{json .X}}`
fn json_func(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    fn back(v: &gtmpl::Value) -> Value {
        match v {
            gtmpl::Value::NoValue | gtmpl::Value::Nil | gtmpl::Value::Function(_) => Value::Null,
            gtmpl::Value::Bool(b) => Value::Bool(*b),
            gtmpl::Value::String(s) => Value::String(s.clone()),
            gtmpl::Value::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or(Value::Null),
            gtmpl::Value::Array(a) => Value::Array(a.iter().map(back).collect()),
            gtmpl::Value::Object(o) | gtmpl::Value::Map(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), back(v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
        }
    }
    let v = args.first().map(back).unwrap_or(Value::Null);
    Ok(gtmpl::Value::String(v.to_string()))
}

/// JSON with Go's `MarshalIndent(v, "", indent)` layout.
pub fn to_json_indent<T: Serialize>(v: &T, indent: &str) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser).context("encoding JSON")?;
    Ok(String::from_utf8(buf)?)
}

fn arg_string(v: &gtmpl::Value) -> String {
    match v {
        gtmpl::Value::String(s) => s.clone(),
        gtmpl::Value::NoValue | gtmpl::Value::Nil => String::new(),
        other => other.to_string(),
    }
}

/// A one-string-argument function (`upper`, `lower`, `title`).
fn str_func(
    args: &[gtmpl::Value],
    f: impl Fn(&str) -> String,
) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let s = args.first().map(arg_string).unwrap_or_default();
    Ok(gtmpl::Value::String(f(&s)))
}

/// `{{join .List ", "}}`
fn join_func(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let sep = args.get(1).map(arg_string).unwrap_or_default();
    let items: Vec<String> = match args.first() {
        Some(gtmpl::Value::Array(a)) => a.iter().map(arg_string).collect(),
        Some(v) => vec![arg_string(v)],
        None => Vec::new(),
    };
    Ok(gtmpl::Value::String(items.join(&sep)))
}

/// Renders `--format` for a list: `table ...` gets a header row (from
/// `header`) and aligned columns; a plain template one line per item; and
/// `json` the items as a JSON array.
pub fn render_list(
    format: &str,
    items: &[Value],
    header: &dyn Fn(&str) -> String,
) -> Result<String> {
    if format == "json" {
        return to_json_indent(&items, "    ").map(|s| s + "\n");
    }
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    if !is_table {
        let t = Compiled::new(&body)?;
        let mut out = String::new();
        for it in items {
            out.push_str(&t.render(it)?);
        }
        return Ok(out);
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    let heads: Vec<String> = body
        .split('\t')
        .map(|cell| {
            let field = cell
                .split("{{")
                .nth(1)
                .and_then(|r| r.split("}}").next())
                .map(|f| f.trim().trim_start_matches('.').to_string())
                .unwrap_or_default();
            header(&field)
        })
        .collect();
    rows.push(heads);
    let t = Compiled::new(&body)?;
    for it in items {
        let line = t.render(it)?;
        rows.push(
            line.trim_end_matches('\n')
                .split('\t')
                .map(str::to_string)
                .collect(),
        );
    }
    Ok(table(&rows))
}

/// Writes command output to stdout; a closed pipe (`| head`) ends the
/// output quietly instead of panicking, as Go programs do.
pub fn emit(out: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_lists_and_maps_as_go() {
        let data = json!({"Env": ["A=1", "B=2"], "L": {"b": "2", "a": "1"}, "N": null, "S": "x"});
        assert_eq!(
            render("{{.Env}} {{.L}} {{.N}} {{.S}}", &data).unwrap(),
            "[A=1 B=2] map[a:1 b:2] <nil> x\n"
        );
        assert_eq!(
            render(
                "{{range .Env}}{{.}},{{end}} {{- if .S }} y{{else}}n{{end}} {{json .Env}}",
                &data
            )
            .unwrap(),
            "A=1,B=2, y [\"A=1\",\"B=2\"]\n"
        );
        assert_eq!(
            render("{{$x := .Env}}{{ $x }} {{\"}}\"}}", &data).unwrap(),
            "[A=1 B=2] }}\n"
        );
    }
}
