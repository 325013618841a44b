//! Jobs on real Docker: an Indexed Job runs each index once and completes (`kubectl
//! wait --for=condition=complete`), a failing Job backs off and fails after its
//! backoffLimit, a finished Job with a TTL is deleted with its pods, the Job controller
//! killed mid-Job still ends with each index completed once, and `kubectl get jobs`
//! prints Kubernetes' columns. One `rudderd` node with both roles per test.
//!
//! Without a reachable Docker engine every test prints a loud SKIP and returns.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use rudder_protocol::client::Client;
use rudder_protocol::messages::api::ListParams;
use rudder_protocol::resources::{
    CompletionMode, Container, Job, Pod, PodPhase, RestartPolicy, JOB_COMPLETE,
    JOB_COMPLETION_INDEX, JOB_FAILED, JOB_NAME_LABEL, JOB_TRACKING_FINALIZER,
};
use rudder_protocol::NodeName;
use rudder_tests::services::{self, DockerCleanup};
use rudder_tests::{eventually, wait_for, Cluster};

fn docker_available() -> bool {
    services::docker_available("the Job Docker tests")
}

async fn start_node(name: &str) -> anyhow::Result<(DockerCleanup, Cluster, Client)> {
    services::start_pod_node(name, Vec::new()).await
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(rudder_tests::kubectl_bin())
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .context("kubectl could not run (scripts/test.sh installs it)")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "kubectl {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

fn job(name: &str, script: &str) -> Job {
    let mut j = Job::new(name);
    j.spec.template.spec.restart_policy = Some(RestartPolicy::Never);
    j.spec.template.spec.termination_grace_period_seconds = Some(1);
    j.spec.template.spec.containers = vec![Container {
        name: "main".into(),
        image: "rudder/demo:1".into(),
        command: vec!["/bin/sh".into(), "-c".into(), script.into()],
        ..Default::default()
    }];
    j
}

async fn pods_of(client: &Client, job: &str) -> anyhow::Result<Vec<Pod>> {
    Ok(client
        .api::<Pod>(Some("default"))
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.labels.get(JOB_NAME_LABEL).map(String::as_str) == Some(job))
        .collect())
}

/// Succeeded pods per completion index.
fn succeeded_per_index(pods: &[Pod]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for p in pods {
        if p.status.phase == Some(PodPhase::Succeeded) {
            let ix = p
                .metadata
                .annotations
                .get(JOB_COMPLETION_INDEX)
                .cloned()
                .unwrap_or_default();
            *out.entry(ix).or_insert(0) += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indexed_job_runs_each_index_once_and_completes() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, cluster, client) = start_node("jobs-indexed").await?;
    let jobs = client.api::<Job>(Some("default"));
    // Each pod checks its index variable and exits 0 only when it is set and in range.
    let mut j = job(
        "squares",
        "echo index=$JOB_COMPLETION_INDEX; [ \"$JOB_COMPLETION_INDEX\" -ge 0 ] && [ \"$JOB_COMPLETION_INDEX\" -lt 5 ]",
    );
    j.spec.completions = Some(5);
    j.spec.parallelism = Some(2);
    j.spec.completion_mode = Some(CompletionMode::Indexed);
    jobs.create(&j).await?;
    let kc = cluster.nodes[0].kubeconfig();
    let out = kubectl(
        &kc,
        &[
            "wait",
            "--for=condition=complete",
            "job/squares",
            "--timeout=180s",
        ],
    )?;
    assert!(out.contains("condition met"), "{out}");
    let done = jobs.get("squares").await?;
    assert_eq!(done.status.completed_indexes, "0-4");
    assert_eq!(done.status.succeeded, 5);
    assert_eq!(done.status.failed, 0);
    assert!(done.status.completion_time.is_some());
    assert!(done.has_condition("SuccessCriteriaMet"));
    let pods = pods_of(&client, "squares").await?;
    let per_index = succeeded_per_index(&pods);
    assert_eq!(
        per_index,
        (0..5)
            .map(|i| (i.to_string(), 1))
            .collect::<BTreeMap<_, _>>(),
        "each index succeeded exactly once"
    );
    for p in &pods {
        assert!(
            !p.metadata
                .finalizers
                .iter()
                .any(|f| f == JOB_TRACKING_FINALIZER),
            "{}: counted pods lose the tracking finalizer",
            p.metadata.name
        );
        let ix = &p.metadata.annotations[JOB_COMPLETION_INDEX];
        assert_eq!(p.spec.hostname, format!("squares-{ix}"));
    }
    let table = kubectl(&kc, &["get", "jobs"])?;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("squares") && l.contains("Complete") && l.contains("5/5")),
        "{table}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_backs_off_and_fails_after_its_backoff_limit() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, _cluster, client) = start_node("jobs-failing").await?;
    let jobs = client.api::<Job>(Some("default"));
    let mut j = job("doomed", "echo trying; exit 1");
    j.spec.backoff_limit = Some(1);
    jobs.create(&j).await?;
    let failed = wait_for(&jobs, "doomed", 120, |j| j.has_condition(JOB_FAILED)).await?;
    let c = failed.condition(JOB_FAILED).context("Failed condition")?;
    assert_eq!(c.reason, "BackoffLimitExceeded");
    assert_eq!(c.message, "Job has reached the specified backoff limit");
    assert_eq!(failed.status.failed, 2, "backoffLimit 1: two pods failed");
    assert_eq!(failed.status.succeeded, 0);
    assert!(failed.status.completion_time.is_none());
    let pods = pods_of(&client, "doomed").await?;
    assert_eq!(pods.len(), 2, "no pod after the limit");
    // The second pod waited out the back-off (10 s) after the first failed.
    let mut starts: Vec<i64> = pods
        .iter()
        .filter_map(|p| p.metadata.creation_timestamp.map(|t| t.0))
        .collect();
    starts.sort();
    assert!(
        starts[1] - starts[0] >= 9,
        "the replacement came after the back-off: {starts:?}"
    );
    assert!(!failed.has_condition(JOB_COMPLETE));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_with_a_ttl_is_deleted_with_its_pods() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, cluster, client) = start_node("jobs-ttl").await?;
    let kc = cluster.nodes[0].kubeconfig();
    // `kubectl create job` leaves the selector to the server, as users do.
    kubectl(
        &kc,
        &[
            "create",
            "job",
            "brief",
            "--image=rudder/demo:1",
            "--",
            "/bin/sh",
            "-c",
            "echo done",
        ],
    )?;
    let jobs = client.api::<Job>(Some("default"));
    kubectl(
        &kc,
        &[
            "patch",
            "job",
            "brief",
            "--type=merge",
            "-p",
            r#"{"spec":{"ttlSecondsAfterFinished":2}}"#,
        ],
    )?;
    wait_for(&jobs, "brief", 120, |j| j.has_condition(JOB_COMPLETE)).await?;
    let (c, j) = (client.clone(), jobs.clone());
    eventually(Duration::from_secs(60), move || {
        let (c, j) = (c.clone(), j.clone());
        async move {
            let gone = match j.get("brief").await {
                Err(e) if e.is_not_found() => true,
                Err(e) => return Err(e.into()),
                Ok(_) => false,
            };
            Ok((gone && pods_of(&c, "brief").await?.is_empty()).then_some(()))
        }
    })
    .await
    .context("the Job and its pods are deleted after the TTL")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_job_controller_mid_job_completes_each_index_once() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, _cluster, client) = start_node("jobs-chaos").await?;
    let jobs = client.api::<Job>(Some("default"));
    let mut j = job("steady", "sleep 2; echo ok");
    j.spec.completions = Some(6);
    j.spec.parallelism = Some(2);
    j.spec.completion_mode = Some(CompletionMode::Indexed);
    jobs.create(&j).await?;
    let node = NodeName::new("jobs-chaos");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let killed = client.chaos_kill(&node, "controller/job").await?;
        assert!(!killed.is_empty(), "the Job controller runs on the node");
    }
    let done = wait_for(&jobs, "steady", 180, |j| j.has_condition(JOB_COMPLETE)).await?;
    assert_eq!(done.status.completed_indexes, "0-5");
    assert_eq!(done.status.succeeded, 6);
    let pods = pods_of(&client, "steady").await?;
    let per_index = succeeded_per_index(&pods);
    assert_eq!(
        per_index,
        (0..6)
            .map(|i| (i.to_string(), 1))
            .collect::<BTreeMap<_, _>>(),
        "no index completed twice across the restarts"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cronjob_runs_every_minute_and_trims_its_history() -> anyhow::Result<()> {
    if !docker_available() {
        return Ok(());
    }
    let (_cleanup, cluster, client) = start_node("jobs-cron").await?;
    let kc = cluster.nodes[0].kubeconfig();
    kubectl(
        &kc,
        &[
            "create",
            "cronjob",
            "tick",
            "--image=rudder/demo:1",
            "--schedule=* * * * *",
            "--",
            "/bin/sh",
            "-c",
            "echo tick",
        ],
    )?;
    kubectl(
        &kc,
        &[
            "patch",
            "cronjob",
            "tick",
            "--type=merge",
            "-p",
            r#"{"spec":{"successfulJobsHistoryLimit":1}}"#,
        ],
    )?;
    let table = kubectl(&kc, &["get", "cronjobs"])?;
    let header = table.lines().next().unwrap_or_default();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"],
        "{table}"
    );
    // A manual run from the template, as `kubectl create job --from` makes it.
    kubectl(&kc, &["create", "job", "by-hand", "--from=cronjob/tick"])?;
    let jobs = client.api::<Job>(Some("default"));
    let manual = jobs.get("by-hand").await?;
    assert_eq!(
        manual
            .metadata
            .annotations
            .get("cronjob.kubernetes.io/instantiate")
            .map(String::as_str),
        Some("manual")
    );
    assert!(
        manual
            .metadata
            .controller_ref()
            .is_some_and(|r| r.kind == "CronJob" && r.name == "tick"),
        "kubectl names the CronJob as the manual run's controller"
    );
    wait_for(&jobs, "by-hand", 120, |j| j.has_condition(JOB_COMPLETE)).await?;

    // Two scheduled runs complete; only the latest is kept (limit 1).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let (j, s) = (jobs.clone(), seen.clone());
    let (kept, _) = eventually(Duration::from_secs(200), move || {
        let (j, s) = (j.clone(), s.clone());
        async move {
            let scheduled: Vec<Job> = j
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter(|x| x.metadata.name.starts_with("tick-"))
                .collect();
            let mut seen = s.lock().unwrap_or_else(|p| p.into_inner());
            seen.extend(scheduled.iter().map(|x| x.metadata.name.clone()));
            let complete: Vec<&Job> = scheduled
                .iter()
                .filter(|x| x.has_condition(JOB_COMPLETE))
                .collect();
            Ok(
                (seen.len() >= 2 && complete.len() == 1 && scheduled.len() == 1)
                    .then(|| scheduled[0].clone()),
            )
        }
    })
    .await
    .context("two scheduled runs, the older one trimmed")?;
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let newest = seen.iter().max().cloned().unwrap_or_default();
    assert_eq!(
        kept.metadata.name, newest,
        "the newest run is kept: {seen:?}"
    );
    assert!(
        kept.metadata
            .annotations
            .contains_key(rudder_protocol::resources::CRONJOB_SCHEDULED_TIMESTAMP),
        "scheduled runs carry their time"
    );
    let cj = client
        .api::<rudder_protocol::resources::CronJob>(Some("default"))
        .get("tick")
        .await?;
    assert!(cj.status.last_schedule_time.is_some());
    assert!(cj.status.last_successful_time.is_some());
    // kubectl makes the CronJob the manual run's controller, so it is history too: the
    // oldest successful Job, trimmed first.
    assert!(
        matches!(jobs.get("by-hand").await, Err(e) if e.is_not_found()),
        "the manual run was trimmed with the history"
    );
    Ok(())
}
