//! Label and field selectors as the API takes them in `?labelSelector=` and
//! `?fieldSelector=`, with Kubernetes' syntax and meaning.
//!
//! **Label selectors** ([`parse_label_selector`] → [`LabelSelectorExpr`]): comma-separated
//! requirements that must all hold: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
//! `a` (exists), `!a` (does not exist), and `a>1`, `a<1` (integer comparisons, which
//! Kubernetes' parser accepts too). An empty string selects everything. `!=` and `notin`
//! also select objects without the label. Keys must be qualified names and values label
//! values. The same expression comes from a resource's [`LabelSelector`]
//! (`matchLabels` + `matchExpressions`) or from a plain map (a Service's or a replication
//! controller's selector), and prints back in the string form, requirements sorted by
//! key as Kubernetes prints them (this is the `status.selector` of a `Scale`).
//!
//! **Field selectors** ([`parse_field_selector`] → [`FieldSelector`]): comma-separated
//! `field=value`, `field==value` or `field!=value` terms (`\,`, `\=` and `\\` escape those
//! characters in values). Which fields may be used depends on the kind
//! ([`supported_field_labels`], from the kind's module in [`super::kinds`]):
//! `metadata.name` always, `metadata.namespace` for namespaced kinds, plus e.g.
//! `spec.nodeName` and `status.phase` for pods and `involvedObject.*`, `reason`, `type`,
//! `source` for events; anything else is an error
//! worded as Kubernetes words it (`field label not supported: x`). [`object_fields`]
//! extracts those fields from an object as JSON, an absent field reading as `""` (or
//! `false`, `0`), as Go's zero values do.
//!
//! Pure functions only: no I/O, no state.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rudder_protocol::resources::{LabelSelector, LabelSelectorOperator};

use super::validation::{is_label_value, is_qualified_name};

/// Why a selector string (or a resource selector) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The label selector string does not follow the grammar.
    #[error("unable to parse requirement: {message} in label selector {selector:?}")]
    Syntax {
        /// The whole selector.
        selector: String,
        /// What was found and what was expected, e.g. `found ')', expected: identifier`.
        message: String,
    },
    /// A label key is not a qualified name.
    #[error("invalid label key {key:?}: {}", reasons.join("; "))]
    InvalidKey {
        /// The key.
        key: String,
        /// Why (apimachinery's wording).
        reasons: Vec<String>,
    },
    /// A label value is not a valid label value.
    #[error("invalid label value: {value:?}: {}", reasons.join("; "))]
    InvalidValue {
        /// The value.
        value: String,
        /// Why.
        reasons: Vec<String>,
    },
    /// The operator and the number (or form) of values do not fit.
    #[error("{0}")]
    InvalidRequirement(String),
    /// A field selector term is not `field=value`, `field==value` or `field!=value`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    InvalidFieldTerm {
        /// The whole selector.
        selector: String,
        /// The term.
        term: String,
    },
    /// A field selector value uses an escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector value {0:?}: invalid escape sequence")]
    InvalidEscape(String),
    /// A field selector names a field the kind does not support.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// How a label requirement compares a label with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `a=b`.
    Equals,
    /// `a==b` (same meaning as `=`, kept so that the string prints back as written).
    DoubleEquals,
    /// `a!=b`: the label is absent or differs.
    NotEquals,
    /// `a in (x,y)`.
    In,
    /// `a notin (x,y)`: the label is absent or none of the values.
    NotIn,
    /// `a`: the label is present.
    Exists,
    /// `!a`: the label is absent.
    DoesNotExist,
    /// `a>1`: the label is an integer greater than the value.
    GreaterThan,
    /// `a<1`: the label is an integer less than the value.
    LessThan,
}

/// One requirement of a label selector. Built by the parser or [`Requirement::new`],
/// which check it; values are kept sorted and without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// A checked requirement: the key is a qualified name; `=`, `==`, `!=`, `>` and `<`
    /// take exactly one value (an integer for `>` and `<`); `in` and `notin` at least
    /// one; `exists` and `!` none; every value is a label value.
    pub fn new(
        key: &str,
        operator: Operator,
        values: impl IntoIterator<Item = String>,
    ) -> Result<Self, SelectorError> {
        let reasons = is_qualified_name(key);
        if !reasons.is_empty() {
            return Err(SelectorError::InvalidKey {
                key: key.to_owned(),
                reasons,
            });
        }
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort();
        values.dedup();
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(SelectorError::InvalidRequirement(
                        "for 'in', 'notin' operators, values set can't be empty".to_owned(),
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(SelectorError::InvalidRequirement(
                        "exact-match compatibility requires one single value".to_owned(),
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(SelectorError::InvalidRequirement(
                        "values set must be empty for exists and does not exist".to_owned(),
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 || values[0].parse::<i64>().is_err() {
                    return Err(SelectorError::InvalidRequirement(
                        "for 'Gt', 'Lt' operators, exactly one value is required and it must be an integer"
                            .to_owned(),
                    ));
                }
            }
        }
        for v in &values {
            let reasons = is_label_value(v);
            if !reasons.is_empty() {
                return Err(SelectorError::InvalidValue {
                    value: v.clone(),
                    reasons,
                });
            }
        }
        Ok(Requirement {
            key: key.to_owned(),
            operator,
            values,
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = labels.get(&self.key);
        let has = |v: &String| self.values.binary_search(v).is_ok();
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => label.is_some_and(has),
            Operator::NotEquals | Operator::NotIn => label.is_none_or(|v| !has(v)),
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let bound = self.values.first().and_then(|v| v.parse::<i64>().ok());
                let value = label.and_then(|v| v.parse::<i64>().ok());
                match (value, bound) {
                    (Some(v), Some(b)) if self.operator == Operator::GreaterThan => v > b,
                    (Some(v), Some(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or_default();
        match self.operator {
            Operator::Equals => write!(f, "{}={first}", self.key),
            Operator::DoubleEquals => write!(f, "{}=={first}", self.key),
            Operator::NotEquals => write!(f, "{}!={first}", self.key),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::GreaterThan => write!(f, "{}>{first}", self.key),
            Operator::LessThan => write!(f, "{}<{first}", self.key),
        }
    }
}

/// A parsed label selector: requirements that must all hold, sorted by key. The empty
/// expression selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSelectorExpr {
    requirements: Vec<Requirement>,
}

impl LabelSelectorExpr {
    /// The selector that selects everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector from requirements (sorted by key, stably, as Kubernetes sorts them).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelectorExpr { requirements }
    }

    /// Whether this selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The selector of a resource (`metav1.LabelSelectorAsSelector`): `matchLabels` as
    /// `key=value`, `matchExpressions` as `in`, `notin`, exists and does-not-exist. An
    /// empty selector selects everything.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in &selector.match_labels {
            requirements.push(Requirement::new(k, Operator::Equals, [v.clone()])?);
        }
        for expr in &selector.match_expressions {
            let operator = match expr.operator {
                LabelSelectorOperator::In => Operator::In,
                LabelSelectorOperator::NotIn => Operator::NotIn,
                LabelSelectorOperator::Exists => Operator::Exists,
                LabelSelectorOperator::DoesNotExist => Operator::DoesNotExist,
            };
            requirements.push(Requirement::new(
                &expr.key,
                operator,
                expr.values.iter().cloned(),
            )?);
        }
        Ok(Self::from_requirements(requirements))
    }

    /// The selector of a plain label map (a Service's or a replication controller's
    /// `selector`): `key=value` for each entry. Kubernetes' `SelectorFromValidatedSet`:
    /// the map is expected to have been validated with its object, so it is not checked
    /// again. An empty map selects everything.
    pub fn from_map(labels: &BTreeMap<String, String>) -> Self {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                operator: Operator::Equals,
                values: vec![v.clone()],
            })
            .collect();
        Self::from_requirements(requirements)
    }
}

impl fmt::Display for LabelSelectorExpr {
    /// The string form, e.g. `app=web,tier in (back,front)`; empty for "everything".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelectorExpr {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_label_selector(s)
    }
}

/// A token of the label selector grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
    OpenParen,
    CloseParen,
    Comma,
    End,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Identifier(s) => s.clone(),
            Token::Bang => "!".into(),
            Token::Equals => "=".into(),
            Token::DoubleEquals => "==".into(),
            Token::NotEquals => "!=".into(),
            Token::GreaterThan => ">".into(),
            Token::LessThan => "<".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::OpenParen => "(".into(),
            Token::CloseParen => ")".into(),
            Token::Comma => ",".into(),
            Token::End => String::new(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '>' | '<' | '(' | ')' | ',')
}

/// Splits a label selector into tokens, as Kubernetes' lexer does: identifiers run until
/// whitespace or a special character; `in` and `notin` are keywords.
fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if is_special(c) {
            chars.next();
            let next_is_eq = chars.peek() == Some(&'=');
            let token = match c {
                '!' if next_is_eq => {
                    chars.next();
                    Token::NotEquals
                }
                '!' => Token::Bang,
                '=' if next_is_eq => {
                    chars.next();
                    Token::DoubleEquals
                }
                '=' => Token::Equals,
                '>' => Token::GreaterThan,
                '<' => Token::LessThan,
                '(' => Token::OpenParen,
                ')' => Token::CloseParen,
                _ => Token::Comma,
            };
            tokens.push(token);
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || is_special(c) {
                break;
            }
            word.push(c);
            chars.next();
        }
        tokens.push(match word.as_str() {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Identifier(word),
        });
    }
    tokens.push(Token::End);
    tokens
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn error(&self, found: &Token, expected: &str) -> SelectorError {
        SelectorError::Syntax {
            selector: self.input.to_owned(),
            message: format!("found '{}', expected: {expected}", found.describe()),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = *self.peek() == Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(k) => k,
            other => return Err(self.error(&other, "identifier")),
        };
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, []);
        }
        if matches!(self.peek(), Token::Comma | Token::End) {
            return Requirement::new(&key, Operator::Exists, []);
        }
        let operator = match self.next() {
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            other => return Err(self.error(&other, "'=', '!=', '==', 'in', 'notin', '>' or '<'")),
        };
        let values = if matches!(operator, Operator::In | Operator::NotIn) {
            self.value_set()?
        } else {
            vec![self.single_value()?]
        };
        Requirement::new(&key, operator, values)
    }

    /// The value of `a=b`; `a=` (followed by `,` or the end) is the empty value.
    fn single_value(&mut self) -> Result<String, SelectorError> {
        match self.peek().clone() {
            Token::Comma | Token::End => Ok(String::new()),
            Token::Identifier(v) => {
                self.next();
                Ok(v)
            }
            // `a=in` means the value "in": a keyword is a value here.
            Token::In | Token::NotIn => {
                let t = self.next();
                Ok(t.describe())
            }
            other => Err(self.error(&other, "identifier")),
        }
    }

    /// `(x,y)`; `(x,)` has the empty value too, as in Kubernetes.
    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Token::OpenParen => {}
            other => return Err(self.error(&other, "'('")),
        }
        let mut values = Vec::new();
        loop {
            match self.peek().clone() {
                Token::Identifier(v) => {
                    self.next();
                    values.push(v);
                }
                Token::In | Token::NotIn => {
                    let t = self.next();
                    values.push(t.describe());
                }
                Token::Comma | Token::CloseParen => values.push(String::new()),
                other => return Err(self.error(&other, "identifier, ',' or ')'")),
            }
            match self.next() {
                Token::Comma => continue,
                Token::CloseParen => break,
                other => return Err(self.error(&other, "',' or ')'")),
            }
        }
        // `()` is one empty value, which `in` then rejects as an empty set would be.
        if values.len() == 1 && values[0].is_empty() {
            values.clear();
        }
        Ok(values)
    }
}

/// Parses a label selector string (`app=web,tier in (front,back),!canary`). The empty
/// string selects everything.
pub fn parse_label_selector(selector: &str) -> Result<LabelSelectorExpr, SelectorError> {
    let mut parser = Parser {
        input: selector,
        tokens: lex(selector),
        pos: 0,
    };
    let mut requirements = Vec::new();
    if *parser.peek() == Token::End {
        return Ok(LabelSelectorExpr::everything());
    }
    loop {
        requirements.push(parser.requirement()?);
        match parser.next() {
            Token::Comma => continue,
            Token::End => break,
            other => return Err(parser.error(&other, "',' or 'end of string'")),
        }
    }
    Ok(LabelSelectorExpr::from_requirements(requirements))
}

/// How a field selector term compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    /// The field label, e.g. `spec.nodeName`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The value, unescaped.
    pub value: String,
}

impl FieldTerm {
    fn matches(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A parsed field selector: terms that must all hold. The empty selector selects
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// The terms, in the order Kubernetes keeps them (sorted as written).
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether this selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether an object whose fields `fields` returns satisfies every term; a field
    /// `fields` does not know reads as `""`.
    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms
            .iter()
            .all(|t| t.matches(&fields(&t.field).unwrap_or_default()))
    }

    /// [`FieldSelector::matches`] over a field map such as [`object_fields`] returns.
    pub fn matches_fields(&self, fields: &BTreeMap<String, String>) -> bool {
        self.terms
            .iter()
            .all(|t| t.matches(fields.get(&t.field).map(String::as_str).unwrap_or_default()))
    }

    /// An error naming the first field `kind` does not support (by its `kind`, e.g.
    /// `Pod`; see [`supported_field_labels`]).
    pub fn check_supported(&self, kind: &str) -> Result<(), SelectorError> {
        let supported = supported_field_labels(kind);
        match self
            .terms
            .iter()
            .find(|t| !supported.contains(&t.field.as_str()))
        {
            Some(t) => Err(SelectorError::UnsupportedField(t.field.clone())),
            None => Ok(()),
        }
    }

    /// The value a term requires `field` to equal, if there is one: lets the apiserver
    /// and caches look objects up by name or node instead of scanning.
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.operator == FieldOperator::Equals)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_field_selector(s)
    }
}

fn escape_field_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unescape_field_value(v: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                _ => return Err(SelectorError::InvalidEscape(v.to_owned())),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Splits at commas that are not escaped.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits a term at its first unescaped operator (`!=`, `==`, then `=`).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let mut escaped = false;
    for (i, c) in term.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        let rest = &term[i..];
        for (op, operator, len) in [
            ("!=", FieldOperator::NotEquals, 2),
            ("==", FieldOperator::Equals, 2),
            ("=", FieldOperator::Equals, 1),
        ] {
            if rest.starts_with(op) {
                return Some((&term[..i], operator, &term[i + len..]));
            }
        }
    }
    None
}

/// Parses a field selector string (`spec.nodeName=node-1,status.phase!=Succeeded`). The
/// empty string selects everything. Which fields are allowed is checked per kind by
/// [`FieldSelector::check_supported`] (or [`parse_field_selector_for`]).
pub fn parse_field_selector(selector: &str) -> Result<FieldSelector, SelectorError> {
    let mut parts = split_terms(selector);
    parts.sort_unstable();
    let mut terms = Vec::new();
    for part in parts {
        if part.is_empty() {
            continue;
        }
        let Some((field, operator, value)) = split_term(part) else {
            return Err(SelectorError::InvalidFieldTerm {
                selector: selector.to_owned(),
                term: part.to_owned(),
            });
        };
        terms.push(FieldTerm {
            field: field.to_owned(),
            operator,
            value: unescape_field_value(value)?,
        });
    }
    Ok(FieldSelector { terms })
}

/// [`parse_field_selector`], then [`FieldSelector::check_supported`] for `kind`.
pub fn parse_field_selector_for(
    kind: &str,
    selector: &str,
) -> Result<FieldSelector, SelectorError> {
    let parsed = parse_field_selector(selector)?;
    parsed.check_supported(kind)?;
    Ok(parsed)
}

/// The field labels a kind (its `kind`, e.g. `Pod`) supports in field selectors, as in
/// Kubernetes: `metadata.name` for every kind, `metadata.namespace` for namespaced
/// kinds, and the kind's own fields ([`super::kinds::Strategy::FIELDS`]). A kind that is
/// not served supports `metadata.name` only.
pub fn supported_field_labels(kind: &str) -> Vec<&'static str> {
    super::kinds::for_kind(kind).map_or_else(|| vec!["metadata.name"], |k| k.field_labels())
}

/// The selectable fields of an object of kind `kind` (e.g. `Pod`), given as its JSON:
/// every label [`supported_field_labels`] lists, with absent fields as `""`, `false`
/// or `0` as in Kubernetes.
pub fn object_fields(kind: &str, obj: &serde_json::Value) -> BTreeMap<String, String> {
    match super::kinds::for_kind(kind) {
        Some(k) => k.fields(obj),
        None => BTreeMap::from([(
            "metadata.name".to_owned(),
            obj.pointer("/metadata/name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )]),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rudder_protocol::resources::{LabelSelectorRequirement, Pod};
    use serde_json::json;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    type ErrorCase<'a> = (&'a str, &'a str, fn(&SelectorError) -> bool);
    type FieldCase<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, FieldOperator, &'a str)>,
        &'a str,
    );

    #[test]
    fn label_selector_parsing_and_matching() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("cores", "8")]);
        let db = labels(&[("app", "db"), ("tier", "back"), ("canary", "")]);
        // (name, selector, printed form, matches web, matches db)
        let table: &[(&str, &str, &str, bool, bool)] = &[
            ("empty", "", "", true, true),
            ("blank", "   ", "", true, true),
            ("equals", "app=web", "app=web", true, false),
            ("double equals", "app==web", "app==web", true, false),
            ("not equals", "app!=web", "app!=web", false, true),
            ("not equals, absent", "zone!=a", "zone!=a", true, true),
            (
                "in",
                "tier in (front,back)",
                "tier in (back,front)",
                true,
                true,
            ),
            (
                "in, spaces",
                "tier in ( front , x )",
                "tier in (front,x)",
                true,
                false,
            ),
            (
                "notin",
                "tier notin (front)",
                "tier notin (front)",
                false,
                true,
            ),
            (
                "notin, absent",
                "zone notin (a)",
                "zone notin (a)",
                true,
                true,
            ),
            ("exists", "canary", "canary", false, true),
            ("does not exist", "!canary", "!canary", true, false),
            (
                "and",
                "app=web,tier=front",
                "app=web,tier=front",
                true,
                false,
            ),
            (
                "and, sorted",
                "tier=front, app=web",
                "app=web,tier=front",
                true,
                false,
            ),
            (
                "and, one fails",
                "app=web,tier=back",
                "app=web,tier=back",
                false,
                false,
            ),
            ("empty value", "canary=", "canary=", false, true),
            (
                "in with empty value",
                "canary in (x,)",
                "canary in (,x)",
                false,
                true,
            ),
            ("greater than", "cores>4", "cores>4", true, false),
            ("less than", "cores<4", "cores<4", false, false),
            (
                "prefixed key",
                "app.kubernetes.io/name!=x",
                "app.kubernetes.io/name!=x",
                true,
                true,
            ),
            ("keyword as value", "app=in", "app=in", false, false),
        ];
        for (name, input, printed, want_web, want_db) in table {
            let sel = parse_label_selector(input).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(sel.to_string(), *printed, "{name}: printed");
            assert_eq!(sel.matches(&web), *want_web, "{name}: web");
            assert_eq!(sel.matches(&db), *want_db, "{name}: db");
            // The printed form parses back to the same selector.
            let again: LabelSelectorExpr = printed.parse().unwrap();
            assert_eq!(again, sel, "{name}: round trip");
        }
    }

    #[test]
    fn label_selector_errors() {
        let long = format!("a={}", "x".repeat(64));
        let table: &[ErrorCase] = &[
            ("bad key", "a b=c", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("invalid key chars", "a$=b", |e| {
                matches!(e, SelectorError::InvalidKey { .. })
            }),
            ("invalid value", "a=b$", |e| {
                matches!(e, SelectorError::InvalidValue { .. })
            }),
            ("long value", &long, |e| {
                matches!(e, SelectorError::InvalidValue { .. })
            }),
            ("empty in", "a in ()", |e| {
                matches!(e, SelectorError::InvalidRequirement(_))
            }),
            ("in without parens", "a in x", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("unclosed", "a in (x", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("trailing comma", "a=b,", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("leading comma", ",a", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("negated with value", "!a=b", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("double operator", "a==!b", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("gt not an integer", "a>b", |e| {
                matches!(e, SelectorError::InvalidRequirement(_))
            }),
            ("only an operator", "=", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
            ("key is a keyword", "in=x", |e| {
                matches!(e, SelectorError::Syntax { .. })
            }),
        ];
        for (name, input, check) in table {
            match parse_label_selector(input) {
                Ok(sel) => panic!("{name}: {input:?} parsed as {sel}"),
                Err(e) => assert!(check(&e), "{name}: wrong error {e:?}"),
            }
        }
        let e = parse_label_selector("a b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', 'notin', '>' or '<' in label selector \"a b\""
        );
    }

    #[test]
    fn from_resource_selector() {
        let sel = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: LabelSelectorOperator::In,
                    values: vec!["front".into(), "back".into()],
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: LabelSelectorOperator::DoesNotExist,
                    values: vec![],
                },
            ],
        };
        let expr = LabelSelectorExpr::from_label_selector(&sel).unwrap();
        assert_eq!(expr.to_string(), "app=web,!canary,tier in (back,front)");
        for l in [
            labels(&[("app", "web"), ("tier", "front")]),
            labels(&[("app", "web"), ("tier", "back"), ("canary", "1")]),
            labels(&[("app", "db"), ("tier", "back")]),
            labels(&[]),
        ] {
            assert_eq!(expr.matches(&l), sel.matches(&l), "{l:?}");
        }
        assert!(
            LabelSelectorExpr::from_label_selector(&LabelSelector::default())
                .unwrap()
                .is_empty()
        );
        let bad = LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: LabelSelectorOperator::NotIn,
                values: vec![],
            }],
            ..LabelSelector::default()
        };
        assert!(matches!(
            LabelSelectorExpr::from_label_selector(&bad),
            Err(SelectorError::InvalidRequirement(_))
        ));
        let map = LabelSelectorExpr::from_map(&labels(&[("b", "2"), ("a", "1")]));
        assert_eq!(map.to_string(), "a=1,b=2");
        assert!(map.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!map.matches(&labels(&[("a", "1")])));
        assert!(LabelSelectorExpr::from_map(&BTreeMap::new()).matches(&labels(&[])));
    }

    #[test]
    fn field_selector_parsing() {
        let table: &[FieldCase] = &[
            ("empty", "", vec![], ""),
            (
                "equals",
                "metadata.name=web",
                vec![("metadata.name", FieldOperator::Equals, "web")],
                "metadata.name=web",
            ),
            (
                "double equals",
                "spec.nodeName==n1",
                vec![("spec.nodeName", FieldOperator::Equals, "n1")],
                "spec.nodeName=n1",
            ),
            (
                "not equals and sorted",
                "status.phase!=Running,metadata.name=web",
                vec![
                    ("metadata.name", FieldOperator::Equals, "web"),
                    ("status.phase", FieldOperator::NotEquals, "Running"),
                ],
                "metadata.name=web,status.phase!=Running",
            ),
            (
                "empty value",
                "spec.nodeName=",
                vec![("spec.nodeName", FieldOperator::Equals, "")],
                "spec.nodeName=",
            ),
            (
                "escaped value",
                "metadata.name=a\\,b\\=c\\\\d",
                vec![("metadata.name", FieldOperator::Equals, "a,b=c\\d")],
                "metadata.name=a\\,b\\=c\\\\d",
            ),
            (
                "value with equals after the operator",
                "metadata.name==x",
                vec![("metadata.name", FieldOperator::Equals, "x")],
                "metadata.name=x",
            ),
        ];
        for (name, input, want, printed) in table {
            let sel = parse_field_selector(input).unwrap_or_else(|e| panic!("{name}: {e}"));
            let got: Vec<(&str, FieldOperator, &str)> = sel
                .terms()
                .iter()
                .map(|t| (t.field.as_str(), t.operator, t.value.as_str()))
                .collect();
            assert_eq!(&got, want, "{name}");
            assert_eq!(sel.to_string(), *printed, "{name}: printed");
        }
        let errors: &[(&str, &str, &str)] = &[
            (
                "no operator",
                "metadata.name",
                "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
            ),
            (
                "bad escape",
                "metadata.name=a\\b",
                "invalid field selector value \"a\\\\b\": invalid escape sequence",
            ),
        ];
        for (name, input, message) in errors {
            let e = parse_field_selector(input).unwrap_err();
            assert_eq!(e.to_string(), *message, "{name}");
        }
    }

    #[test]
    fn field_selector_support_per_kind() {
        let table: &[(&str, &str, &str, Option<&str>)] = &[
            ("pod node", "Pod", "spec.nodeName=n1", None),
            ("pod phase", "Pod", "status.phase!=Succeeded,metadata.namespace=default", None),
            ("pod unknown", "Pod", "spec.foo=x", Some("field label not supported: spec.foo")),
            ("node name", "Node", "metadata.name=n1", None),
            ("node namespace", "Node", "metadata.namespace=x", Some("field label not supported: metadata.namespace")),
            ("node unschedulable", "Node", "spec.unschedulable=false", None),
            ("namespace phase", "Namespace", "status.phase=Active", None),
            ("event involved", "Event", "involvedObject.kind=Pod,involvedObject.name=web,reason=Scheduled,type=Normal,source=kubelet", None),
            ("event uid", "Event", "involvedObject.uid=u-1", None),
            ("event bad", "Event", "involvedObject.color=red", Some("field label not supported: involvedObject.color")),
            ("service nodeName", "Service", "spec.nodeName=x", Some("field label not supported: spec.nodeName")),
            ("deployment name", "Deployment", "metadata.name=web", None),
            ("replica set replicas", "ReplicaSet", "status.replicas=0", None),
        ];
        for (name, kind, input, want) in table {
            let got = parse_field_selector_for(kind, input)
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn object_fields_and_matching() {
        let mut pod = Pod::new("web");
        pod.metadata.namespace = "default".into();
        pod.spec.node_name = "node-1".into();
        pod.status.phase = Some(rudder_protocol::resources::PodPhase::Running);
        let fields = object_fields("Pod", &serde_json::to_value(&pod).unwrap());
        assert_eq!(fields["metadata.name"], "web");
        assert_eq!(fields["metadata.namespace"], "default");
        assert_eq!(fields["spec.nodeName"], "node-1");
        assert_eq!(fields["status.phase"], "Running");
        assert_eq!(fields["spec.hostNetwork"], "false");
        assert_eq!(fields["status.podIP"], "");

        let pending = object_fields("Pod", &json!({"metadata": {"name": "new"}}));
        assert_eq!(pending["spec.nodeName"], "");
        assert_eq!(pending["status.phase"], "");

        let table: &[(&str, &str, bool, bool)] = &[
            ("on node", "spec.nodeName=node-1", true, false),
            ("unscheduled", "spec.nodeName=", false, true),
            (
                "not finished",
                "status.phase!=Succeeded,status.phase!=Failed",
                true,
                true,
            ),
            ("by name", "metadata.name=web", true, false),
            ("host network", "spec.hostNetwork=false", true, true),
        ];
        for (name, input, want_pod, want_pending) in table {
            let sel = parse_field_selector_for("Pod", input).unwrap();
            assert_eq!(sel.matches_fields(&fields), *want_pod, "{name}: pod");
            assert_eq!(
                sel.matches_fields(&pending),
                *want_pending,
                "{name}: pending"
            );
            let lookup = |f: &str| fields.get(f).cloned();
            assert_eq!(sel.matches(&lookup), *want_pod, "{name}: closure");
        }

        let event = json!({
            "metadata": {"name": "web.1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u-1"},
            "reason": "Scheduled",
            "type": "Normal",
            "source": {"component": "default-scheduler"},
            "reportingComponent": "default-scheduler"
        });
        let fields = object_fields("Event", &event);
        assert_eq!(fields["involvedObject.uid"], "u-1");
        assert_eq!(fields["involvedObject.fieldPath"], "");
        assert_eq!(fields["source"], "default-scheduler");
        let sel = parse_field_selector_for(
            "Event",
            "involvedObject.kind=Pod,involvedObject.name=web,source=default-scheduler",
        )
        .unwrap();
        assert!(sel.matches_fields(&fields));
        assert!(!parse_field_selector("type=Warning")
            .unwrap()
            .matches_fields(&fields));

        let rs = object_fields("ReplicaSet", &json!({"metadata": {"name": "a"}}));
        assert_eq!(rs["status.replicas"], "0");
        let node = object_fields(
            "Node",
            &json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}),
        );
        assert_eq!(node["spec.unschedulable"], "true");
        assert!(!node.contains_key("metadata.namespace"));
    }

    #[test]
    fn exact_values() {
        let sel = parse_field_selector("spec.nodeName=n1,metadata.name!=x").unwrap();
        assert_eq!(sel.exact_value("spec.nodeName"), Some("n1"));
        assert_eq!(sel.exact_value("metadata.name"), None);
        assert!(parse_field_selector("").unwrap().is_empty());
    }
}
