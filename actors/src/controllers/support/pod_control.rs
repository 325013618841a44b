//! Creating and deleting a controller's pods (client-go's `PodControl` and
//! `slowStartBatch`), with their Events and expectations.
//!
//! Creations go in slow-start batches of 1, 2, 4, ... ([`slow_start_batches`]): a
//! template the API refuses costs one failed call, not hundreds, and the first failed
//! batch stops the run. Before writing, the controller's [`ControllerExpectations`] for
//! the owner are set to what it is about to do, and lowered by what will never be
//! observed (creations that failed or were skipped, deletions that found nothing), so
//! the next sync waits exactly for the writes that did happen.
//!
//! Events (`reportingController` = the component): `SuccessfulCreate` /
//! `FailedCreate` and `SuccessfulDelete` / `FailedDelete` on the owner, with
//! Kubernetes' messages.

use std::future::Future;

use rudder_protocol::api::ApiError;
use rudder_protocol::resources::{Event, Pod, PodTemplateSpec, Resource, Time};
use tracing::info;

use super::expectations::{ControllerExpectations, Expectations};
use super::reference;
use crate::controllers::pods::pod_from_template;
use crate::events::EventRecorder;
use crate::informer::{ApiHandle, ObjectKey};

/// Kubernetes' `slowStartBatch` sizes: 1, 2, 4, ... until `count` is reached.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = count;
    let mut size = 1;
    while left > 0 {
        let batch = size.min(left);
        out.push(batch);
        left -= batch;
        size *= 2;
    }
    out
}

/// What a [`slow_start`] run did.
#[derive(Debug)]
pub struct SlowStart<T> {
    /// The results of the calls that succeeded.
    pub done: Vec<T>,
    /// The errors of the calls that failed (all in the last batch run).
    pub failed: Vec<ApiError>,
    /// Calls never made, because a batch before them failed.
    pub skipped: usize,
}

/// Makes `count` calls in [`slow_start_batches`]: the calls of one batch run at once,
/// and a batch with any failure is the last. `call` gets the call's index.
pub async fn slow_start<T, F, Fut>(count: usize, mut call: F) -> SlowStart<T>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut out = SlowStart {
        done: Vec::new(),
        failed: Vec::new(),
        skipped: 0,
    };
    let mut started = 0;
    for batch in slow_start_batches(count) {
        let calls: Vec<Fut> = (started..started + batch).map(&mut call).collect();
        started += batch;
        for r in futures::future::join_all(calls).await {
            match r {
                Ok(v) => out.done.push(v),
                Err(e) => out.failed.push(e),
            }
        }
        if !out.failed.is_empty() {
            out.skipped = count - started;
            break;
        }
    }
    out
}

/// Creates and deletes pods for controllers. Cheap to clone.
#[derive(Clone)]
pub struct PodControl {
    api: ApiHandle,
    events: EventRecorder,
}

impl PodControl {
    /// Pod writes through `api`, Events reported by `component` (e.g.
    /// `replicaset-controller`).
    pub fn new(api: ApiHandle, component: &'static str) -> Self {
        PodControl {
            events: EventRecorder::new(api.clone(), component),
            api,
        }
    }

    /// The recorder of this controller's Events.
    pub fn events(&self) -> &EventRecorder {
        &self.events
    }

    /// Creates `count` pods from `template` for `owner` (generateName `<owner>-`, the
    /// owner as controller) in slow-start batches, as [`PodControl::create_each`] does.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_pods<O: Resource>(
        &self,
        owner: &O,
        template: &PodTemplateSpec,
        count: usize,
        expectations: &ControllerExpectations,
        key: &ObjectKey,
        now: Time,
    ) -> Result<(), ApiError> {
        let meta = owner.metadata();
        let pod = pod_from_template(
            template,
            &meta.namespace,
            &format!("{}-", meta.name),
            owner.controller_ref(),
        );
        self.create_each(owner, vec![pod; count], expectations, key, now)
            .await
    }

    /// Creates `pods` (each already named or with a generateName, and owned) for
    /// `owner` in slow-start batches. The expectations of `key` become that many
    /// creations first, and are lowered by the pods that will never appear. Returns the
    /// first error, if any creation failed.
    pub async fn create_each<O: Resource>(
        &self,
        owner: &O,
        pods: Vec<Pod>,
        expectations: &ControllerExpectations,
        key: &ObjectKey,
        now: Time,
    ) -> Result<(), ApiError> {
        let count = pods.len();
        expectations.set(key.clone(), Expectations::expect(count, [], now));
        let api = self.api.api::<Pod>(Some(&owner.metadata().namespace));
        let run = slow_start(count, |i| {
            let (api, pod) = (&api, &pods[i]);
            async move {
                let r = api.create(pod).await;
                match &r {
                    Ok(p) => self.events.record(
                        reference(owner),
                        Event::NORMAL,
                        "SuccessfulCreate",
                        format!("Created pod: {}", p.metadata.name),
                    ),
                    Err(e) => self.events.record(
                        reference(owner),
                        Event::WARNING,
                        "FailedCreate",
                        format!("Error creating: {e}"),
                    ),
                }
                r
            }
        })
        .await;
        let made = run.done.len();
        if let Some(e) = run.failed.into_iter().next() {
            // Failed and skipped ones never show up; the pods that were made will be
            // observed.
            expectations.update(key, |exp| exp.creations_failed(count - made));
            return Err(e);
        }
        info!(created = made, "created pods");
        Ok(())
    }

    /// Deletes `victims` (name, uid; the uid is a precondition) concurrently, after
    /// expecting each deletion in the expectations of `key`. A victim already gone
    /// counts as observed; the first other error is returned.
    pub async fn delete_pods<O: Resource>(
        &self,
        owner: &O,
        victims: Vec<(String, String)>,
        expectations: &ControllerExpectations,
        key: &ObjectKey,
        now: Time,
    ) -> Result<(), ApiError> {
        expectations.set(
            key.clone(),
            Expectations::expect(0, victims.iter().map(|(_, uid)| uid.clone()), now),
        );
        let pods = self.api.api::<Pod>(Some(&owner.metadata().namespace));
        let results = futures::future::join_all(victims.iter().map(|(name, uid)| {
            let options = serde_json::json!({"preconditions": {"uid": uid}});
            let pods = &pods;
            async move { (name, uid, pods.delete_with(name, &options).await) }
        }))
        .await;
        let mut first = None;
        for (name, uid, r) in results {
            match r {
                Ok(_) => self.events.record(
                    reference(owner),
                    Event::NORMAL,
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                ),
                Err(e) => {
                    // Gone already, or not deleted: either way no deletion event will come.
                    expectations.update(key, |exp| exp.observe_deleted(uid));
                    if !e.is_not_found() {
                        self.events.record(
                            reference(owner),
                            Event::WARNING,
                            "FailedDelete",
                            format!("Error deleting: {e}"),
                        );
                        first.get_or_insert(e);
                    }
                }
            }
        }
        info!(deleted = victims.len(), "deleted pods");
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn slow_start_table() {
        let table: &[(&str, usize, &[usize])] = &[
            ("none", 0, &[]),
            ("one", 1, &[1]),
            ("three", 3, &[1, 2]),
            ("ten", 10, &[1, 2, 4, 3]),
            ("sixteen", 16, &[1, 2, 4, 8, 1]),
        ];
        for (name, n, want) in table {
            assert_eq!(slow_start_batches(*n), *want, "{name}");
        }
    }

    #[tokio::test]
    async fn slow_start_stops_after_the_first_failed_batch() {
        // (name, count, indexes of failing calls, calls made, succeeded, failed, skipped)
        type Case = (
            &'static str,
            usize,
            &'static [usize],
            usize,
            usize,
            usize,
            usize,
        );
        let table: &[Case] = &[
            ("all succeed", 10, &[], 10, 10, 0, 0),
            ("nothing to do", 0, &[], 0, 0, 0, 0),
            ("the first call fails: one call", 100, &[0], 1, 0, 1, 99),
            // Batches 1, 2, 4: call 5 is in the third batch; the others in it succeed.
            ("a failure in the third batch", 20, &[5], 7, 6, 1, 13),
            ("two failures in one batch", 20, &[3, 4], 7, 5, 2, 13),
            ("a failure in the last batch", 3, &[2], 3, 2, 1, 0),
        ];
        for (name, count, failing, calls, done, failed, skipped) in table {
            let made = Mutex::new(Vec::new());
            let run = slow_start(*count, |i| {
                made.lock().unwrap_or_else(|p| p.into_inner()).push(i);
                let fails = failing.contains(&i);
                async move {
                    if fails {
                        Err(ApiError::Unreachable("refused".into()))
                    } else {
                        Ok(i)
                    }
                }
            })
            .await;
            let made = made.into_inner().unwrap_or_else(|p| p.into_inner());
            assert_eq!(made.len(), *calls, "{name}: calls made");
            assert_eq!(
                made,
                (0..*calls).collect::<Vec<_>>(),
                "{name}: calls in order, none twice"
            );
            assert_eq!(run.done.len(), *done, "{name}: succeeded");
            assert_eq!(run.failed.len(), *failed, "{name}: failed");
            assert_eq!(run.skipped, *skipped, "{name}: skipped");
            assert_eq!(
                run.done.len() + run.failed.len() + run.skipped,
                *count,
                "{name}: every call accounted for"
            );
        }
    }
}
