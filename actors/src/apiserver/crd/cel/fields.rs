//! The part of Kubernetes' type checking of rules that catches most mistakes, done when
//! a CRD is written: a rule (or messageExpression) that selects a field its schema does
//! not declare (`self.replicsa`, `self.items.all(i, i.nmae != '')`, `has(self.spec.x)`)
//! is refused with Kubernetes' `undefined field` error, instead of being accepted and
//! then failing every write with an evaluation error.
//!
//! The walk follows `self` and `oldSelf` (the node's schema) through field selections,
//! into the elements of lists in comprehensions (`all`, `exists`, `map`, `filter`, ...),
//! and stops wherever the schema leaves the value open: maps (`additionalProperties`),
//! `x-kubernetes-preserve-unknown-fields`, int-or-string, embedded resources, what a
//! function returns, and names escaped the way Kubernetes escapes them (`__dash__`). So
//! it only ever refuses a selection Kubernetes refuses too.

use cel_parser::ast::{EntryExpr, Expr, IdedExpr};
use serde_json::Value;

/// The first field `source` selects that `schema` (the node holding the rule) does not
/// declare, as Kubernetes words the error; `None` when every selection it can follow is
/// declared (or the source does not parse: compiling it reports that).
pub fn undefined_field(source: &str, schema: &Value) -> Option<String> {
    let parsed = std::panic::catch_unwind(|| cel_parser::Parser::default().parse(source));
    let expr = parsed.ok()?.ok()?;
    let mut env = vec![
        ("self".to_owned(), Some(schema)),
        ("oldSelf".to_owned(), Some(schema)),
    ];
    walk(&expr, &mut env)
        .err()
        .map(|field| format!("undefined field '{field}'"))
}

type Env<'a> = Vec<(String, Option<&'a Value>)>;

/// The schema of `e`'s value where it is known; `Err(field)` for an undeclared one.
fn walk<'a>(e: &IdedExpr, env: &mut Env<'a>) -> Result<Option<&'a Value>, String> {
    match &e.expr {
        Expr::Ident(name) => Ok(env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| *s)),
        Expr::Select(s) => match walk(&s.operand, env)? {
            Some(schema) => field(schema, &s.field),
            None => Ok(None),
        },
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                walk(t, env)?;
            }
            for a in &c.args {
                walk(a, env)?;
            }
            Ok(None)
        }
        Expr::Comprehension(c) => {
            let range = walk(&c.iter_range, env)?;
            walk(&c.accu_init, env)?;
            let depth = env.len();
            let list = range.filter(|s| s.get("type").and_then(Value::as_str) == Some("array"));
            match &c.iter_var2 {
                // Two variables over a list: the index, then the element.
                Some(second) => {
                    env.push((c.iter_var.clone(), None));
                    env.push((second.clone(), list.and_then(|s| s.get("items"))));
                }
                None => env.push((c.iter_var.clone(), list.and_then(|s| s.get("items")))),
            }
            env.push((c.accu_var.clone(), None));
            let out = [&c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .try_for_each(|x| walk(x, env).map(|_| ()));
            env.truncate(depth);
            out.map(|()| None)
        }
        Expr::List(l) => {
            for x in &l.elements {
                walk(x, env)?;
            }
            Ok(None)
        }
        Expr::Map(m) => entries(m.entries.iter().map(|e| &e.expr), env),
        Expr::Struct(s) => entries(s.entries.iter().map(|e| &e.expr), env),
        Expr::Literal(_) | Expr::Unspecified => Ok(None),
    }
}

fn entries<'a, 'e>(
    list: impl Iterator<Item = &'e EntryExpr>,
    env: &mut Env<'a>,
) -> Result<Option<&'a Value>, String> {
    for entry in list {
        match entry {
            EntryExpr::MapEntry(m) => {
                walk(&m.key, env)?;
                walk(&m.value, env)?;
            }
            EntryExpr::StructField(f) => {
                walk(&f.value, env)?;
            }
        }
    }
    Ok(None)
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

/// The schema of field `name` of a value of `schema`.
fn field<'a>(schema: &'a Value, name: &str) -> Result<Option<&'a Value>, String> {
    if let Some(p) = schema.get("properties").and_then(|p| p.get(name)) {
        return Ok(Some(p));
    }
    match schema.get("additionalProperties") {
        Some(a) if a.is_object() => return Ok(Some(a)),
        Some(Value::Bool(true)) => return Ok(None),
        _ => {}
    }
    let open = flag(schema, "x-kubernetes-preserve-unknown-fields")
        || flag(schema, "x-kubernetes-int-or-string")
        || flag(schema, "x-kubernetes-embedded-resource")
        // Every object has these at the root, declared or not.
        || matches!(name, "apiVersion" | "kind" | "metadata")
        // Kubernetes' escaping of names that are not CEL identifiers.
        || name.contains("__");
    let declares = schema.get("type").and_then(Value::as_str) == Some("object")
        && schema.get("properties").is_some_and(Value::is_object);
    if declares && !open {
        Err(name.to_owned())
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selections_are_checked_against_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "replicas": {"type": "integer"},
                "items": {"type": "array", "items": {"type": "object",
                    "properties": {"name": {"type": "string"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {"a": {"type": "string"}}},
                "port": {"x-kubernetes-int-or-string": true},
            },
        });
        let fine = [
            "self.replicas > 0",
            "self.items.all(i, i.name != '')",
            "self.items.exists(i, i.name.startsWith('a'))",
            "self.items.map(i, i.name).size() > 0",
            "self.labels.app == 'web'",
            "self.extra.anything.goes",
            "has(self.replicas) && self.replicas == oldSelf.replicas",
            "self.metadata.name.startsWith('a')",
            "self.some__dash__name == 1",
            "self.items.all(i, i.name.size() > 0) && [1, 2].all(x, x > 0)",
            "{'a': self.replicas}.a == 1",
            "self.x >",
        ];
        for rule in fine {
            assert_eq!(undefined_field(rule, &schema), None, "{rule}");
        }
        let bad = [
            ("self.replicsa > 0", "replicsa"),
            ("has(self.nope)", "nope"),
            ("self.items.all(i, i.nmae != '')", "nmae"),
            ("oldSelf.gone == self.replicas", "gone"),
            ("self.items.exists(i, self.typo == i.name)", "typo"),
        ];
        for (rule, field) in bad {
            assert_eq!(
                undefined_field(rule, &schema),
                Some(format!("undefined field '{field}'")),
                "{rule}"
            );
        }
    }
}
