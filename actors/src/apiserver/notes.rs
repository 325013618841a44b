//! What admission says besides its verdict, as Kubernetes' `warning.AddWarning` and
//! `audit.AddAuditAnnotation` let a plugin say it through the request's context: warnings
//! for the client (HTTP `Warning: 299` headers, which kubectl prints) and annotations for
//! the request's audit event.
//!
//! The notes of one request live in a task-local that [`super::core::ApiCore::handle`]
//! opens around the request, so a plugin deep in the write path (inside the retry loop of
//! an update) adds to them without every layer passing them along. Outside a request
//! (a component writing directly through the core) there is nowhere to put them and they
//! are dropped. A warning is recorded once however often the write path runs it (an update
//! retried after a lost race evaluates admission again).
//!
//! The same context names who asks ([`requester`]), for the plugins that exempt users
//! (PodSecurity's `exemptions.usernames`).

use std::cell::RefCell;
use std::collections::BTreeMap;

/// The notes of one request.
#[derive(Debug, Default)]
pub struct Notes {
    /// Warnings, in the order they were added, without repeats.
    pub warnings: Vec<String>,
    /// Audit annotations (`pod-security.kubernetes.io/audit-violations`, ...).
    pub audit_annotations: BTreeMap<String, String>,
    /// The user the request is served for.
    pub requester: String,
}

tokio::task_local! {
    static NOTES: RefCell<Notes>;
}

/// Runs `f`, a request of user `requester`, with a fresh set of notes; returns its
/// output and the notes.
pub async fn collect<F: std::future::Future>(requester: &str, f: F) -> (F::Output, Notes) {
    let notes = Notes {
        requester: requester.to_owned(),
        ..Notes::default()
    };
    NOTES
        .scope(RefCell::new(notes), async move {
            let out = f.await;
            let notes = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
            (out, notes)
        })
        .await
}

/// Adds a warning for the client of the current request (once).
pub fn add_warning(text: impl Into<String>) {
    let text = text.into();
    let _ = NOTES.try_with(|n| {
        let mut n = n.borrow_mut();
        if !n.warnings.contains(&text) {
            n.warnings.push(text);
        }
    });
}

/// Sets an annotation of the current request's audit event.
pub fn add_audit_annotation(key: impl Into<String>, value: impl Into<String>) {
    let _ = NOTES.try_with(|n| {
        n.borrow_mut()
            .audit_annotations
            .insert(key.into(), value.into());
    });
}

/// The audit annotations added so far in the current request.
pub fn audit_annotations() -> BTreeMap<String, String> {
    NOTES
        .try_with(|n| n.borrow().audit_annotations.clone())
        .unwrap_or_default()
}

/// The user of the current request (`None` outside a request).
pub fn requester() -> Option<String> {
    NOTES.try_with(|n| n.borrow().requester.clone()).ok()
}

/// The `Warning` header value of a warning: code 299, no agent, the text quoted (as
/// Kubernetes' `warning.NewWarningHeader` writes it and kubectl reads it back).
pub fn warning_header(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    format!("299 - \"{quoted}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notes_are_per_request_and_warnings_once() {
        let ((), notes) = collect("alice", async {
            assert_eq!(requester().as_deref(), Some("alice"));
            add_warning("would violate \"x\"");
            add_warning("would violate \"x\"");
            add_audit_annotation("k", "v");
            assert_eq!(audit_annotations().len(), 1);
        })
        .await;
        assert_eq!(notes.warnings, vec!["would violate \"x\"".to_owned()]);
        assert_eq!(
            notes.audit_annotations.get("k").map(String::as_str),
            Some("v")
        );
        // Outside a request: dropped, no panic.
        add_warning("lost");
        assert!(audit_annotations().is_empty());
        assert_eq!(requester(), None);
    }

    #[test]
    fn warning_headers_quote_the_text() {
        assert_eq!(
            warning_header(r#"would violate PodSecurity "restricted:latest": a\b"#),
            r#"299 - "would violate PodSecurity \"restricted:latest\": a\\b""#
        );
    }
}
