//! `rudder-simnodes`: runs simulated (kwok-style) nodes against a Rudder cluster through
//! the Rust client, until killed. See `rudder_actors::simnode` for what they do.
//!
//! ```text
//! rudder-simnodes --count 5000 [--prefix sim] [--cpu 4] [--memory 16Gi] [--pods 110]
//!     [--label k=v]... [--taint k=v:NoSchedule]... [--heartbeat-secs 10]
//!     [--client-config PATH]
//! ```
//!
//! The client config is found as for `rudderctl`: `--client-config`, then
//! `RUDDER_CLIENT_CONFIG`, then `./.rudder/client.toml`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use rudder_actors::simnode::{SimNodeSpec, SimNodes};
use rudder_protocol::client::{Client, ClientConfig};
use rudder_protocol::resources::{Taint, TaintEffect};

/// Parses `key=value:Effect` (value optional: `key:Effect`).
fn parse_taint(s: &str) -> anyhow::Result<Taint> {
    let (kv, effect) = s
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("taint {s:?} needs :Effect"))?;
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    Ok(Taint {
        key: key.into(),
        value: value.into(),
        effect: effect
            .parse::<TaintEffect>()
            .map_err(|e| anyhow!("taint {s:?}: {e}"))?,
        time_added: None,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut spec = SimNodeSpec::default();
    let mut config: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--count" => spec.count = value()?.parse().context("--count")?,
            "--prefix" => spec.prefix = value()?,
            "--cpu" => spec.cpu = value()?,
            "--memory" => spec.memory = value()?,
            "--pods" => spec.pods = value()?.parse().context("--pods")?,
            "--label" => {
                let v = value()?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow!("label {v:?} needs k=v"))?;
                spec.labels.insert(k.into(), val.into());
            }
            "--taint" => spec.taints.push(parse_taint(&value()?)?),
            "--heartbeat-secs" => {
                spec.heartbeat = Duration::from_secs(value()?.parse().context("--heartbeat-secs")?)
            }
            "--client-config" => config = Some(value()?.into()),
            "-h" | "--help" => {
                eprintln!("usage: rudder-simnodes --count N [--prefix P] [--cpu C] [--memory M] [--pods N] [--label k=v] [--taint k=v:Effect] [--heartbeat-secs S] [--client-config PATH]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let cfg = ClientConfig::discover(config.as_deref())?;
    let client = Client::connect(&cfg).await?;
    let apis = rudder_tests::sim_apis(&client);
    let started = std::time::Instant::now();
    let sim = SimNodes::start(apis, spec).await?;
    println!(
        "{} simulated nodes registered in {:.1?}; running until killed",
        sim.names().len(),
        started.elapsed()
    );
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
