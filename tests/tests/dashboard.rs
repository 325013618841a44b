//! The dashboard (`/dashboard/`) on a real three-node cluster, in a real browser:
//! Debian's Chromium, headless, installed by `scripts/test.sh`, driven through its
//! DevTools protocol over `--remote-debugging-pipe` (a small client below: JSON messages
//! separated by NUL bytes on file descriptors 3 and 4, no port opened).
//!
//! The browser opens the page with the admin token once (`?token=`), the page goes live,
//! and the test clicks "kill" on the scheduler actor of `cp-1`, then "Confirm" in the
//! page's dialog, with real mouse events at the buttons' positions; the page then shows
//! the scheduler's restart count go up and its state return to Running. The page's
//! other parts are checked to be live too: the Raft group with its leader, a
//! Deployment's pods, events; and the partition control cuts `cp-3` off (its card shows
//! the fault) until "heal" clears it. Authentication is checked with curl: no credentials or a
//! wrong token is 401, the token once gives a cookie, a cookie-authenticated action
//! without the dashboard's header is refused. Another user gets what RBAC grants: 403
//! without a role, the page but no chaos control with `get` on `/dashboard/*`, and
//! `denied` events for the watches refused.
//!
//! Without Chromium (`RUDDER_CHROMIUM` or `chromium` on `PATH`) the browser part prints
//! a loud SKIP. With `RUDDER_DASHBOARD_SCREENSHOT=<file.png>` the test saves a
//! screenshot of the page after the kill (how `docs/dashboard.png` is made).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use base64::Engine as _;
use rudder_actors::kubelet::images::DEMO_IMAGE;
use rudder_protocol::messages::chaos::{ActorState, ChaosReply, ChaosRequest};
use rudder_protocol::ActorRef;
use rudder_tests::{Cluster, NodeProc};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::oneshot;

/// The node whose scheduler the test kills (and which serves the page).
const NODE: &str = "cp-1";
/// How often the test looks at the page.
const POLL: Duration = Duration::from_millis(100);

fn chromium_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RUDDER_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    (found.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// The API address, admin token and CA of a node.
struct Api {
    address: String,
    token: String,
    ca: PathBuf,
}

impl Api {
    fn of(node: &NodeProc) -> anyhow::Result<Api> {
        Ok(Api {
            address: node.api.clone().context("no API address")?,
            token: std::fs::read_to_string(node.spec.data_dir.join("admin.token"))?
                .trim()
                .to_owned(),
            ca: node.spec.data_dir.join("pki").join("ca.crt"),
        })
    }

    /// One curl request: `(status, headers, body)`.
    fn curl(&self, args: &[&str], path: &str) -> anyhow::Result<(u16, String, String)> {
        let headers = tempfile::NamedTempFile::new()?;
        let out = Command::new("curl")
            .arg("-sS")
            .arg("--http1.1")
            .arg("--max-time")
            .arg("10")
            .arg("--cacert")
            .arg(&self.ca)
            .arg("-D")
            .arg(headers.path())
            .args(args)
            .arg(format!("https://{}{path}", self.address))
            .output()
            .context("running curl")?;
        let head = std::fs::read_to_string(headers.path())?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| {
                format!(
                    "no status from curl: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        Ok((
            code,
            head,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    fn bearer(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }
}

/// A headless Chromium driven over `--remote-debugging-pipe`.
struct Browser {
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start(chromium: &Path, log: &Path) -> anyhow::Result<Browser> {
        let profile = tempfile::tempdir()?;
        let stderr = std::fs::File::create(log)?;
        // The protocol runs on descriptors 3 (to the browser) and 4 (from it): the shell
        // moves this process's pipes there, then gives the browser /dev/null and the log.
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(chromium)
            .args([
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--no-proxy-server",
                // Only loopback: every other name fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                // The API's certificate is signed by the node's own CA.
                "--ignore-certificate-errors",
                "--window-size=1900,1200",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", chromium.display()))?;
        let input = child.stdin.take().context("no stdin")?;
        let output = child.stdout.take().context("no stdout")?;
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let replies = pending.clone();
        // Replies go to their callers; events (nothing here waits for one) are dropped.
        tokio::spawn(async move {
            let mut reader = BufReader::new(output);
            let mut message = Vec::new();
            while let Ok(n) = reader.read_until(0, &mut message).await {
                if n == 0 {
                    break;
                }
                if message.last() == Some(&0) {
                    message.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                    if let Some(id) = v.get("id").and_then(Value::as_u64) {
                        let waiting = replies.lock().expect("not poisoned").remove(&id);
                        if let Some(tx) = waiting {
                            let _ = tx.send(v);
                        }
                    }
                }
                message.clear();
            }
        });
        Ok(Browser {
            child,
            input,
            pending,
            next_id: 1,
            session: None,
            _profile: profile,
        })
    }

    /// Sends one command (to the attached page, once there is one) and waits for its
    /// result.
    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("not poisoned").insert(id, tx);
        let mut bytes = serde_json::to_vec(&msg)?;
        bytes.push(0);
        self.input.write_all(&bytes).await?;
        self.input.flush().await?;
        let reply = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .with_context(|| format!("{method}: no answer from the browser in 30 s"))?
            .with_context(|| format!("{method}: the browser went away"))?;
        if let Some(e) = reply.get("error") {
            bail!("{method}: {e}");
        }
        Ok(reply["result"].clone())
    }

    /// Opens a page on `url` and attaches to it.
    async fn open(&mut self, url: &str) -> anyhow::Result<()> {
        let target = self
            .call("Target.createTarget", json!({ "url": "about:blank" }))
            .await?;
        let target_id = target["targetId"].clone();
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        self.session = Some(
            attached["sessionId"]
                .as_str()
                .context("no session id")?
                .to_owned(),
        );
        self.call("Page.enable", json!({})).await?;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1900, "height": 1200, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await?;
        self.call("Page.navigate", json!({ "url": url })).await?;
        Ok(())
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expression}: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Clicks the element `selector` selects, as a user would: it is scrolled into
    /// view, then the mouse moves to its centre, presses and releases.
    async fn click(&mut self, selector: &str) -> anyhow::Result<()> {
        let at = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
                 e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                 return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()",
                sel = json!(selector)
            ))
            .await?;
        if at.is_null() {
            bail!("nothing on the page matches {selector}");
        }
        let (x, y) = (at["x"].clone(), at["y"].clone());
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": "mouseMoved", "x": x, "y": y }),
        )
        .await?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            )
            .await?;
        }
        Ok(())
    }

    async fn screenshot(&mut self, to: &Path) -> anyhow::Result<()> {
        // The whole page, not only the viewport.
        let size = self.call("Page.getLayoutMetrics", json!({})).await?["cssContentSize"].clone();
        let clip =
            json!({ "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 });
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "clip": clip, "captureBeyondViewport": true }),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().context("no screenshot data")?)?;
        std::fs::write(to, png)?;
        Ok(())
    }

    async fn close(mut self) {
        self.session = None;
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.call("Browser.close", json!({})),
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// The scheduler's row on the page: `(state, restarts)`, once it is shown.
async fn scheduler_row(b: &mut Browser) -> anyhow::Result<Option<(String, u64)>> {
    let v = b
        .eval(&format!(
            "(() => {{ const tr = document.querySelector('#node-{NODE} tr[data-actor=\"scheduler\"]'); \
             if (!tr) return null; \
             return {{state: tr.querySelector('.state').textContent, \
                      restarts: Number(tr.querySelector('.restarts').textContent)}}; }})()"
        ))
        .await?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some((
        v["state"].as_str().unwrap_or_default().to_owned(),
        v["restarts"].as_u64().context("restarts is not a number")?,
    )))
}

/// Waits until the text of `selector` satisfies `check`.
async fn wait_text(
    b: &mut Browser,
    selector: &str,
    check: impl Fn(&str) -> bool,
    wait: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        let v = b
            .eval(&format!(
                "document.querySelector({})?.textContent",
                json!(selector)
            ))
            .await?;
        let text = v.as_str().unwrap_or_default();
        if v.is_string() && check(text) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{selector} still shows {v}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The scheduler's restart count as the node's supervisor reports it.
async fn scheduler_restarts(cluster: &Cluster) -> anyhow::Result<(ActorState, u32)> {
    let client = cluster.nodes[0].client().await?;
    match client
        .call(ActorRef::new(NODE, "chaos"), ChaosRequest::ListActors)
        .await?
    {
        ChaosReply::Actors(list) => list
            .into_iter()
            .find(|a| a.name == "scheduler")
            .map(|a| (a.state, a.restarts))
            .context("no scheduler on the node"),
        other => bail!("unexpected reply {other:?}"),
    }
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "default" },
        "spec": {
            "replicas": 3,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "web", "image": DEMO_IMAGE }] }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_kills_the_scheduler_and_shows_it_heal() -> anyhow::Result<()> {
    let cluster = Cluster::three_nodes().await?;
    let api = Api::of(&cluster.nodes[0])?;

    // Authentication, as for the rest of the API.
    let (code, _, _) = api.curl(&[], "/dashboard/")?;
    assert_eq!(code, 401, "no credentials");
    let (code, _, _) = api.curl(&[], "/dashboard/?token=wrong")?;
    assert_eq!(code, 401, "a wrong token");
    let (code, _, _) = api.curl(
        &["-H", "Authorization: Bearer wrong"],
        "/dashboard/api/cluster",
    )?;
    assert_eq!(code, 401, "a wrong bearer token");
    let (code, head, _) = api.curl(&[], &format!("/dashboard/?token={}", api.token))?;
    assert_eq!(code, 303, "the token once: {head}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|c| c.split(';').next())
        .context("no cookie set")?
        .to_owned();
    assert!(head.to_lowercase().contains("httponly"), "{head}");
    let (code, _, page) = api.curl(&["-H", &format!("Cookie: {cookie}")], "/dashboard/")?;
    assert_eq!(code, 200, "the cookie");
    assert!(page.contains("/dashboard/app.js"), "{page}");
    let (code, _, _) = api.curl(
        &[
            "-H",
            &format!("Cookie: {cookie}"),
            "-X",
            "POST",
            "--data",
            r#"{"node":"cp-1","actor":"scheduler"}"#,
        ],
        "/dashboard/api/kill",
    )?;
    assert_eq!(
        code, 403,
        "an action by cookie without the dashboard's header"
    );
    let (code, _, snapshot) = api.curl(&["-H", &api.bearer()], "/dashboard/api/cluster")?;
    assert_eq!(code, 200, "{snapshot}");
    let snapshot: Value = serde_json::from_str(&snapshot)?;
    assert_eq!(
        snapshot["nodes"].as_array().map(Vec::len),
        Some(3),
        "{snapshot}"
    );
    assert!(snapshot["raft"]["leader"].is_string(), "{snapshot}");

    let (code, _, body) = api.curl(
        &[
            "-H",
            &api.bearer(),
            "-H",
            "Content-Type: application/json",
            "--data",
            &deployment().to_string(),
        ],
        "/apis/apps/v1/namespaces/default/deployments",
    )?;
    assert_eq!(code, 201, "{body}");

    let Some(chromium) = chromium_bin() else {
        eprintln!(
            "\n*** SKIP dashboard_kills_the_scheduler_and_shows_it_heal (browser part): \
             no chromium (scripts/test.sh installs Debian's package) ***\n"
        );
        return Ok(());
    };
    let log = cluster.dir.path().join("chromium.log");
    let mut b = Browser::start(&chromium, &log).await?;
    let result = drive(&mut b, &cluster, &api).await;
    if result.is_err() {
        eprintln!(
            "chromium log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    b.close().await;
    result
}

async fn drive(b: &mut Browser, cluster: &Cluster, api: &Api) -> anyhow::Result<()> {
    b.open(&format!(
        "https://{}/dashboard/?token={}",
        api.address, api.token
    ))
    .await?;
    let wait = Duration::from_secs(30);

    // The page is live: the scheduler runs, the Raft group has a leader, the
    // Deployment's three pods and their events arrived through the watches.
    let deadline = Instant::now() + wait;
    let before = loop {
        if let Some((state, restarts)) = scheduler_row(b).await? {
            if state == "Running" {
                break restarts;
            }
        }
        if Instant::now() > deadline {
            bail!("the scheduler never showed as Running");
        }
        tokio::time::sleep(POLL).await;
    };
    let address_bar = b.eval("location.href").await?;
    assert!(
        !address_bar.as_str().unwrap_or_default().contains("token"),
        "the token left the address bar: {address_bar}"
    );
    let deadline = Instant::now() + wait;
    loop {
        let v = b
            .eval(
                "({raft: document.querySelector('#raft-summary').textContent, \
                   replicas: document.querySelectorAll('#raft tbody tr').length, \
                   pods: [...document.querySelectorAll('#pods tbody tr')] \
                         .filter((tr) => tr.dataset.name.startsWith('web-')).length, \
                   workloads: document.querySelector('#workloads tbody').textContent, \
                   events: document.querySelectorAll('#events tbody tr').length, \
                   link: document.querySelector('#link').textContent})",
            )
            .await?;
        let ok = v["raft"].as_str().is_some_and(|s| s.contains("leader cp-"))
            && v["replicas"] == 3
            && v["pods"] == 3
            && v["workloads"].as_str().is_some_and(|s| s.contains("web"))
            && v["events"].as_u64() > Some(0)
            && v["link"] == "live";
        if ok {
            break;
        }
        if Instant::now() > deadline {
            bail!("the Raft group, the workload, its pods and events never all showed: {v}");
        }
        tokio::time::sleep(POLL).await;
    }

    // Kill, with the confirmation, by clicking.
    b.click(&format!(
        "#node-{NODE} tr[data-actor=\"scheduler\"] button.kill"
    ))
    .await?;
    let asked = b
        .eval("document.querySelector('#confirm').open && document.querySelector('#confirm-text').textContent")
        .await?;
    assert!(
        asked
            .as_str()
            .is_some_and(|t| t.contains("scheduler") && t.contains(NODE)),
        "no confirmation asked: {asked}"
    );
    let (_, restarts_before) = scheduler_restarts(cluster).await?;
    b.click("#confirm-yes").await?;

    // The page shows the restart counted and the actor running again.
    let clicked = Instant::now();
    let deadline = clicked + wait;
    let mut states = Vec::new();
    let after = loop {
        if let Some((state, restarts)) = scheduler_row(b).await? {
            if states.last() != Some(&(state.clone(), restarts)) {
                states.push((state.clone(), restarts));
            }
            if restarts > before && state == "Running" {
                break restarts;
            }
        }
        if Instant::now() > deadline {
            bail!("the page never showed the scheduler restarted and running: {states:?}");
        }
        tokio::time::sleep(POLL).await;
    };
    eprintln!(
        "page: scheduler restarts {before} -> {after}, Running again {:?} after the click; \
         states shown: {states:?}",
        clicked.elapsed()
    );
    let (state, restarts_after) = scheduler_restarts(cluster).await?;
    assert!(
        restarts_after > restarts_before,
        "the supervisor counted no restart ({restarts_before} -> {restarts_after})"
    );
    assert_eq!(state, ActorState::Running);
    let logged = b.eval("document.querySelector('#log').textContent").await?;
    assert!(
        logged
            .as_str()
            .is_some_and(|t| t.contains("killed scheduler on cp-1")),
        "{logged}"
    );

    // Partition cp-3 (confirmed), see the fault on its card, then heal it.
    b.click("#node-cp-3 button.partition").await?;
    b.click("#confirm-yes").await?;
    wait_text(b, "#node-cp-3 .faults", |t| t.contains("drop all"), wait)
        .await
        .context("the partition never showed")?;
    b.click("#node-cp-3 button.heal").await?;
    wait_text(b, "#node-cp-3 .faults", str::is_empty, wait)
        .await
        .context("the heal never showed")?;

    if let Some(to) = std::env::var_os("RUDDER_DASHBOARD_SCREENSHOT") {
        // Let a few snapshots pass so the message rates are filled in.
        tokio::time::sleep(Duration::from_secs(3)).await;
        b.eval("window.scrollTo(0, 0)").await?;
        b.screenshot(Path::new(&to)).await?;
        eprintln!("screenshot saved to {}", PathBuf::from(to).display());
    }
    Ok(())
}

/// A user other than the admin sees what RBAC lets them: nothing without a role (403 for
/// the page and the snapshot), the page with `get` on `/dashboard/*` but no chaos
/// control without `post` (the scheduler is not killed), and the live stream says
/// which watches it was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_sees_what_rbac_lets_them() -> anyhow::Result<()> {
    let (cluster, admin) = rudder_tests::control_plane_with(
        &[("tokens.csv", "dave-token,dave,uid-dave\n")],
        "token_auth_file = \"{dir}/tokens.csv\"",
    )
    .await?;
    let node = &cluster.nodes[0];
    let mut dave = Api::of(node)?;
    dave.token = "dave-token".into();
    let (code, _, body) = dave.curl(&["-H", &dave.bearer()], "/dashboard/")?;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"forbidden: User \"dave\" cannot get path \"/dashboard/\""#),
        "{body}"
    );
    let (code, _, _) = dave.curl(&["-H", &dave.bearer()], "/dashboard/api/cluster")?;
    assert_eq!(code, 403);
    let kubectl = |args: &[&str]| {
        let o = rudder_tests::kubectl(&admin, args, None);
        assert!(o.success, "kubectl {args:?}: {}{}", o.stdout, o.stderr);
    };
    kubectl(&[
        "create",
        "clusterrole",
        "dashboard-viewer",
        "--verb=get",
        "--non-resource-url=/dashboard",
        "--non-resource-url=/dashboard/*",
    ]);
    kubectl(&[
        "create",
        "clusterrolebinding",
        "dave-dashboard",
        "--clusterrole=dashboard-viewer",
        "--user=dave",
    ]);
    let (page, _) = rudder_tests::eventually(Duration::from_secs(30), || async {
        let (code, _, body) = dave.curl(&["-H", &dave.bearer()], "/dashboard/")?;
        Ok((code == 200).then_some(body))
    })
    .await?;
    assert!(page.contains("<html"), "{page}");
    let (code, _, body) = dave.curl(
        &[
            "-H",
            &dave.bearer(),
            "-X",
            "POST",
            "--data",
            r#"{"node":"solo","actor":"scheduler"}"#,
        ],
        "/dashboard/api/kill",
    )?;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"User \"dave\" cannot post path \"/dashboard/api/kill\""#),
        "{body}"
    );
    let client = node.client().await?;
    let reply = client
        .call(ActorRef::new("solo", "chaos"), ChaosRequest::ListActors)
        .await?;
    let ChaosReply::Actors(actors) = reply else {
        bail!("unexpected reply {reply:?}");
    };
    let scheduler = actors.iter().find(|a| a.name == "scheduler");
    assert_eq!(
        scheduler.map(|a| a.restarts),
        Some(0),
        "the refused kill did nothing"
    );
    // The stream opens (its answer's head comes at once; curl stops it after 3 s), and
    // says which watches dave may not make.
    let (code, _, text) = dave.curl(
        &["-H", &dave.bearer(), "--max-time", "3"],
        "/dashboard/api/stream",
    )?;
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("event: reset"), "{text}");
    assert!(
        text.contains("event: denied")
            && text.contains(r#"User \"dave\" cannot watch resource \"pods\""#),
        "{text}"
    );
    Ok(())
}
