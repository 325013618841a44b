//! Which state a list reads and where a watch starts, under Kubernetes' rules for
//! `resourceVersion`, `resourceVersionMatch`, `sendInitialEvents` and
//! `allowWatchBookmarks`; and the order of what a watch sends ([`WatchStream`]).
//! Pure: the HTTP front parses the query, the core reads the state, this module decides.
//!
//! The rules, as kube-apiserver applies them (`SetListOptionsDefaults`,
//! `ValidateListOptions` and the watch cache's `Watch`), with the WatchList feature on:
//!
//! - A query parameter that does not parse (`watch=maybe`, `timeoutSeconds=x`) is a
//!   `400 BadRequest`; a forbidden combination is a `422 Invalid` on `ListOptions`.
//! - **List**: `resourceVersion` unset is the latest state (a consistent read), `"0"` any
//!   state the server holds, `N` a state at least as new as `N` (`NotOlderThan`, the
//!   default match), or exactly `N` with `resourceVersionMatch=Exact` (`410 Expired` when
//!   that revision is no longer kept). `resourceVersionMatch` needs a `resourceVersion`,
//!   is forbidden with `continue`, must be `Exact` or `NotOlderThan`, and `Exact` is
//!   forbidden with `"0"`; `sendInitialEvents` is forbidden on a list. A state newer than
//!   the server has is `504 Timeout` ("Too large resource version").
//! - **Watch**, defaulting first: a watch from `""` or `"0"` that names neither
//!   `sendInitialEvents` nor `resourceVersionMatch` becomes
//!   `sendInitialEvents=true&resourceVersionMatch=NotOlderThan` (the legacy "get state
//!   and start" watch). Then: `sendInitialEvents` requires
//!   `resourceVersionMatch=NotOlderThan`; `resourceVersionMatch` requires
//!   `sendInitialEvents`, must be `NotOlderThan` and is forbidden with `continue`.
//! - `sendInitialEvents=true`: the current objects matching the selectors, read as a list
//!   with the same `resourceVersion` would be (latest, any, or at least `N`), as `ADDED`
//!   events; then, when `allowWatchBookmarks=true`, a `BOOKMARK` carrying the state's
//!   revision and the annotation `k8s.io/initial-events-end: "true"`; then every change
//!   after that revision. Without `allowWatchBookmarks` there is no bookmark (Kubernetes
//!   does not reject the request).
//! - `sendInitialEvents=false`: no state, changes after the latest revision (unset), the
//!   revision the server holds (`"0"`), or exactly `N`.
//! - `sendInitialEvents` unset (only with `resourceVersion=N`): changes after exactly `N`
//!   (`410 Expired` as an `ERROR` event when `N` is no longer kept).
//! - Bookmarks, when allowed, are also sent every [`BOOKMARK_INTERVAL`] (Kubernetes: about
//!   a minute) and once [`PRE_TIMEOUT_BOOKMARK`] before the `timeoutSeconds` window ends,
//!   so a client resumes from a recent revision. A bookmark object carries only `kind`,
//!   `apiVersion` and `metadata.resourceVersion` (and the annotation above).

use std::time::Duration;

use rudder_protocol::resources::{Status, StatusDetails};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::core::{ApiError, ApiEvent, ListOptions};
use super::validation::{FieldCause, FieldPath};

/// The annotation of the bookmark that ends a watch's initial events.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";
/// How often a watch that allows bookmarks gets one (Kubernetes' `defaultBookmarkFrequency`).
pub const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);
/// How long before the end of its `timeoutSeconds` window a watch gets its last bookmark.
pub const PRE_TIMEOUT_BOOKMARK: Duration = Duration::from_secs(2);
/// Longest single wait for changes: the stream's loop comes round at least this often.
pub const MAX_POLL_WAIT: Duration = Duration::from_secs(10);
/// A watch's window when the client names no `timeoutSeconds` (kube-apiserver's
/// `--min-request-timeout`), and the longest accepted.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
/// The longest `timeoutSeconds` a watch is given.
pub const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(3600);

const NOT_OLDER_THAN: &str = "NotOlderThan";
const EXACT: &str = "Exact";

/// Which state a list reads (and a watch's initial events show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRead {
    /// The latest state: a consistent read (`resourceVersion` unset).
    Latest,
    /// Whatever state the server holds (`resourceVersion=0`).
    Any,
    /// A state at least as new as this revision (`resourceVersion=N`, `NotOlderThan`).
    NotOlderThan(u64),
    /// The state at exactly this revision (`resourceVersionMatch=Exact`).
    Exact(u64),
}

impl ListRead {
    /// The list options that read this state, on top of `base` (selectors, paging).
    pub fn options(self, base: &ListOptions) -> ListOptions {
        let (rv, exact) = match self {
            ListRead::Latest => (None, false),
            ListRead::Any => (Some("0".to_owned()), false),
            ListRead::NotOlderThan(n) => (Some(n.to_string()), false),
            ListRead::Exact(n) => (Some(n.to_string()), true),
        };
        ListOptions {
            resource_version: rv,
            resource_version_match: exact.then(|| EXACT.to_owned()),
            send_initial_events: None,
            continue_token: None,
            // A watch's initial events are the whole state, never a page.
            limit: 0,
            ..base.clone()
        }
    }
}

/// Where a watch's changes start when it sends no initial events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangesFrom {
    /// After this revision exactly.
    Exact(u64),
    /// After the latest revision (a consistent read of the store's revision).
    Latest,
    /// After the revision the server holds.
    Any,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// The state read as `read`, as ADDED events; then, if `end_bookmark`, the bookmark
    /// that ends the initial events; then the changes after the state's revision.
    InitialEvents {
        /// Which state.
        read: ListRead,
        /// Whether the initial-events-end bookmark follows.
        end_bookmark: bool,
    },
    /// Only changes.
    Changes(ChangesFrom),
}

fn bad_request(message: String) -> ApiError {
    Box::new(Status::failure(400, "BadRequest", message))
}

/// `strconv.ParseBool`, which Kubernetes' query parameter decoding uses.
fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(bad_request(format!(
            "invalid value {other:?} for query parameter {name}: want a boolean"
        ))),
    }
}

/// Checks that the list and watch query parameters parse (booleans as Go's `ParseBool`,
/// integers as integers), as Kubernetes' parameter decoding does before anything else:
/// `400 BadRequest` otherwise.
pub fn check_query(q: &[(String, String)]) -> Result<(), ApiError> {
    for (k, v) in q {
        match k.as_str() {
            "watch" | "allowWatchBookmarks" | "sendInitialEvents" => {
                parse_bool(k, v)?;
            }
            "timeoutSeconds" | "limit" if v.parse::<i64>().is_err() => {
                return Err(bad_request(format!(
                    "invalid value {v:?} for query parameter {k}: want an integer"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A query flag as Kubernetes reads it (`None` when absent or unparsable, which
/// [`check_query`] has already refused).
pub fn flag(q: &[(String, String)], name: &str) -> Option<bool> {
    q.iter()
        .find(|(k, _)| k == name)
        .and_then(|(k, v)| parse_bool(k, v).ok())
}

/// `resourceVersion` as a number; `400` when it is not one.
fn parse_rv(rv: &str) -> Result<u64, ApiError> {
    rv.parse()
        .map_err(|_| bad_request(format!("invalid resourceVersion {rv:?}: want an integer")))
}

/// The `422 Invalid` status Kubernetes answers a forbidden combination of list options with.
fn invalid_list_options(causes: Vec<FieldCause>) -> ApiError {
    let summary = super::validation::aggregate(&causes);
    let mut s = Status::failure(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {summary}"),
    );
    s.details = Some(StatusDetails {
        group: "meta.k8s.io".to_owned(),
        kind: "ListOptions".to_owned(),
        causes: causes.into_iter().map(Into::into).collect(),
        ..StatusDetails::default()
    });
    Box::new(s)
}

fn non_empty(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// The state a list (not a watch) with `opts` reads, or why it may not.
pub fn list_read(opts: &ListOptions) -> Result<ListRead, ApiError> {
    let rv = non_empty(&opts.resource_version);
    let matching = non_empty(&opts.resource_version_match);
    let path = FieldPath::new("resourceVersionMatch");
    let mut causes = Vec::new();
    if !matching.is_empty() {
        if rv.is_empty() {
            causes.push(FieldCause::forbidden(
                &path,
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if opts
            .continue_token
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            causes.push(FieldCause::forbidden(
                &path,
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if matching != EXACT && matching != NOT_OLDER_THAN {
            causes.push(FieldCause::not_supported(
                &path,
                matching,
                &[EXACT, NOT_OLDER_THAN, ""],
            ));
        }
        if matching == EXACT && rv == "0" {
            causes.push(FieldCause::forbidden(
                &path,
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if opts.send_initial_events.is_some() {
        causes.push(FieldCause::forbidden(
            &FieldPath::new("sendInitialEvents"),
            "sendInitialEvents is forbidden for list",
        ));
    }
    if !causes.is_empty() {
        return Err(invalid_list_options(causes));
    }
    Ok(match rv {
        "" => ListRead::Latest,
        "0" => ListRead::Any,
        n if matching == EXACT => ListRead::Exact(parse_rv(n)?),
        n => ListRead::NotOlderThan(parse_rv(n)?),
    })
}

/// Where a watch with `opts` starts, or why it may not.
pub fn watch_start(opts: &ListOptions) -> Result<WatchStart, ApiError> {
    let rv = non_empty(&opts.resource_version);
    let mut matching = non_empty(&opts.resource_version_match);
    let mut send_initial = opts.send_initial_events;
    // SetListOptionsDefaults: the legacy watch is a streaming list.
    if send_initial.is_none() && matching.is_empty() && (rv.is_empty() || rv == "0") {
        send_initial = Some(true);
        matching = NOT_OLDER_THAN;
    }
    let path = FieldPath::new("resourceVersionMatch");
    let mut causes = Vec::new();
    if send_initial.is_some() && matching != NOT_OLDER_THAN {
        causes.push(FieldCause::forbidden(
            &path,
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if !matching.is_empty() {
        if send_initial.is_none() {
            causes.push(FieldCause::forbidden(
                &path,
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if matching != NOT_OLDER_THAN {
            causes.push(FieldCause::not_supported(
                &path,
                matching,
                &[NOT_OLDER_THAN],
            ));
        }
        if opts
            .continue_token
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            causes.push(FieldCause::forbidden(
                &path,
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(invalid_list_options(causes));
    }
    let version = match rv {
        "" => None,
        "0" => Some(0),
        n => Some(parse_rv(n)?),
    };
    Ok(match (send_initial, version) {
        (Some(true), version) => WatchStart::InitialEvents {
            read: match version {
                None => ListRead::Latest,
                Some(0) => ListRead::Any,
                Some(n) => ListRead::NotOlderThan(n),
            },
            end_bookmark: opts.bookmarks,
        },
        (Some(false), None) => WatchStart::Changes(ChangesFrom::Latest),
        (Some(false), Some(0)) => WatchStart::Changes(ChangesFrom::Any),
        (_, Some(n)) => WatchStart::Changes(ChangesFrom::Exact(n)),
        // Defaulting above gives every watch from "" a sendInitialEvents.
        (None, None) => WatchStart::Changes(ChangesFrom::Latest),
    })
}

/// A watch's `timeoutSeconds` window: the default when unset, at least a second, at most
/// [`MAX_WATCH_TIMEOUT`].
pub fn watch_timeout(opts: &ListOptions) -> Duration {
    opts.timeout_seconds
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs)
        .clamp(Duration::from_secs(1), MAX_WATCH_TIMEOUT)
}

/// When the next periodic bookmark is due after `now` (Kubernetes' `nextBookmarkTime`):
/// `interval` from now, but no later than [`PRE_TIMEOUT_BOOKMARK`] before `deadline`;
/// none once that moment has passed.
pub fn next_bookmark(now: Instant, deadline: Instant, interval: Duration) -> Option<Instant> {
    let heartbeat = now + interval;
    let pre_timeout = deadline.checked_sub(PRE_TIMEOUT_BOOKMARK).unwrap_or(now);
    let at = heartbeat.min(pre_timeout);
    (at >= now).then_some(at)
}

/// What a watch stream does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the state as this list would, then call [`WatchStream::listed`].
    List(ListRead),
    /// Find the revision changes start after, then call [`WatchStream::started`].
    Resolve(ChangesFrom),
    /// Wait up to `wait` for changes after `after`, then call [`WatchStream::changed`].
    Poll {
        /// The last revision sent.
        after: u64,
        /// How long to wait at most.
        wait: Duration,
    },
    /// The stream is over.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start(WatchStart),
    Watching(u64),
    Done,
}

/// The events of one watch, in the order Kubernetes sends them: initial `ADDED` events
/// and their end bookmark, then changes, with periodic bookmarks when the client allows
/// them, until the window ends or an `ERROR` ends it. The caller does the reads the
/// [`Step`]s ask for and writes out the events the stream returns.
#[derive(Debug, Clone)]
pub struct WatchStream {
    phase: Phase,
    bookmarks: bool,
    deadline: Instant,
    interval: Duration,
    next_bookmark: Option<Instant>,
    kind: &'static str,
    api_version: String,
}

impl WatchStream {
    /// A watch of objects of `kind` (`api_version`) starting at `start`, ending at
    /// `deadline`, with bookmarks every `interval` when `bookmarks`.
    pub fn new(
        start: WatchStart,
        bookmarks: bool,
        now: Instant,
        deadline: Instant,
        interval: Duration,
        kind: &'static str,
        api_version: String,
    ) -> Self {
        WatchStream {
            phase: Phase::Start(start),
            bookmarks,
            deadline,
            interval,
            next_bookmark: bookmarks
                .then(|| next_bookmark(now, deadline, interval))
                .flatten(),
            kind,
            api_version,
        }
    }

    /// What to do at `now`.
    pub fn step(&self, now: Instant) -> Step {
        match self.phase {
            Phase::Done => Step::End,
            _ if now >= self.deadline => Step::End,
            Phase::Start(WatchStart::InitialEvents { read, .. }) => Step::List(read),
            Phase::Start(WatchStart::Changes(from)) => Step::Resolve(from),
            Phase::Watching(after) => {
                let mut until = self.deadline;
                if let Some(b) = self.next_bookmark {
                    until = until.min(b);
                }
                let wait = until.saturating_duration_since(now).min(MAX_POLL_WAIT);
                Step::Poll { after, wait }
            }
        }
    }

    /// A bookmark at `revision` (the initial-events-end one when `end`).
    pub fn bookmark(&self, revision: u64, end: bool) -> ApiEvent {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if end {
            metadata["annotations"] = json!({INITIAL_EVENTS_END_ANNOTATION: "true"});
        }
        ApiEvent {
            kind: "BOOKMARK",
            object: json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata}),
        }
    }

    /// The state was read: `items` at `revision`. Returns them as ADDED events, then the
    /// end bookmark if asked for.
    pub fn listed(&mut self, items: Vec<Value>, revision: u64) -> Vec<ApiEvent> {
        let end = matches!(
            self.phase,
            Phase::Start(WatchStart::InitialEvents {
                end_bookmark: true,
                ..
            })
        );
        let mut out: Vec<ApiEvent> = items
            .into_iter()
            .map(|object| ApiEvent {
                kind: "ADDED",
                object,
            })
            .collect();
        if end {
            out.push(self.bookmark(revision, true));
        }
        self.phase = Phase::Watching(revision);
        out
    }

    /// Changes start after `revision`.
    pub fn started(&mut self, revision: u64) {
        self.phase = Phase::Watching(revision);
    }

    /// A poll returned `events`, with everything up to `revision` seen; `now` is when.
    /// Returns the events, then a bookmark at `revision` when one is due.
    pub fn changed(&mut self, events: Vec<ApiEvent>, revision: u64, now: Instant) -> Vec<ApiEvent> {
        let after = match self.phase {
            Phase::Watching(after) => after,
            _ => return Vec::new(),
        };
        let revision = revision.max(after);
        let mut out = events;
        if self.bookmarks && self.next_bookmark.is_some_and(|b| now >= b) {
            out.push(self.bookmark(revision, false));
            self.next_bookmark = next_bookmark(now, self.deadline, self.interval)
                // At most one pre-timeout bookmark: none again in the same last seconds.
                .filter(|b| *b > now);
        }
        self.phase = Phase::Watching(revision);
        out
    }

    /// A read failed with `status`: an ERROR event, and the stream ends.
    pub fn failed(&mut self, status: &Status) -> Vec<ApiEvent> {
        self.phase = Phase::Done;
        vec![ApiEvent {
            kind: "ERROR",
            object: serde_json::to_value(status).unwrap_or_default(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named case: query parameters, and what they give (or the causes of their 422).
    type Case<T> = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Result<T, Vec<&'static str>>,
    );

    fn opts(pairs: &[(&str, &str)]) -> ListOptions {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        ListOptions {
            resource_version: get("resourceVersion"),
            resource_version_match: get("resourceVersionMatch"),
            send_initial_events: get("sendInitialEvents").map(|v| v == "true"),
            bookmarks: get("allowWatchBookmarks").is_some_and(|v| v == "true"),
            continue_token: get("continue"),
            ..ListOptions::default()
        }
    }

    fn messages(e: &ApiError) -> Vec<String> {
        e.details
            .as_ref()
            .map(|d| {
                d.causes
                    .iter()
                    .map(|c| format!("{}: {}", c.field, c.message))
                    .collect()
            })
            .unwrap_or_default()
    }

    const SIE_NEEDS_NOT_OLDER_THAN: &str = "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
    const RVM_NEEDS_SIE: &str = "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided";
    const RVM_WITH_CONTINUE: &str =
        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided";

    #[test]
    fn watch_parameter_rules() {
        use ChangesFrom as C;
        use ListRead as R;
        let streaming = |read, end_bookmark| Ok(WatchStart::InitialEvents { read, end_bookmark });
        let cases: Vec<Case<WatchStart>> = vec![
            (
                "legacy watch: get state and start at most recent",
                vec![],
                streaming(R::Latest, false),
            ),
            (
                "legacy watch with bookmarks also gets the end bookmark",
                vec![("allowWatchBookmarks", "true")],
                streaming(R::Latest, true),
            ),
            (
                "legacy watch from 0: get state and start at any",
                vec![("resourceVersion", "0")],
                streaming(R::Any, false),
            ),
            (
                "watch from N: start at exact",
                vec![("resourceVersion", "42")],
                Ok(WatchStart::Changes(C::Exact(42))),
            ),
            (
                "kubectl's streaming list",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("allowWatchBookmarks", "true"),
                ],
                streaming(R::Latest, true),
            ),
            (
                "streaming list from 0",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("allowWatchBookmarks", "true"),
                    ("resourceVersion", "0"),
                ],
                streaming(R::Any, true),
            ),
            (
                "streaming list not older than N",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("allowWatchBookmarks", "true"),
                    ("resourceVersion", "7"),
                ],
                streaming(R::NotOlderThan(7), true),
            ),
            (
                "streaming list without bookmarks: no end bookmark, no error",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan"),
                ],
                streaming(R::Latest, false),
            ),
            (
                "no initial events: start at most recent",
                vec![
                    ("sendInitialEvents", "false"),
                    ("resourceVersionMatch", "NotOlderThan"),
                ],
                Ok(WatchStart::Changes(C::Latest)),
            ),
            (
                "no initial events from 0: start at any",
                vec![
                    ("sendInitialEvents", "false"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("resourceVersion", "0"),
                ],
                Ok(WatchStart::Changes(C::Any)),
            ),
            (
                "no initial events from N: start at exact",
                vec![
                    ("sendInitialEvents", "false"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("resourceVersion", "9"),
                ],
                Ok(WatchStart::Changes(C::Exact(9))),
            ),
            (
                "sendInitialEvents without a match",
                vec![("sendInitialEvents", "true")],
                Err(vec![SIE_NEEDS_NOT_OLDER_THAN]),
            ),
            (
                "sendInitialEvents with Exact",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "Exact"),
                    ("resourceVersion", "5"),
                ],
                Err(vec![
                    SIE_NEEDS_NOT_OLDER_THAN,
                    r#"resourceVersionMatch: Unsupported value: "Exact": supported values: "NotOlderThan""#,
                ]),
            ),
            (
                "a match without sendInitialEvents",
                vec![("resourceVersionMatch", "NotOlderThan")],
                Err(vec![RVM_NEEDS_SIE]),
            ),
            (
                "a match with continue",
                vec![
                    ("sendInitialEvents", "true"),
                    ("resourceVersionMatch", "NotOlderThan"),
                    ("continue", "abc"),
                ],
                Err(vec![RVM_WITH_CONTINUE]),
            ),
        ];
        for (name, pairs, want) in cases {
            let got = watch_start(&opts(&pairs));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(e), Err(w)) => {
                    assert_eq!(e.code, 422, "{name}");
                    assert_eq!(e.reason, "Invalid", "{name}");
                    assert_eq!(messages(&e), w, "{name}");
                    assert!(
                        e.message
                            .starts_with("ListOptions.meta.k8s.io \"\" is invalid: "),
                        "{name}: {}",
                        e.message
                    );
                }
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
        let e = watch_start(&opts(&[("resourceVersion", "x1")])).expect_err("bad rv");
        assert_eq!(e.code, 400);
    }

    #[test]
    fn list_parameter_rules() {
        let cases: Vec<Case<ListRead>> = vec![
            ("latest", vec![], Ok(ListRead::Latest)),
            ("any", vec![("resourceVersion", "0")], Ok(ListRead::Any)),
            ("legacy N is not older than", vec![("resourceVersion", "5")], Ok(ListRead::NotOlderThan(5))),
            (
                "not older than N",
                vec![("resourceVersion", "5"), ("resourceVersionMatch", "NotOlderThan")],
                Ok(ListRead::NotOlderThan(5)),
            ),
            ("exact N", vec![("resourceVersion", "5"), ("resourceVersionMatch", "Exact")], Ok(ListRead::Exact(5))),
            (
                "not older than 0 is any",
                vec![("resourceVersion", "0"), ("resourceVersionMatch", "NotOlderThan")],
                Ok(ListRead::Any),
            ),
            (
                "a match needs a resourceVersion",
                vec![("resourceVersionMatch", "NotOlderThan")],
                Err(vec!["resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"]),
            ),
            (
                "exact 0",
                vec![("resourceVersion", "0"), ("resourceVersionMatch", "Exact")],
                Err(vec![r#"resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0""#]),
            ),
            (
                "unknown match",
                vec![("resourceVersion", "3"), ("resourceVersionMatch", "Newest")],
                Err(vec![r#"resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", """#]),
            ),
            (
                "a match with continue",
                vec![("resourceVersion", "3"), ("resourceVersionMatch", "Exact"), ("continue", "t")],
                Err(vec![RVM_WITH_CONTINUE]),
            ),
            (
                "sendInitialEvents on a list",
                vec![("sendInitialEvents", "true")],
                Err(vec!["sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"]),
            ),
        ];
        for (name, pairs, want) in cases {
            match (list_read(&opts(&pairs)), want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(e), Err(w)) => {
                    assert_eq!(e.code, 422, "{name}");
                    assert_eq!(messages(&e), w, "{name}");
                }
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn query_values_must_parse() {
        let q = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        for (k, v, ok) in [
            ("watch", "true", true),
            ("watch", "1", true),
            ("watch", "False", true),
            ("watch", "yes", false),
            ("sendInitialEvents", "maybe", false),
            ("allowWatchBookmarks", "t", true),
            ("timeoutSeconds", "30", true),
            ("timeoutSeconds", "soon", false),
            ("limit", "-1", true),
            ("labelSelector", "anything", true),
        ] {
            let got = check_query(&q(k, v));
            assert_eq!(got.is_ok(), ok, "{k}={v}");
            if let Err(e) = got {
                assert_eq!(e.code, 400);
            }
        }
        assert_eq!(
            flag(&q("sendInitialEvents", "T"), "sendInitialEvents"),
            Some(true)
        );
        assert_eq!(flag(&q("watch", "0"), "watch"), Some(false));
        assert_eq!(flag(&q("watch", "0"), "other"), None);
    }

    #[test]
    fn bookmark_schedule() {
        let now = Instant::now();
        let min = Duration::from_secs(60);
        let s = Duration::from_secs;
        let cases = [
            ("a minute from now", now + s(600), Some(now + min)),
            (
                "two seconds before a near deadline",
                now + s(30),
                Some(now + s(28)),
            ),
            ("exactly at the pre-timeout moment", now + s(2), Some(now)),
            ("too late for another", now + s(1), None),
        ];
        for (name, deadline, want) in cases {
            assert_eq!(next_bookmark(now, deadline, min), want, "{name}");
        }
    }

    fn pod(name: &str, rv: u64) -> Value {
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "resourceVersion": rv.to_string()}})
    }

    fn summary(events: &[ApiEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let m = &e.object["metadata"];
                let end = m["annotations"][INITIAL_EVENTS_END_ANNOTATION] == "true";
                match e.kind {
                    "BOOKMARK" if end => format!(
                        "BOOKMARK {} end",
                        m["resourceVersion"].as_str().unwrap_or("?")
                    ),
                    "BOOKMARK" => {
                        format!("BOOKMARK {}", m["resourceVersion"].as_str().unwrap_or("?"))
                    }
                    kind => format!("{kind} {}", m["name"].as_str().unwrap_or("?")),
                }
            })
            .collect()
    }

    #[test]
    fn streaming_list_event_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let start = WatchStart::InitialEvents {
            read: ListRead::Latest,
            end_bookmark: true,
        };
        let mut w = WatchStream::new(start, true, t0, t0 + s(300), s(60), "Pod", "v1".into());
        assert_eq!(w.step(t0), Step::List(ListRead::Latest));
        let first = w.listed(vec![pod("a", 3), pod("b", 5)], 9);
        assert_eq!(summary(&first), ["ADDED a", "ADDED b", "BOOKMARK 9 end"]);
        // The bookmark object: only kind, apiVersion and metadata.
        let bm = &first[2].object;
        assert_eq!(bm["kind"], "Pod");
        assert_eq!(bm["apiVersion"], "v1");
        let keys: Vec<&String> = bm
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 3, "{bm}");
        assert_eq!(
            w.step(t0),
            Step::Poll {
                after: 9,
                wait: MAX_POLL_WAIT
            }
        );
        let next = w.changed(
            vec![ApiEvent {
                kind: "MODIFIED",
                object: pod("a", 11),
            }],
            11,
            t0 + s(1),
        );
        assert_eq!(summary(&next), ["MODIFIED a"]);
        // Quiet until the bookmark is due; then one bookmark at the latest revision.
        assert!(w.changed(Vec::new(), 12, t0 + s(30)).is_empty());
        assert_eq!(
            summary(&w.changed(Vec::new(), 14, t0 + s(60))),
            ["BOOKMARK 14"]
        );
        assert!(w.changed(Vec::new(), 14, t0 + s(61)).is_empty());
        // The poll waits no longer than the next bookmark.
        assert_eq!(
            w.step(t0 + s(115)),
            Step::Poll {
                after: 14,
                wait: s(5)
            }
        );
        // A bookmark a minute, the last one two seconds before the window ends, then the end.
        for at in [120, 180, 240] {
            assert_eq!(
                summary(&w.changed(Vec::new(), 15, t0 + s(at))),
                ["BOOKMARK 15"]
            );
        }
        assert_eq!(
            w.step(t0 + s(297)),
            Step::Poll {
                after: 15,
                wait: s(1)
            }
        );
        assert_eq!(
            summary(&w.changed(Vec::new(), 15, t0 + s(298))),
            ["BOOKMARK 15"]
        );
        assert!(w.changed(Vec::new(), 15, t0 + s(299)).is_empty());
        assert_eq!(w.step(t0 + s(300)), Step::End);
    }

    #[test]
    fn other_starts_event_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // Legacy watch without bookmarks: the state, no bookmark ever.
        let start = WatchStart::InitialEvents {
            read: ListRead::Any,
            end_bookmark: false,
        };
        let mut w = WatchStream::new(start, false, t0, t0 + s(300), s(60), "Pod", "v1".into());
        assert_eq!(summary(&w.listed(vec![pod("a", 3)], 4)), ["ADDED a"]);
        assert!(w.changed(Vec::new(), 8, t0 + s(200)).is_empty());
        assert_eq!(
            w.step(t0 + s(200)),
            Step::Poll {
                after: 8,
                wait: MAX_POLL_WAIT
            }
        );
        // Changes only: resolve the start, then changes.
        let mut w = WatchStream::new(
            WatchStart::Changes(ChangesFrom::Exact(20)),
            true,
            t0,
            t0 + s(300),
            s(60),
            "Pod",
            "v1".into(),
        );
        assert_eq!(w.step(t0), Step::Resolve(ChangesFrom::Exact(20)));
        w.started(20);
        assert_eq!(
            w.step(t0),
            Step::Poll {
                after: 20,
                wait: MAX_POLL_WAIT
            }
        );
        let got = w.changed(
            vec![ApiEvent {
                kind: "DELETED",
                object: pod("a", 21),
            }],
            21,
            t0 + s(60),
        );
        assert_eq!(summary(&got), ["DELETED a", "BOOKMARK 21"]);
        // An error ends the stream.
        let err = w.failed(&Status::expired("too old resource version: 1 (5)"));
        assert_eq!(err[0].kind, "ERROR");
        assert_eq!(err[0].object["code"], 410);
        assert_eq!(w.step(t0), Step::End);
    }
}
