//! `rudderctl get`, `apply`, `delete` and `scale`: Kubernetes objects through the
//! `apiserver` actor on the bus, printed as `kubectl` prints them (the same server-side
//! table columns), or as JSON or YAML.

use std::path::Path;

use anyhow::{bail, Context as _};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::{ApiReply, ApiRequest, ListParams, PatchType, ResourceRef};
use rudder_protocol::registry::{self, ResourceInfo};
use rudder_protocol::ActorRef;
use serde::Deserialize as _;
use serde_json::{json, Value};

use super::{print_table, Output};

/// Finds a resource by plural, singular, short name or kind (case-insensitive).
pub fn resolve(name: &str) -> anyhow::Result<&'static ResourceInfo> {
    let n = name.to_ascii_lowercase();
    registry::RESOURCES
        .iter()
        .find(|r| {
            r.plural == n
                || r.singular == n
                || r.short_names.contains(&n.as_str())
                || r.kind.eq_ignore_ascii_case(&n)
        })
        .with_context(|| format!("the server doesn't have a resource type {name:?}"))
}

fn resource_ref(info: &ResourceInfo) -> ResourceRef {
    ResourceRef {
        group: info.group.to_owned(),
        version: info.version.to_owned(),
        plural: info.plural.to_owned(),
    }
}

/// Sends one API request to the connected node's API server; a failure `Status` is an
/// error worded as kubectl words it.
pub async fn call(client: &Client, req: ApiRequest) -> anyhow::Result<Value> {
    let to = ActorRef::new(
        client.node().clone(),
        rudder_protocol::names::actors::APISERVER,
    );
    match client.call(to, req).await? {
        ApiReply::Json(b) => Ok(serde_json::from_slice(&b)?),
        ApiReply::Error(s) => bail!("Error from server ({}): {}", s.reason, s.message),
        ApiReply::Events { .. } => bail!("unexpected watch events"),
    }
}

/// Reads one object as JSON.
pub async fn fetch(
    client: &Client,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: &str,
) -> anyhow::Result<Value> {
    call(
        client,
        ApiRequest::Get {
            resource: resource_ref(info),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        },
    )
    .await
}

fn print(output: Output, v: &Value) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v)?),
        Output::Yaml => print!("{}", serde_norway::to_string(v)?),
        Output::Table => println!("{}", serde_json::to_string_pretty(v)?),
    }
    Ok(())
}

/// Prints a server-side `Table` (as the API server renders it for `kubectl get`): the
/// columns of priority 0, with a NAMESPACE column first when `with_namespace`.
fn print_server_table(t: &Value, with_namespace: bool) {
    let cols: Vec<(usize, String)> = t["columnDefinitions"]
        .as_array()
        .map(|c| {
            c.iter()
                .enumerate()
                .filter(|(_, d)| d["priority"].as_i64().unwrap_or(0) == 0)
                .map(|(i, d)| (i, d["name"].as_str().unwrap_or_default().to_uppercase()))
                .collect()
        })
        .unwrap_or_default();
    let mut headers: Vec<String> = cols.iter().map(|(_, n)| n.clone()).collect();
    if with_namespace {
        headers.insert(0, "NAMESPACE".into());
    }
    let rows: Vec<Vec<String>> = t["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let mut row: Vec<String> = cols
                        .iter()
                        .map(|(i, _)| match &r["cells"][*i] {
                            Value::String(s) => s.clone(),
                            Value::Null => "<none>".into(),
                            other => other.to_string(),
                        })
                        .collect();
                    if with_namespace {
                        row.insert(
                            0,
                            r.pointer("/object/metadata/namespace")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&header_refs, &rows);
}

/// The server-side `Table` of the objects a list selects.
async fn table_of(
    client: &Client,
    resource: ResourceRef,
    namespace: Option<String>,
    mut params: ListParams,
) -> anyhow::Result<Value> {
    params.as_table = true;
    call(
        client,
        ApiRequest::List {
            resource,
            namespace,
            params,
        },
    )
    .await
}

/// `rudderctl get`.
pub async fn get(
    client: &Client,
    resource: &str,
    name: Option<&str>,
    namespace: Option<&str>,
    selector: Option<String>,
    output: Output,
) -> anyhow::Result<()> {
    let info = resolve(resource)?;
    let ns = if info.namespaced {
        namespace.map(str::to_owned)
    } else {
        None
    };
    let resource = resource_ref(info);
    match name {
        Some(name) => {
            let obj = call(
                client,
                ApiRequest::Get {
                    resource,
                    namespace: ns.clone(),
                    name: name.to_owned(),
                },
            )
            .await?;
            match output {
                Output::Table => {
                    let by_name = ListParams {
                        field_selector: Some(format!("metadata.name={name}")),
                        ..ListParams::default()
                    };
                    let t = table_of(client, resource_ref(info), ns, by_name).await?;
                    print_server_table(&t, false);
                }
                other => print(other, &obj)?,
            }
        }
        None => {
            let params = ListParams {
                label_selector: selector,
                ..ListParams::default()
            };
            match output {
                Output::Table => {
                    let t = table_of(client, resource, ns.clone(), params).await?;
                    if t["rows"].as_array().is_none_or(Vec::is_empty) {
                        match &ns {
                            Some(ns) => eprintln!("No resources found in {ns} namespace."),
                            None => eprintln!("No resources found"),
                        }
                    } else {
                        print_server_table(&t, info.namespaced && ns.is_none());
                    }
                }
                other => {
                    let list = call(
                        client,
                        ApiRequest::List {
                            resource,
                            namespace: ns.clone(),
                            params,
                        },
                    )
                    .await?;
                    print(other, &list)?
                }
            }
        }
    }
    Ok(())
}

/// Reads the documents of a YAML or JSON file (`-`: standard input).
fn documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).with_context(|| format!("parsing {}", path.display()))?;
        match v {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                docs.extend(
                    m.get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            other => docs.push(other),
        }
    }
    Ok(docs)
}

fn identify(doc: &Value) -> anyhow::Result<(&'static ResourceInfo, Option<String>, String)> {
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .context("an object has no kind")?;
    let info = registry::resource_for_kind(kind)
        .with_context(|| format!("the server doesn't serve kind {kind:?}"))?;
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .context("an object has no metadata.name")?;
    let ns = info.namespaced.then(|| {
        doc.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned()
    });
    Ok((info, ns, name.to_owned()))
}

fn label(info: &ResourceInfo, name: &str) -> String {
    if info.group.is_empty() {
        format!("{}/{name}", info.singular)
    } else {
        format!("{}.{}/{name}", info.singular, info.group)
    }
}

/// `rudderctl apply -f`: creates what is missing, merges the file into what exists.
pub async fn apply(client: &Client, path: &Path) -> anyhow::Result<()> {
    for doc in documents(path)? {
        let (info, ns, name) = identify(&doc)?;
        let resource = resource_ref(info);
        let exists = call(
            client,
            ApiRequest::Get {
                resource: resource.clone(),
                namespace: ns.clone(),
                name: name.clone(),
            },
        )
        .await
        .is_ok();
        if exists {
            let before = call(
                client,
                ApiRequest::Get {
                    resource: resource.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                },
            )
            .await?;
            let after = call(
                client,
                ApiRequest::Patch {
                    resource,
                    namespace: ns,
                    name: name.clone(),
                    status: false,
                    patch_type: PatchType::Merge,
                    body: serde_json::to_vec(&doc)?,
                },
            )
            .await?;
            // What the user declares (spec, labels, the file's annotations); status,
            // versions and controllers' annotations move at any time.
            let mine: Vec<String> = doc
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let declared = |v: &Value| {
                let annotations: Vec<Option<Value>> = mine
                    .iter()
                    .map(|k| {
                        v.pointer("/metadata/annotations")
                            .and_then(|a| a.get(k))
                            .cloned()
                    })
                    .collect();
                (
                    v.get("spec").cloned(),
                    v.pointer("/metadata/labels").cloned(),
                    annotations,
                )
            };
            let changed = declared(&before) != declared(&after);
            println!(
                "{} {}",
                label(info, &name),
                if changed { "configured" } else { "unchanged" }
            );
        } else {
            call(
                client,
                ApiRequest::Create {
                    resource,
                    namespace: ns,
                    body: serde_json::to_vec(&doc)?,
                },
            )
            .await?;
            println!("{} created", label(info, &name));
        }
    }
    Ok(())
}

/// `rudderctl delete`.
pub async fn delete(
    client: &Client,
    resource: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let targets: Vec<(&'static ResourceInfo, Option<String>, String)> = match (file, resource, name)
    {
        (Some(f), _, _) => documents(&f)?
            .iter()
            .map(identify)
            .collect::<anyhow::Result<_>>()?,
        (None, Some(r), Some(n)) => {
            let info = resolve(&r)?;
            let ns = info
                .namespaced
                .then(|| namespace.clone().unwrap_or_else(|| "default".into()));
            vec![(info, ns, n)]
        }
        _ => bail!("give a resource and a name, or -f FILE"),
    };
    for (info, ns, name) in targets {
        call(
            client,
            ApiRequest::Delete {
                resource: resource_ref(info),
                namespace: ns,
                name: name.clone(),
                options: Vec::new(),
            },
        )
        .await?;
        println!("{} \"{name}\" deleted", info.singular);
    }
    Ok(())
}

/// `rudderctl scale KIND/NAME --replicas N`.
pub async fn scale(
    client: &Client,
    target: &str,
    replicas: u32,
    namespace: &str,
) -> anyhow::Result<()> {
    let (kind, name) = target
        .split_once('/')
        .context("give the target as KIND/NAME, e.g. deployment/web")?;
    let info = resolve(kind)?;
    if info.subresource("scale").is_none() {
        bail!("{} cannot be scaled", info.plural);
    }
    call(
        client,
        ApiRequest::Patch {
            resource: resource_ref(info),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
            status: false,
            patch_type: PatchType::Merge,
            body: serde_json::to_vec(&json!({"spec": {"replicas": replicas}}))?,
        },
    )
    .await?;
    println!("{} scaled", label(info, name));
    Ok(())
}
