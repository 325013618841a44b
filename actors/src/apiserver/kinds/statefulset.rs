//! StatefulSets (`apps/v1`): Kubernetes' defaults (one replica, OrderedReady,
//! RollingUpdate with partition 0, claims retained, ten revisions kept) and its printer
//! (READY as ready/desired; containers, images wide). Validation is in
//! [`super::super::validation`]'s StatefulSet rules.

use rudder_protocol::resources::{
    PersistentVolumeClaimRetentionPolicyType, PodManagementPolicyType,
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetUpdateStrategyType, Time,
};
use serde_json::{json, Value};

use super::super::defaults::{default_template, Defaults};
use super::super::table::{col, containers_and_images, since, Column, Row, AGE, NAME};
use super::super::table::{CONTAINERS, IMAGES};
use super::Strategy;

impl Strategy for StatefulSet {
    const VALIDATION: &'static [super::super::admission::Validator] =
        &[super::super::podsecurity::workload];
    const COLUMNS: &'static [Column] = STATEFULSET_COLUMNS;

    fn cells(&self, now: Time) -> Row {
        Row::new(statefulset_cells(self, now))
    }

    fn example(_namespace: &str) -> Value {
        super::example_workload(json!({"matchLabels": {"app": "example"}}))
    }
}

impl Defaults for StatefulSet {
    fn apply_defaults(&mut self) {
        let spec = &mut self.spec;
        spec.replicas.get_or_insert(1);
        spec.pod_management_policy
            .get_or_insert(PodManagementPolicyType::OrderedReady);
        let strategy = &mut spec.update_strategy;
        let ty = *strategy
            .type_
            .get_or_insert(StatefulSetUpdateStrategyType::RollingUpdate);
        if ty == StatefulSetUpdateStrategyType::RollingUpdate {
            strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default)
                .partition
                .get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        retention
            .when_deleted
            .get_or_insert(PersistentVolumeClaimRetentionPolicyType::Retain);
        retention
            .when_scaled
            .get_or_insert(PersistentVolumeClaimRetentionPolicyType::Retain);
        spec.revision_history_limit.get_or_insert(10);
        default_template(&mut spec.template);
        for claim in &mut spec.volume_claim_templates {
            claim.apply_defaults();
        }
    }
}

const STATEFULSET_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn statefulset_cells(s: &StatefulSet, now: Time) -> Vec<Value> {
    let (names, images) = containers_and_images(&s.spec.template.spec);
    vec![
        json!(s.metadata.name),
        json!(format!("{}/{}", s.status.ready_replicas, s.replicas())),
        json!(since(s.metadata.creation_timestamp, now)),
        json!(names),
        json!(images),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kubernetes_defaults() {
        let mut s = StatefulSet::new("web");
        s.apply_defaults();
        assert_eq!(s.spec.replicas, Some(1));
        assert_eq!(
            s.spec.pod_management_policy,
            Some(PodManagementPolicyType::OrderedReady)
        );
        assert_eq!(
            s.spec.update_strategy.type_,
            Some(StatefulSetUpdateStrategyType::RollingUpdate)
        );
        assert_eq!(s.partition(), 0);
        assert_eq!(s.spec.revision_history_limit, Some(10));
        let r = s
            .spec
            .persistent_volume_claim_retention_policy
            .expect("defaulted");
        assert_eq!(
            r.when_deleted,
            Some(PersistentVolumeClaimRetentionPolicyType::Retain)
        );

        // OnDelete gets no rolling-update parameters.
        let mut s = StatefulSet::new("web");
        s.spec.update_strategy.type_ = Some(StatefulSetUpdateStrategyType::OnDelete);
        s.apply_defaults();
        assert_eq!(s.spec.update_strategy.rolling_update, None);
    }

    #[test]
    fn ready_column_is_ready_over_desired() {
        let mut s = StatefulSet::new("web");
        s.spec.replicas = Some(3);
        s.status.ready_replicas = 2;
        let cells = statefulset_cells(&s, Time(0));
        assert_eq!(cells[1], json!("2/3"));
    }
}
