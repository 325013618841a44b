#!/usr/bin/env python3
"""Writes actors/src/apiserver/protobuf/messages.rs: the field numbers and wire types of
the Kubernetes protobuf messages Rudder encodes and decodes.

The facts come from two crates the tests crate already depends on (so `cargo fetch` has
put them in the registry): the protobuf definitions compiled by prost in `k8s-pb`
(message names, field numbers, wire types), and the JSON field names in `k8s-openapi`
(the protobuf field names are the JSON names, but prost turns them into snake case, which
loses acronyms such as `podIPs`). Run it again after bumping either crate:

    python3 scripts/gen-protobuf-schema.py
"""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "actors/src/apiserver/protobuf/messages.rs")
PB_VERSION = "0.9.0"
OPENAPI_VERSION = "0.29.0"
OPENAPI_FEATURE = "v1_37"

# The packages whose messages are served or embedded in served ones; anything they
# reference elsewhere is pulled in as well.
ROOTS = [
    r"^api/[a-z]+/v1$",
    r"^api/autoscaling/v2$",
    r"^apimachinery/pkg/apis/meta/v1$",
    r"^apimachinery/pkg/runtime$",
    r"^apimachinery/pkg/api/resource$",
    r"^apimachinery/pkg/util/intstr$",
    r"^apiextensions_apiserver/pkg/apis/apiextensions/v1$",
    r"^metrics/pkg/apis/metrics/v1beta1$",
]

# Messages whose JSON form is not an object of their fields: the codec has its own rule
# for each (see `Special` in protobuf/mod.rs).
SPECIAL = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Verbs": "StringList",
    "io.k8s.api.authentication.v1.ExtraValue": "StringList",
    "io.k8s.api.authorization.v1.ExtraValue": "StringList",
    "io.k8s.api.certificates.v1.ExtraValue": "StringList",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": "RawJson",
}

# Strings whose empty value means something different from an absent one (Go `*string`
# fields where "" is a choice): the decoder keeps them even when empty.
EMPTY_STRING_MEANS_SOMETHING = {"storageClassName", "volumeAttributesClassName"}

SCALARS = {
    "string": "Str",
    "int32": "I32",
    "int64": "I64",
    "bool": "Bool",
    "double": "F64",
}


def registry_src(crate):
    hits = glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{crate}/src"))
    if not hits:
        sys.exit(f"{crate} is not in the cargo registry: run `cargo fetch` first")
    return hits[0]


def k8s_name(module, name):
    parts = [p.replace("_", "-") for p in module.split("/")]
    return "io.k8s." + ".".join(parts) + "." + name


def parse_pb(src, spelling):
    """message full name -> (module, [(rust field, tag, prost attributes, Rust type)])

    prost spells `PodIP` as `PodIp`; `spelling` maps (module, lowercased name) back to
    the Kubernetes spelling where k8s-openapi knows it."""
    messages = {}
    for path in glob.glob(os.path.join(src, "**/mod.rs"), recursive=True):
        module = os.path.relpath(os.path.dirname(path), src)
        text = open(path).read()
        for m in re.finditer(r"pub struct (\w+) \{(\}|.*?\n\})", text, re.S):
            name, body = m.group(1), m.group(2)
            fields = []
            # A field: its attribute, then `pub name: Type,` (rustfmt may wrap the type
            # onto the next lines).
            body = body[:-1] if body.endswith("}") else body
            attrs = list(re.finditer(r'#\[prost\(([^\]]*?)tag = "(\d+)"\)\]', body))
            for i, a in enumerate(attrs):
                end = attrs[i + 1].start() if i + 1 < len(attrs) else len(body)
                decl = re.search(r"pub (r#)?(\w+):\s*(.*?),\s*(?:///[^\n]*\n\s*)*$", body[a.end():end], re.S)
                if not decl:
                    sys.exit(f"cannot read the field after {a.group(0)} in {name}")
                ty = re.sub(r"\s+", "", decl.group(3)).replace(",>", ">")
                fields.append((decl.group(2), int(a.group(2)), a.group(1).strip().rstrip(","), ty))
            messages[k8s_name(module, spelling.get((module, name.lower()), name))] = (module, fields)
    return messages


def resolve(module, ty):
    """The full message name of a Rust type path written in `module`."""
    inner = re.sub(r"^::core::option::Option<|^::prost::alloc::vec::Vec<|^::prost::alloc::boxed::Box<", "", ty)
    inner = re.sub(r"^::prost::alloc::boxed::Box<", "", inner)
    m = re.search(r"::prost::alloc::collections::BTreeMap<[^,]+,\s*(.+)>$", ty)
    if m:
        inner = m.group(1)
    inner = inner.rstrip(">")
    parts = module.split("/")
    path = inner.split("::")
    while path and path[0] == "super":
        parts.pop()
        path.pop(0)
    module = "/".join(parts + path[:-1])
    return k8s_name(module, SPELLING.get((module, path[-1].lower()), path[-1]))


def json_names(src):
    """(module, struct) -> {lowercased name: JSON name} from k8s-openapi's serde code."""
    names = {}
    base = os.path.join(src, OPENAPI_FEATURE)
    for path in glob.glob(os.path.join(base, "**/*.rs"), recursive=True):
        module = os.path.relpath(os.path.dirname(path), base)
        text = open(path).read()
        for m in re.finditer(r"impl<'de> crate::serde::Deserialize<'de> for (\w+) \{(.*?)\n\}\n", text, re.S):
            found = re.findall(r'"([^"]+)" => Field::Key_', m.group(2))
            names[(module, m.group(1))] = {norm(n): n for n in found}
    return names


def norm(name):
    """A name compared across spellings: `podIPs`, `pod_i_ps` and `$ref`/`ref` agree."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def camel(rust):
    head, *rest = rust.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def kind_of(attrs, module, ty):
    first = attrs.split(",")[0].strip()
    if first.startswith("btree_map") or first.startswith("map"):
        key, value = re.search(r'"(\w+),\s*(\w+)"', attrs).groups()
        assert key == "string", (attrs, ty)
        if value == "message":
            return "Map", f'&Kind::Msg("{resolve(module, ty)}")'
        if value == "bytes":
            return "Map", "&Kind::Bytes"
        return "Map", f"&Kind::{SCALARS[value]}"
    if first.startswith("bytes"):
        return "Bytes", None
    if first == "message":
        return "Msg", resolve(module, ty)
    return SCALARS[first], None


SPELLING = {}


def main():
    openapi = json_names(registry_src(f"k8s-openapi-{OPENAPI_VERSION}"))
    SPELLING.update({(module, struct.lower()): struct for module, struct in openapi})
    pb = parse_pb(registry_src(f"k8s-pb-{PB_VERSION}"), SPELLING)
    wanted = [n for n, (module, _) in pb.items() if any(re.match(r, module) for r in ROOTS)]
    seen, queue = set(), list(wanted)
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in SPECIAL:
            continue
        module, fields = pb[name]
        for rust, tag, attrs, ty in fields:
            kind, ref = kind_of(attrs, module, ty)
            if kind == "Msg":
                queue.append(ref)
            elif kind == "Map" and "Msg" in ref:
                queue.append(re.search(r'"(.+)"', ref).group(1))

    # Go structs embedded in another (a Volume's VolumeSource, a Probe's ProbeHandler) are
    # a field of their own in protobuf but inlined in JSON: the parent's JSON has no name
    # for the field, and the child's fields take their names from the parent.
    inline_parent = {}
    inline_fields = set()
    for name in seen:
        if name in SPECIAL:
            continue
        module, fields = pb[name]
        jn = openapi.get((module, name.rsplit(".", 1)[1]))
        if not jn:
            continue
        for rust, tag, attrs, ty in fields:
            kind, ref = kind_of(attrs, module, ty)
            if kind == "Msg" and norm(rust) not in jn and "repeated" not in attrs:
                child = {norm(r) for r, *_ in pb[ref][1]}
                if not child <= set(jn):
                    continue  # a field k8s-openapi does not know (alpha, or renamed)
                inline_parent[ref] = jn
                inline_fields.add((name, tag))

    out = []
    out.append("//! The Kubernetes protobuf messages: field numbers, wire types and JSON names.\n")
    out.append("//! Generated by `scripts/gen-protobuf-schema.py` from k8s-pb %s and k8s-openapi %s\n" % (PB_VERSION, OPENAPI_VERSION))
    out.append("//! (%s); do not edit by hand. Sorted by name.\n\n" % OPENAPI_FEATURE)
    out.append("use super::schema::Kind::{Bool, Bytes, Map, Msg, Str, F64, I32, I64};\n")
    out.append("use super::schema::{f, Message, Special};\n\n")
    out.append("#[rustfmt::skip]\n")
    out.append("pub(super) static MESSAGES: &[Message] = &[\n")
    unnamed = 0
    for name in sorted(seen):
        module, fields = pb[name]
        special = SPECIAL.get(name)
        short = name.rsplit(".", 1)[1]
        jn = openapi.get((module, short)) or inline_parent.get(name, {})
        if special:
            out.append(f'    Message::special("{name}", Special::{special}, &[')
        else:
            out.append(f'    Message::new("{name}", &[')
        if not fields:
            out.append("]),\n")
            continue
        out.append("\n")
        for rust, tag, attrs, ty in sorted(fields, key=lambda f: f[1]):
            kind, ref = kind_of(attrs, module, ty)
            json = jn.get(norm(rust))
            if json is None:
                json = camel(rust)
                unnamed += 1
                if os.environ.get("VERBOSE"):
                    print("unnamed:", name, json)
            if kind == "Msg":
                k = f'Msg("{ref}")'
            elif kind == "Map":
                k = "Map(" + ref.replace("Kind::", "") + ")"
            else:
                k = kind
            line = f'        f("{json}", {tag}, {k})'
            if "repeated" in [a.strip() for a in attrs.split(",")]:
                line += ".repeated()"
            if (name, tag) in inline_fields:
                line += ".inline()"
            if json in EMPTY_STRING_MEANS_SOMETHING:
                line += ".keep_empty()"
            out.append(line + ",\n")
        out.append("    ]),\n")
    out.append("];\n")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    open(OUT, "w").write("".join(out))
    print(f"{len(seen)} messages, {unnamed} fields named by case conversion -> {os.path.relpath(OUT, ROOT)}")


main()
