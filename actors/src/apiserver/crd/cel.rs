//! CEL validation rules of CRD schemas (`x-kubernetes-validations`), as Kubernetes'
//! apiextensions server evaluates them: each rule of a schema node is a CEL expression
//! over `self` (the value at that node) and, for a transition rule, `oldSelf` (the value
//! the stored object had there; such a rule is only evaluated on updates where the old
//! value exists). A rule that is not `true` is a field error at the node (or at its
//! `fieldPath`), with its `message`, its `messageExpression`'s result, or `failed rule:
//! <rule>`, and its `reason` (`FieldValueInvalid` by default).
//!
//! The interpreter is the `cel-interpreter` crate. Rudder adds `matches` (on regex-lite,
//! RE2 syntax as Kubernetes') and the string and list extensions of Kubernetes' CEL
//! environment that CRDs use most (`lowerAscii`, `upperAscii`, `trim`, `indexOf`,
//! `lastIndexOf`, `split`, `join`, `replace`, `isSorted`, `sum`), and Kubernetes' IP,
//! CIDR, URL and quantity libraries ([`libs`]). A rule that does not parse, or calls a
//! function outside [`FUNCTIONS`] and [`libs::FUNCTIONS`] (the `format` library,
//! `ip.isCanonical`, the regex library's `find`), is refused when the CRD is written,
//! naming the function, so no rule is ever silently skipped. Values are typed from the schema (`number` fields are
//! doubles even when whole), as Kubernetes types them.
//!
//! A rule with `optionalOldSelf` runs on creates too, its `oldSelf` an optional
//! (`hasValue()`, `value()`, `orValue(x)`; the interpreter has no optional type, so it is
//! a marked map, and the `.?` syntax does not parse).
//!
//! When a CRD is written, a rule that selects a field its schema does not declare is
//! refused with Kubernetes' `undefined field` error ([`fields`]); the rest of
//! Kubernetes' type checking (operand types) is not done: such a rule fails when it is
//! evaluated. Not enforced: Kubernetes' cost budget (a rule's work is bounded by the
//! request size limit only).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cel_interpreter::extractors::This;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, FunctionContext, Program, Value as Cel};
use serde_json::Value;

use crate::apiserver::validation::{BadValue, CauseReason, FieldCause, FieldPath};

/// The functions (and macros) a rule may call: CEL's standard ones the interpreter has,
/// and the Kubernetes extensions Rudder adds ([`add_extensions`]); the libraries of
/// [`libs`] add [`libs::FUNCTIONS`].
pub const FUNCTIONS: &[&str] = &[
    // Standard CEL.
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "string",
    "bytes",
    "double",
    "int",
    "uint",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "max",
    "min",
    // Kubernetes' extensions.
    "lowerAscii",
    "upperAscii",
    "trim",
    "indexOf",
    "lastIndexOf",
    "split",
    "join",
    "replace",
    "isSorted",
    "sum",
    // Optionals (`oldSelf` of a rule with `optionalOldSelf`).
    "hasValue",
    "value",
    "orValue",
];

/// One compiled rule.
struct Rule {
    source: String,
    program: Program,
    message: String,
    message_expression: Option<Program>,
    reason: CauseReason,
    /// `fieldPath`, relative to the node (`.spec.replicas`, `['a.b']`), or `""`.
    field_path: String,
    /// Whether it reads `oldSelf` (a transition rule).
    transition: bool,
    /// `optionalOldSelf`: the rule runs on creates too, `oldSelf` an optional.
    optional_old_self: bool,
}

/// The compiled rules of one schema, by the JSON pointer of the schema node that holds
/// them (`""` for the root, `/properties/spec`, `/properties/spec/items`,
/// `/properties/labels/additionalProperties`).
#[derive(Default)]
pub struct Rules {
    by_node: HashMap<String, Vec<Rule>>,
    /// Every pointer that holds rules or has a node with rules below it: the walk goes
    /// down only there.
    on_the_way: BTreeSet<String>,
}

/// The names a compiled expression calls that are outside [`FUNCTIONS`] (operators and
/// the comprehension's internals excluded).
fn unknown_functions(program: &Program) -> Vec<String> {
    let references = program.references();
    let mut out: Vec<String> = references
        .functions()
        .into_iter()
        .filter(|f| f.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .filter(|f| !FUNCTIONS.contains(f) && !libs::FUNCTIONS.contains(f))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// Runs `f`, turning a panic of the CEL crates into an error: their ANTLR parser panics
/// on some malformed input (`self.x >`) instead of reporting it, and a rule comes from
/// whoever may write CRDs.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the CEL parser or interpreter failed on it".to_owned()))
}

fn compile(source: &str) -> Result<Program, String> {
    let program = guarded(|| Program::compile(source).map_err(|e| e.to_string()))
        .map_err(|e| format!("compilation failed: {e}"))?;
    let unknown = unknown_functions(&program);
    if let Some(f) = unknown.first() {
        return Err(format!(
            "compilation failed: undeclared reference to '{f}' (this server's CEL environment has: {}, {})",
            FUNCTIONS.join(", "),
            libs::FUNCTIONS.join(", ")
        ));
    }
    Ok(program)
}

fn reason_of(rule: &Value) -> Result<CauseReason, String> {
    match rule.get("reason").and_then(Value::as_str).unwrap_or("") {
        "" | "FieldValueInvalid" => Ok(CauseReason::Invalid),
        "FieldValueForbidden" => Ok(CauseReason::Forbidden),
        "FieldValueRequired" => Ok(CauseReason::Required),
        "FieldValueDuplicate" => Ok(CauseReason::Duplicate),
        other => Err(other.to_owned()),
    }
}

/// Checks the `x-kubernetes-validations` of one schema node (`schema`) when a CRD is
/// written: every rule parses, calls only known functions and selects only fields the
/// schema declares ([`fields`]), its reason is one Kubernetes allows, and its
/// messageExpression compiles. Causes at `path` (the list's own path).
pub fn check(rules: &Value, schema: &Value, path: &FieldPath, out: &mut Vec<FieldCause>) {
    let compile = |source: &str| {
        compile(source)?;
        match fields::undefined_field(source, schema) {
            Some(e) => Err(format!("compilation failed: ERROR: <input>: {e}")),
            None => Ok(()),
        }
    };
    let Some(list) = rules.as_array() else {
        out.push(FieldCause::invalid(
            path,
            BadValue::Raw(rules.to_string()),
            "must be a list of rules",
        ));
        return;
    };
    for (i, rule) in list.iter().enumerate() {
        let at = path.index(i);
        match rule.get("rule").and_then(Value::as_str) {
            None | Some("") => out.push(FieldCause::required(&at.child("rule"), "")),
            Some(source) => {
                if let Err(e) = compile(source) {
                    out.push(FieldCause::invalid(&at.child("rule"), source, &e));
                }
            }
        }
        if let Err(r) = reason_of(rule) {
            out.push(FieldCause::not_supported(
                &at.child("reason"),
                r.as_str(),
                &[
                    "FieldValueDuplicate",
                    "FieldValueForbidden",
                    "FieldValueInvalid",
                    "FieldValueRequired",
                ],
            ));
        }
        if let Some(expr) = rule.get("messageExpression").and_then(Value::as_str) {
            if let Err(e) = compile(expr) {
                out.push(FieldCause::invalid(
                    &at.child("messageExpression"),
                    expr,
                    &e,
                ));
            }
        }
    }
}

impl Rules {
    /// Compiles every rule of `schema` (checked by [`check`] when the CRD was written;
    /// a rule that no longer compiles is left out).
    pub fn compile(schema: &Value) -> Rules {
        let mut rules = Rules::default();
        rules.collect(schema, String::new());
        rules
    }

    /// Whether the schema has no rule at all.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }

    fn collect(&mut self, schema: &Value, pointer: String) {
        if let Some(list) = schema
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        {
            let compiled: Vec<Rule> = list.iter().filter_map(compile_rule).collect();
            if !compiled.is_empty() {
                let mut p = pointer.as_str();
                loop {
                    self.on_the_way.insert(p.to_owned());
                    match p.rfind('/') {
                        Some(i) => p = &p[..i],
                        None => break,
                    }
                }
                self.by_node.insert(pointer.clone(), compiled);
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, child) in props {
                self.collect(child, format!("{pointer}/properties/{}", escape(name)));
            }
        }
        if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            self.collect(a, format!("{pointer}/additionalProperties"));
        }
        if let Some(items) = schema.get("items") {
            self.collect(items, format!("{pointer}/items"));
        }
    }

    /// Evaluates the rules on `value` (the object without `apiVersion`, `kind` and
    /// `metadata` kept only for `name`/`generateName`), `old` the stored object on an
    /// update; failures as causes.
    pub fn validate(
        &self,
        schema: &Value,
        value: &Value,
        old: Option<&Value>,
        out: &mut Vec<FieldCause>,
    ) {
        if self.is_empty() {
            return;
        }
        // The functions once per request; each rule gets its own scope for its variables.
        let mut functions = Context::default();
        add_extensions(&mut functions);
        self.walk(&functions, schema, "", value, old, &FieldPath::new(""), out);
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        functions: &Context,
        schema: &Value,
        pointer: &str,
        value: &Value,
        old: Option<&Value>,
        path: &FieldPath,
        out: &mut Vec<FieldCause>,
    ) {
        if !self.on_the_way.contains(pointer) || value.is_null() {
            return;
        }
        if let Some(rules) = self.by_node.get(pointer) {
            for rule in rules {
                evaluate(functions, rule, schema, value, old, path, out);
            }
        }
        match value {
            Value::Object(map) => {
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (name, child) in props {
                        let Some(v) = map.get(name) else { continue };
                        let p = format!("{pointer}/properties/{}", escape(name));
                        let o = old.and_then(|o| o.get(name));
                        self.walk(functions, child, &p, v, o, &path.child(name), out);
                    }
                } else if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    let p = format!("{pointer}/additionalProperties");
                    for (k, v) in map {
                        let o = old.and_then(|o| o.get(k));
                        self.walk(functions, a, &p, v, o, &path.key(k), out);
                    }
                }
            }
            Value::Array(items) => {
                let Some(item) = schema.get("items") else {
                    return;
                };
                let p = format!("{pointer}/items");
                let keys = map_keys(schema);
                for (i, v) in items.iter().enumerate() {
                    // Old items are correlated only in maps (by their keys), as
                    // Kubernetes does; other lists' items have no oldSelf.
                    let o = keys.as_ref().and_then(|keys| {
                        old.and_then(Value::as_array)?
                            .iter()
                            .find(|o| keys.iter().all(|k| o.get(k) == v.get(k)))
                    });
                    self.walk(functions, item, &p, v, o, &path.index(i), out);
                }
            }
            _ => {}
        }
    }
}

/// The keys of a `x-kubernetes-list-type: map` list.
fn map_keys(schema: &Value) -> Option<Vec<String>> {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return None;
    }
    let keys: Vec<String> = schema
        .get("x-kubernetes-list-map-keys")?
        .as_array()?
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    (!keys.is_empty()).then_some(keys)
}

/// A property name in a JSON pointer.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn compile_rule(rule: &Value) -> Option<Rule> {
    let source = rule.get("rule").and_then(Value::as_str)?;
    let program = compile(source).ok()?;
    let transition = program.references().has_variable("oldSelf");
    Some(Rule {
        source: source.to_owned(),
        program,
        message: rule
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        message_expression: rule
            .get("messageExpression")
            .and_then(Value::as_str)
            .and_then(|e| compile(e).ok()),
        reason: reason_of(rule).unwrap_or(CauseReason::Invalid),
        field_path: rule
            .get("fieldPath")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        transition,
        optional_old_self: rule
            .get("optionalOldSelf")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The schema's name for the type of `value`, as Kubernetes quotes it in rule errors.
fn type_name(schema: &Value, value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(_) if schema.get("type").and_then(Value::as_str) == Some("number") => {
            "number"
        }
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::Null => "null",
    }
}

fn evaluate(
    functions: &Context,
    rule: &Rule,
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &FieldPath,
    out: &mut Vec<FieldCause>,
) {
    let mut ctx = functions.new_inner_scope();
    ctx.add_variable_from_value("self", to_cel(schema, value));
    if rule.transition && rule.optional_old_self {
        ctx.add_variable_from_value("oldSelf", optional(old.map(|o| to_cel(schema, o))));
    } else if rule.transition {
        match old {
            Some(o) => ctx.add_variable_from_value("oldSelf", to_cel(schema, o)),
            // A transition rule holds on creates and where nothing was before.
            None => return,
        }
    }
    let field = if rule.field_path.is_empty() {
        path.clone()
    } else if path.as_str().is_empty() {
        FieldPath::new(rule.field_path.trim_start_matches('.'))
    } else {
        FieldPath::new(&format!("{}{}", path.as_str(), rule.field_path))
    };
    let result = guarded(|| rule.program.execute(&ctx).map_err(|e| e.to_string()));
    let message = match result {
        Ok(Cel::Bool(true)) => return,
        Ok(Cel::Bool(false)) => failure_message(rule, &ctx),
        Ok(other) => format!(
            "rule {:?} did not evaluate to a boolean (got {:?})",
            rule.source,
            other.type_of()
        ),
        Err(e) => format!("{}: evaluation error: {e}", failure_message(rule, &ctx)),
    };
    out.push(match rule.reason {
        CauseReason::Required => FieldCause::required(&field, &message),
        CauseReason::Forbidden => FieldCause::forbidden(&field, &message),
        CauseReason::Duplicate => FieldCause::duplicate(&field, type_name(schema, value)),
        _ => FieldCause::invalid(&field, type_name(schema, value), &message),
    });
}

/// The message of a failed rule: its messageExpression's string when that evaluates to
/// a non-empty one, else its message, else `failed rule: <rule>`.
fn failure_message(rule: &Rule, ctx: &Context) -> String {
    if let Some(expr) = &rule.message_expression {
        if let Ok(Cel::String(s)) = guarded(|| expr.execute(ctx).map_err(|e| e.to_string())) {
            if !s.trim().is_empty() {
                return s.to_string();
            }
        }
    }
    if rule.message.is_empty() {
        format!("failed rule: {}", rule.source)
    } else {
        rule.message.clone()
    }
}

/// `value` as a CEL value, typed by its schema: objects are maps, whole numbers of a
/// `number` field are doubles, other whole numbers ints.
pub fn to_cel(schema: &Value, value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            let double = schema.get("type").and_then(Value::as_str) == Some("number");
            match (n.as_i64(), double) {
                (Some(i), false) => Cel::Int(i),
                _ => match n.as_u64() {
                    Some(u) if !double => Cel::UInt(u),
                    _ => Cel::Float(n.as_f64().unwrap_or_default()),
                },
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let item = schema.get("items").unwrap_or(&Value::Null);
            Cel::List(Arc::new(items.iter().map(|v| to_cel(item, v)).collect()))
        }
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let entries = map
                .iter()
                .map(|(k, v)| {
                    let child = props
                        .and_then(|p| p.get(k))
                        .or(additional)
                        .unwrap_or(&Value::Null);
                    (Key::String(Arc::new(k.clone())), to_cel(child, v))
                })
                .collect();
            Cel::Map(Map {
                map: Arc::new(entries),
            })
        }
    }
}

type CelResult<T> = Result<T, ExecutionError>;

/// Adds `matches` and Kubernetes' string and list extensions to `ctx`.
fn add_extensions(ctx: &mut Context) {
    ctx.add_function("matches", matches);
    ctx.add_function("lowerAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_lowercase()
    });
    ctx.add_function("upperAscii", |This(s): This<Arc<String>>| {
        s.to_ascii_uppercase()
    });
    ctx.add_function("trim", |This(s): This<Arc<String>>| s.trim().to_owned());
    ctx.add_function(
        "indexOf",
        |This(s): This<Arc<String>>, needle: Arc<String>| char_index(&s, s.find(needle.as_str())),
    );
    ctx.add_function(
        "lastIndexOf",
        |This(s): This<Arc<String>>, needle: Arc<String>| char_index(&s, s.rfind(needle.as_str())),
    );
    ctx.add_function("split", split);
    ctx.add_function("join", join);
    ctx.add_function(
        "replace",
        |This(s): This<Arc<String>>, from: Arc<String>, to: Arc<String>| {
            s.replace(from.as_str(), to.as_str())
        },
    );
    ctx.add_function("isSorted", is_sorted);
    ctx.add_function("sum", sum);
    ctx.add_function("hasValue", |ftx: &FunctionContext, This(o): This<Cel>| {
        Ok::<bool, _>(optional_of(ftx, o)?.is_some())
    });
    ctx.add_function("value", |ftx: &FunctionContext, This(o): This<Cel>| {
        optional_of(ftx, o)?.ok_or_else(|| ftx.error("optional.none() dereference"))
    });
    ctx.add_function(
        "orValue",
        |ftx: &FunctionContext, This(o): This<Cel>, default: Cel| {
            Ok::<Cel, _>(optional_of(ftx, o)?.unwrap_or(default))
        },
    );
    libs::add(ctx);
}

/// The key that marks a map as an optional value (the interpreter has no optional
/// type): `oldSelf` of a rule with `optionalOldSelf`.
const OPTIONAL: &str = "\u{0}optional";

/// An optional value as the rules see it: a map holding the marker and, when present,
/// the value.
fn optional(value: Option<Cel>) -> Cel {
    let mut map = HashMap::new();
    map.insert(
        Key::String(Arc::new(OPTIONAL.to_owned())),
        Cel::Bool(value.is_some()),
    );
    if let Some(v) = value {
        map.insert(Key::String(Arc::new("value".to_owned())), v);
    }
    Cel::Map(Map { map: Arc::new(map) })
}

/// The value an optional holds; an error for anything that is not an optional.
fn optional_of(ftx: &FunctionContext, o: Cel) -> CelResult<Option<Cel>> {
    let Cel::Map(map) = &o else {
        return Err(ftx.error(format!(
            "no such overload: {:?} is not optional",
            o.type_of()
        )));
    };
    match map.get(&Key::String(Arc::new(OPTIONAL.to_owned()))) {
        Some(Cel::Bool(true)) => Ok(map.get(&Key::String(Arc::new("value".to_owned()))).cloned()),
        Some(_) => Ok(None),
        None => Err(ftx.error("no such overload: a map is not optional")),
    }
}

/// The index in characters (CEL's unit) of a byte offset; -1 for none.
fn char_index(s: &str, at: Option<usize>) -> i64 {
    at.map_or(-1, |b| s[..b].chars().count() as i64)
}

fn matches(ftx: &FunctionContext, This(s): This<Arc<String>>, re: Arc<String>) -> CelResult<bool> {
    regex_lite::Regex::new(&re)
        .map(|r| r.is_match(&s))
        .map_err(|e| ftx.error(format!("'{re}' is not a valid regular expression: {e}")))
}

fn split(This(s): This<Arc<String>>, sep: Arc<String>) -> CelResult<Cel> {
    Ok(Cel::List(Arc::new(
        s.split(sep.as_str())
            .map(|p| Cel::String(Arc::new(p.to_owned())))
            .collect(),
    )))
}

/// The elements of a list target.
fn list_of(ftx: &FunctionContext, target: Cel) -> CelResult<Arc<Vec<Cel>>> {
    match target {
        Cel::List(items) => Ok(items),
        other => Err(ftx.error(format!("not a list: {:?}", other.type_of()))),
    }
}

fn join(ftx: &FunctionContext, This(target): This<Cel>) -> CelResult<Cel> {
    let list = list_of(ftx, target)?;
    let sep = match ftx.args.first() {
        None => String::new(),
        Some(arg) => match ftx.ptx.resolve(arg)? {
            Cel::String(s) => s.to_string(),
            other => return Err(ftx.error(format!("join: separator is {:?}", other.type_of()))),
        },
    };
    let parts: CelResult<Vec<String>> = list
        .iter()
        .map(|v| match v {
            Cel::String(s) => Ok(s.to_string()),
            other => Err(ftx.error(format!("join: element is {:?}", other.type_of()))),
        })
        .collect();
    Ok(Cel::String(Arc::new(parts?.join(&sep))))
}

fn is_sorted(ftx: &FunctionContext, This(target): This<Cel>) -> CelResult<bool> {
    let list = list_of(ftx, target)?;
    for pair in list.windows(2) {
        match pair[0].partial_cmp(&pair[1]) {
            Some(std::cmp::Ordering::Greater) => return Ok(false),
            Some(_) => {}
            None => return Err(ftx.error("isSorted: elements cannot be compared")),
        }
    }
    Ok(true)
}

fn sum(ftx: &FunctionContext, This(target): This<Cel>) -> CelResult<Cel> {
    let list = list_of(ftx, target)?;
    let mut int: i64 = 0;
    let mut float: Option<f64> = None;
    for v in list.iter() {
        match v {
            Cel::Int(i) => {
                int = int
                    .checked_add(*i)
                    .ok_or_else(|| ftx.error("sum: overflow"))?
            }
            Cel::UInt(u) => {
                let i = i64::try_from(*u).map_err(|_| ftx.error("sum: overflow"))?;
                int = int
                    .checked_add(i)
                    .ok_or_else(|| ftx.error("sum: overflow"))?;
            }
            Cel::Float(f) => *float.get_or_insert(0.0) += f,
            other => return Err(ftx.error(format!("sum: element is {:?}", other.type_of()))),
        }
    }
    Ok(match float {
        Some(f) => Cel::Float(f + int as f64),
        None => Cel::Int(int),
    })
}

mod fields;
mod libs;

#[cfg(test)]
mod tests;
