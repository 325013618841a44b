//! `#[derive(Schema)]`: the object schema of a `rudder-protocol` resource struct, read
//! from the struct itself, so that a field added to the struct is in the schema (OpenAPI,
//! strategic merge patch, strict field validation) at once.
//!
//! What it reads:
//! - serde's `rename_all` (on the struct), `rename`, `skip`, `skip_serializing`,
//!   `skip_deserializing`, `flatten` and `default` (on the struct or a field), so the
//!   JSON names are the ones serde writes;
//! - doc comments, as descriptions (what `kubectl explain` shows);
//! - `#[schema(...)]` for what serde does not say. On the struct:
//!   `name = "io.k8s.api.core.v1.PodSpec"` (the OpenAPI component name, required),
//!   `api_version = "apps/v1", kind = "Deployment"` (top-level kinds), and
//!   `require = "metadata"` (marks a field the struct does not spell out, such as the
//!   `kind!` macro's, required). On a field: `required`, `merge_key = "name"` (a list
//!   merged by key; `map_keys("port", "protocol")` when the list-map keys differ from
//!   the merge key), `set` (a list of scalars merged as a set), `atomic` (a list
//!   replaced whole), `retain_keys`, `description = "..."`, `skip`, and `ty = Type` (take
//!   the schema from another type, e.g. a renamed copy for a Rust type alias).
//!
//! Field types are never parsed here: each maps to its schema type through the
//! `FieldType` trait of `rudder_protocol::schema`. A field a non-`default` struct needs
//! in its input (not `Option`, no serde default) is required as well.

use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{parenthesized, Attribute, Data, DeriveInput, Expr, Fields, Lit, LitStr, Token};

/// Derives `rudder_protocol::schema::Schema` and `FieldType` for a struct with named
/// fields. See the crate documentation for the attributes it reads.
#[proc_macro_derive(Schema, attributes(schema))]
pub fn derive_schema(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The struct-level attributes.
#[derive(Default)]
struct Container {
    name: Option<LitStr>,
    api_version: Option<LitStr>,
    kind: Option<LitStr>,
    require: Vec<LitStr>,
    rename_all: Option<LitStr>,
    default: bool,
}

/// The field-level attributes.
#[derive(Default)]
struct FieldAttrs {
    rename: Option<LitStr>,
    skip: bool,
    flatten: bool,
    default: bool,
    required: bool,
    merge_key: Option<LitStr>,
    map_keys: Option<Vec<LitStr>>,
    set: bool,
    list_set: bool,
    atomic: bool,
    retain_keys: bool,
    description: Option<LitStr>,
    ty: Option<syn::Type>,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "Schema: generic types are not supported (one schema per Rust type)",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.span(),
            "Schema: only structs; string enums get theirs from `string_enum!`",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new(
            input.span(),
            "Schema: only structs with named fields",
        ));
    };
    let container = container_attrs(&input.attrs)?;
    let Some(name) = &container.name else {
        return Err(syn::Error::new(
            input.ident.span(),
            "Schema: missing #[schema(name = \"<OpenAPI component name>\")]",
        ));
    };
    let description = doc_comment(&input.attrs);
    let gvk = match (&container.api_version, &container.kind) {
        (Some(api_version), Some(kind)) => {
            let (group, version) = match api_version.value().rsplit_once('/') {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (String::new(), api_version.value()),
            };
            quote!(::core::option::Option::Some(::rudder_protocol::schema::Gvk {
                group: #group,
                version: #version,
                kind: #kind,
            }))
        }
        (None, None) => quote!(::core::option::Option::None),
        _ => {
            return Err(syn::Error::new(
                name.span(),
                "Schema: `api_version` and `kind` go together",
            ))
        }
    };

    let mut pushes = Vec::new();
    let mut json_names = Vec::new();
    for field in &named.named {
        let attrs = field_attrs(&field.attrs)?;
        if attrs.skip {
            continue;
        }
        let ty = &field.ty;
        if attrs.flatten {
            pushes.push(quote! {
                fields.extend_from_slice(
                    <#ty as ::rudder_protocol::schema::Schema>::type_def().fields(),
                );
            });
            continue;
        }
        let Some(ident) = &field.ident else {
            continue;
        };
        let json = match &attrs.rename {
            Some(r) => r.value(),
            None => rename(
                ident.to_string().trim_start_matches("r#"),
                container.rename_all.as_ref(),
            )?,
        };
        json_names.push(json.clone());
        let description = match &attrs.description {
            Some(d) => d.value(),
            None => doc_comment(&field.attrs),
        };
        let schema_ty = attrs.ty.as_ref().unwrap_or(ty);
        let mut build = quote! {
            ::rudder_protocol::schema::Field::new(
                #json,
                <#schema_ty as ::rudder_protocol::schema::FieldType>::TY,
                #description,
            )
        };
        if let Some(key) = &attrs.merge_key {
            let keys: Vec<&LitStr> = match &attrs.map_keys {
                Some(keys) => keys.iter().collect(),
                None => vec![key],
            };
            build = quote!(#build.merge_by(#key, &[#(#keys),*]));
        } else if attrs.map_keys.is_some() {
            return Err(syn::Error::new(
                field.span(),
                "Schema: `map_keys` needs `merge_key`",
            ));
        }
        if attrs.set {
            build = quote!(#build.merge_set());
        }
        if attrs.list_set {
            build = quote!(#build.list_set());
        }
        if attrs.atomic {
            build = quote!(#build.atomic());
        }
        if attrs.retain_keys {
            build = quote!(#build.retain_keys());
        }
        let required_by_container = container.require.iter().any(|r| r.value() == json);
        if attrs.required || required_by_container {
            build = quote!(#build.required());
        } else if !container.default && !attrs.default {
            // serde needs the field in its input unless it is an `Option`.
            build = quote! {{
                let field = #build;
                if <#ty as ::rudder_protocol::schema::FieldType>::OPTIONAL {
                    field
                } else {
                    field.required()
                }
            }};
        }
        pushes.push(quote!(fields.push(#build);));
    }
    for r in &container.require {
        if !json_names.contains(&r.value()) && !is_kind_field(&r.value()) {
            return Err(syn::Error::new(
                r.span(),
                "Schema: `require` names no field of this struct",
            ));
        }
    }

    let ident = &input.ident;
    Ok(quote! {
        impl ::rudder_protocol::schema::Schema for #ident {
            fn type_def() -> &'static ::rudder_protocol::schema::TypeDef {
                static FIELDS: ::std::sync::LazyLock<::std::vec::Vec<::rudder_protocol::schema::Field>> =
                    ::std::sync::LazyLock::new(|| {
                        let mut fields = ::std::vec::Vec::new();
                        #(#pushes)*
                        fields
                    });
                static DEF: ::std::sync::LazyLock<::rudder_protocol::schema::TypeDef> =
                    ::std::sync::LazyLock::new(|| ::rudder_protocol::schema::TypeDef {
                        name: #name,
                        description: #description,
                        shape: ::rudder_protocol::schema::Shape::Struct(FIELDS.as_slice()),
                        gvk: #gvk,
                    });
                &DEF
            }
        }

        impl ::rudder_protocol::schema::FieldType for #ident {
            const TY: ::rudder_protocol::schema::Ty = ::rudder_protocol::schema::Ty::Object(
                ::rudder_protocol::schema::TypeRef(
                    <#ident as ::rudder_protocol::schema::Schema>::type_def,
                ),
            );
        }
    })
}

/// `kind!` adds these to every top-level kind; `require` may name them.
fn is_kind_field(name: &str) -> bool {
    matches!(name, "kind" | "apiVersion" | "metadata")
}

fn container_attrs(attrs: &[Attribute]) -> syn::Result<Container> {
    let mut c = Container::default();
    for attr in attrs {
        if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    c.rename_all = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("default") {
                    c.default = true;
                    skip_value(&meta)?;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("schema") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    c.name = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("api_version") {
                    c.api_version = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("kind") {
                    c.kind = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("require") {
                    c.require.push(meta.value()?.parse()?);
                } else {
                    return Err(meta.error("unknown #[schema] attribute on a struct"));
                }
                Ok(())
            })?;
        }
    }
    Ok(c)
}

fn field_attrs(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut f = FieldAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("serde") {
            attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("rename") {
                    if meta.input.peek(Token![=]) {
                        f.rename = Some(meta.value()?.parse()?);
                    } else {
                        return Err(meta.error("Schema: use `rename = \"...\"`"));
                    }
                } else if path.is_ident("skip")
                    || path.is_ident("skip_serializing")
                    || path.is_ident("skip_deserializing")
                {
                    f.skip = true;
                } else if path.is_ident("flatten") {
                    f.flatten = true;
                } else if path.is_ident("default") {
                    f.default = true;
                    skip_value(&meta)?;
                } else {
                    skip_value(&meta)?;
                }
                Ok(())
            })?;
        } else if attr.path().is_ident("schema") {
            attr.parse_nested_meta(|meta| {
                let path = &meta.path;
                if path.is_ident("required") {
                    f.required = true;
                } else if path.is_ident("skip") {
                    f.skip = true;
                } else if path.is_ident("set") {
                    f.set = true;
                } else if path.is_ident("list_set") {
                    f.list_set = true;
                } else if path.is_ident("atomic") {
                    f.atomic = true;
                } else if path.is_ident("retain_keys") {
                    f.retain_keys = true;
                } else if path.is_ident("merge_key") {
                    f.merge_key = Some(meta.value()?.parse()?);
                } else if path.is_ident("description") {
                    f.description = Some(meta.value()?.parse()?);
                } else if path.is_ident("ty") {
                    f.ty = Some(meta.value()?.parse()?);
                } else if path.is_ident("map_keys") {
                    let content;
                    parenthesized!(content in meta.input);
                    let keys = Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?;
                    f.map_keys = Some(keys.into_iter().collect());
                } else {
                    return Err(meta.error("unknown #[schema] attribute on a field"));
                }
                Ok(())
            })?;
        }
    }
    Ok(f)
}

/// Consumes the value of a serde attribute this derive does not read: `= <expr>` or a
/// parenthesized list.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// The JSON name serde gives a field under `rename_all`.
fn rename(field: &str, rule: Option<&LitStr>) -> syn::Result<String> {
    let Some(rule) = rule else {
        return Ok(field.to_owned());
    };
    let mut out = String::with_capacity(field.len());
    match rule.value().as_str() {
        "camelCase" | "PascalCase" => {
            let mut upper = rule.value() == "PascalCase";
            for c in field.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
        }
        "snake_case" | "lowercase" => out.push_str(field),
        other => {
            return Err(syn::Error::new(
                rule.span(),
                format!("Schema: rename_all = {other:?} is not supported"),
            ))
        }
    }
    Ok(out)
}

/// The doc comment as one description: lines joined, paragraphs kept apart, rustdoc link
/// brackets dropped (`` [`Time`] `` reads `` `Time` ``).
fn doc_comment(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(lit) = &nv.value {
                if let Lit::Str(s) = &lit.lit {
                    lines.push(s.value());
                }
            }
        }
    }
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
            blank = false;
        } else if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
    }
    strip_links(&out)
}

/// `` [`X`] `` and `` [`X`](path) `` become `` `X` ``.
fn strip_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("[`") {
        let Some(len) = rest[start..].find("`]") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&rest[start + 1..start + len + 1]);
        rest = &rest[start + len + 2..];
        if rest.starts_with('(') {
            if let Some(end) = rest.find(')') {
                rest = &rest[end + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
