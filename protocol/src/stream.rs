//! Byte streams on the bus: one bidirectional stream between two actors, multiplexed on
//! the node link (or joined in memory when both ends live on one node).
//!
//! The rules the code keeps:
//!
//! - **Credit-based flow control.** Each end starts with the other's window as its send
//!   credit and never sends more than it holds; a [`StreamWriter::send`] waits for
//!   credit. The receiving end grants credit back as its consumer reads (in batches of
//!   a quarter window), so a slow reader holds its writer and at most one window per
//!   stream and direction is ever buffered. A peer that sends past its credit is reset.
//!   Requests and other streams keep flowing: no stream ever has more than a window
//!   queued on the link.
//! - **Messages.** Data travels in chunks of at most [`MAX_CHUNK`] bytes; a chunk sent
//!   with one [`StreamWriter::send`] of at most that size arrives as one
//!   [`StreamReader::recv`] (protocols layered on a stream, such as exec's channels,
//!   rely on it).
//! - **Half-close.** [`StreamWriter::finish`] ends one direction; the other end's reader
//!   then sees `Ok(None)` while the other direction keeps flowing.
//! - **Cancellation.** Dropping a writer that was not finished, or a reader before it
//!   saw the end, resets the stream: the other end's reader and writer fail with the
//!   reason. So does a dropped link ([`BusError::LinkDropped`]) and a killed actor (its
//!   halves are dropped with it).
//!
//! An end is a [`Shared`] state, reached by its own handles and by whatever delivers the
//! peer's frames; an [`Outlet`] is how an end reaches its peer (a link, or the peer's
//! state in memory).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;

use crate::messages::BusError;
use crate::net::BoxFuture;

/// Largest chunk of data in one stream frame.
pub const MAX_CHUNK: usize = 128 * 1024;

/// Default receive window of one stream direction: what may be in flight unread.
pub const DEFAULT_WINDOW: u32 = 2 * 1024 * 1024;

/// Smallest window an end accepts (so that a full chunk always fits, four times over).
pub const MIN_WINDOW: u32 = 4 * MAX_CHUNK as u32;

/// How an end reaches its peer.
pub trait Outlet: Send + Sync + 'static {
    /// Sends a chunk of data (the caller holds the credit for it).
    fn data(&self, data: Vec<u8>) -> BoxFuture<Result<(), BusError>>;
    /// Grants the peer `bytes` more credit.
    fn credit(&self, bytes: u32) -> BoxFuture<Result<(), BusError>>;
    /// This end will send no more data.
    fn end(&self) -> BoxFuture<Result<(), BusError>>;
    /// Cancels the stream; best effort, never waits.
    fn reset(&self, error: BusError);
    /// Both directions are done at this end: forget the stream (a link drops its entry).
    fn done(&self) {}
}

#[derive(Default)]
struct State {
    buf: VecDeque<Vec<u8>>,
    buffered: usize,
    /// The peer finished its direction.
    eof: bool,
    /// The stream was reset (by either end or the link).
    error: Option<BusError>,
    /// Bytes this end may still send.
    credit: u64,
    /// Bytes read by the consumer and not yet granted back.
    ungranted: u32,
    /// This end finished its direction.
    finished: bool,
    /// The peer accepted the stream (its first credit arrived).
    accepted: bool,
    /// `done` was reported to the outlet.
    retired: bool,
}

/// One end of a stream: its buffers and credit, and the way to its peer.
pub struct Shared {
    state: Mutex<State>,
    changed: Notify,
    window: u32,
    outlet: Mutex<Option<Arc<dyn Outlet>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// A new end that will buffer at most `window` bytes from its peer and may send
    /// `credit` bytes before the peer grants more.
    pub fn new(window: u32, credit: u32) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                credit: u64::from(credit),
                accepted: credit > 0,
                ..State::default()
            }),
            changed: Notify::new(),
            window: window.max(MIN_WINDOW),
            outlet: Mutex::new(None),
        })
    }

    /// This end's receive window.
    pub fn window(&self) -> u32 {
        self.window
    }

    /// Connects the end to its peer.
    pub fn set_outlet(&self, outlet: Arc<dyn Outlet>) {
        *relock(&self.outlet) = Some(outlet);
    }

    fn outlet(&self) -> Option<Arc<dyn Outlet>> {
        relock(&self.outlet).clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }

    /// The peer sent data. Data past the granted window resets the stream.
    pub fn on_data(&self, data: Vec<u8>) {
        let overflow = {
            let mut st = self.state();
            if st.error.is_some() || st.eof {
                return;
            }
            if st.buffered + data.len() + st.ungranted as usize > self.window as usize {
                true
            } else {
                st.buffered += data.len();
                st.buf.push_back(data);
                false
            }
        };
        if overflow {
            let e = BusError::StreamReset {
                reason: "the peer sent past its flow-control window".into(),
            };
            self.fail(e.clone());
            if let Some(o) = self.outlet() {
                o.reset(e);
            }
            return;
        }
        self.changed.notify_waiters();
    }

    /// The peer granted more credit (its first grant also accepts the stream).
    pub fn on_credit(&self, bytes: u32) {
        let mut st = self.state();
        st.credit += u64::from(bytes);
        st.accepted = true;
        drop(st);
        self.changed.notify_waiters();
    }

    /// The peer finished its direction.
    pub fn on_end(&self) {
        self.state().eof = true;
        self.changed.notify_waiters();
        self.maybe_done();
    }

    /// The stream was reset by the peer or its transport.
    pub fn fail(&self, error: BusError) {
        {
            let mut st = self.state();
            if st.error.is_none() {
                st.error = Some(error);
            }
        }
        self.changed.notify_waiters();
        self.maybe_done();
    }

    fn maybe_done(&self) {
        let retire = {
            let mut st = self.state();
            let over = st.error.is_some() || (st.eof && st.finished && st.buf.is_empty());
            if over && !st.retired {
                st.retired = true;
                true
            } else {
                false
            }
        };
        if retire {
            if let Some(o) = self.outlet() {
                o.done();
            }
        }
    }

    /// Waits until the peer accepted the stream (or reset it).
    pub async fn accepted(&self) -> Result<(), BusError> {
        loop {
            let notified = self.changed.notified();
            {
                let st = self.state();
                if let Some(e) = &st.error {
                    return Err(e.clone());
                }
                if st.accepted {
                    return Ok(());
                }
            }
            notified.await;
        }
    }
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic mid-update of plain counters; they are still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn no_outlet() -> BusError {
    BusError::StreamReset {
        reason: "stream not connected".into(),
    }
}

/// The sending half of a stream.
#[derive(Debug)]
pub struct StreamWriter {
    shared: Arc<Shared>,
    finished: bool,
}

/// The receiving half of a stream.
#[derive(Debug)]
pub struct StreamReader {
    shared: Arc<Shared>,
    done: bool,
}

/// Both halves of one end.
pub fn halves(shared: Arc<Shared>) -> (StreamWriter, StreamReader) {
    (
        StreamWriter {
            shared: shared.clone(),
            finished: false,
        },
        StreamReader {
            shared,
            done: false,
        },
    )
}

impl StreamWriter {
    /// Sends `data`, in chunks of at most [`MAX_CHUNK`], each waiting for credit.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), BusError> {
        for chunk in data.chunks(MAX_CHUNK) {
            self.send_one(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Sends one chunk of at most [`MAX_CHUNK`] bytes (it arrives as one message).
    pub async fn send_chunk(&mut self, chunk: Vec<u8>) -> Result<(), BusError> {
        if chunk.len() > MAX_CHUNK {
            return self.send(&chunk).await;
        }
        self.send_one(chunk).await
    }

    async fn send_one(&mut self, chunk: Vec<u8>) -> Result<(), BusError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let need = chunk.len() as u64;
        loop {
            let notified = self.shared.changed.notified();
            {
                let mut st = self.shared.state();
                if let Some(e) = &st.error {
                    return Err(e.clone());
                }
                if st.credit >= need {
                    st.credit -= need;
                    break;
                }
            }
            notified.await;
        }
        let outlet = self.shared.outlet().ok_or_else(no_outlet)?;
        outlet.data(chunk).await
    }

    /// Ends this direction (the peer's reader sees the end); the other keeps flowing.
    pub async fn finish(mut self) -> Result<(), BusError> {
        self.finished = true;
        self.shared.state().finished = true;
        let r = match self.shared.outlet() {
            Some(o) => o.end().await,
            None => Err(no_outlet()),
        };
        self.shared.maybe_done();
        r
    }

    /// Cancels the whole stream with `reason` (the peer sees it as an error).
    pub fn cancel(mut self, reason: &str) {
        self.finished = true;
        reset(&self.shared, reason);
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if !self.finished {
            reset(&self.shared, "the writer went away");
        }
    }
}

fn reset(shared: &Shared, reason: &str) {
    if shared.state().error.is_some() {
        return;
    }
    let e = BusError::StreamReset {
        reason: reason.to_owned(),
    };
    if let Some(o) = shared.outlet() {
        o.reset(e.clone());
    }
    shared.fail(e);
}

impl StreamReader {
    /// The next chunk, `Ok(None)` once the peer finished, or why the stream broke.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, BusError> {
        loop {
            let notified = self.shared.changed.notified();
            let (chunk, grant) = {
                let mut st = self.shared.state();
                match st.buf.pop_front() {
                    Some(chunk) => {
                        st.buffered -= chunk.len();
                        st.ungranted += chunk.len() as u32;
                        // Credit goes back a quarter window at a time, not per chunk:
                        // a writer short of credit has over three quarters of the
                        // window in flight, buffered or ungranted here, so reading
                        // on grants it more.
                        let grant = if st.ungranted >= self.shared.window / 4 {
                            std::mem::take(&mut st.ungranted)
                        } else {
                            0
                        };
                        (Some(chunk), grant)
                    }
                    None => {
                        // The peer's finish counts even when a reset followed it (the
                        // peer dropped its reader after its last word).
                        if st.eof {
                            self.done = true;
                            drop(st);
                            self.shared.maybe_done();
                            return Ok(None);
                        }
                        if let Some(e) = &st.error {
                            self.done = true;
                            return Err(e.clone());
                        }
                        (None, 0)
                    }
                }
            };
            if let Some(chunk) = chunk {
                if grant > 0 {
                    if let Some(o) = self.shared.outlet() {
                        // A failed grant means the stream is gone; the next recv says so.
                        let _ = o.credit(grant).await;
                    }
                }
                return Ok(Some(chunk));
            }
            notified.await;
        }
    }

    /// Reads everything up to the end (at most `limit` bytes, or an error).
    pub async fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, BusError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.recv().await? {
            if all.len() + chunk.len() > limit {
                return Err(BusError::StreamReset {
                    reason: format!("more than {limit} bytes"),
                });
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        if !self.done {
            reset(&self.shared, "the reader went away");
        }
    }
}

/// Joins two ends in memory (both actors on one node).
struct Local {
    peer: Weak<Shared>,
}

impl Outlet for Local {
    fn data(&self, data: Vec<u8>) -> BoxFuture<Result<(), BusError>> {
        let r = match self.peer.upgrade() {
            Some(p) => {
                p.on_data(data);
                Ok(())
            }
            None => Err(gone()),
        };
        Box::pin(std::future::ready(r))
    }

    fn credit(&self, bytes: u32) -> BoxFuture<Result<(), BusError>> {
        if let Some(p) = self.peer.upgrade() {
            p.on_credit(bytes);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn end(&self) -> BoxFuture<Result<(), BusError>> {
        if let Some(p) = self.peer.upgrade() {
            p.on_end();
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn reset(&self, error: BusError) {
        if let Some(p) = self.peer.upgrade() {
            p.fail(error);
        }
    }
}

fn gone() -> BusError {
    BusError::StreamReset {
        reason: "the other end went away".into(),
    }
}

/// Two connected ends in memory, each with `window`: `(opener, acceptor)`.
pub fn local_pair(window: u32) -> (Arc<Shared>, Arc<Shared>) {
    let a = Shared::new(window, window.max(MIN_WINDOW));
    let b = Shared::new(window, window.max(MIN_WINDOW));
    a.set_outlet(Arc::new(Local {
        peer: Arc::downgrade(&b),
    }));
    b.set_outlet(Arc::new(Local {
        peer: Arc::downgrade(&a),
    }));
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn data_and_half_close_in_both_directions() {
        let (a, b) = local_pair(MIN_WINDOW);
        let (mut aw, mut ar) = halves(a);
        let (mut bw, mut br) = halves(b);
        aw.send(b"ping").await.expect("send");
        aw.finish().await.expect("finish");
        assert_eq!(br.recv().await.expect("recv"), Some(b"ping".to_vec()));
        assert_eq!(br.recv().await.expect("end"), None);
        // The other direction still flows after the first one ended.
        bw.send(b"pong").await.expect("send back");
        bw.finish().await.expect("finish back");
        assert_eq!(ar.recv().await.expect("recv"), Some(b"pong".to_vec()));
        assert_eq!(ar.recv().await.expect("end"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_holds_its_writer_to_the_window() {
        let (a, b) = local_pair(MIN_WINDOW);
        let (mut aw, _ar) = halves(a);
        let (_bw, mut br) = halves(b.clone());
        let chunk = vec![7u8; MAX_CHUNK];
        // A full window goes through without the reader...
        for _ in 0..(MIN_WINDOW as usize / MAX_CHUNK) {
            aw.send_chunk(chunk.clone()).await.expect("within window");
        }
        // ...and the next chunk waits for credit.
        let blocked =
            tokio::time::timeout(Duration::from_secs(5), aw.send_chunk(chunk.clone())).await;
        assert!(blocked.is_err(), "a writer must not pass the window");
        assert_eq!(b.state().buffered, MIN_WINDOW as usize);
        // Reading grants credit and releases it.
        br.recv().await.expect("recv");
        tokio::time::timeout(Duration::from_secs(5), aw.send_chunk(chunk))
            .await
            .expect("credit granted")
            .expect("send");
        assert!(b.state().buffered <= MIN_WINDOW as usize);
    }

    #[tokio::test]
    async fn dropping_a_half_cancels_the_other_end() {
        let (a, b) = local_pair(MIN_WINDOW);
        let (aw, ar) = halves(a);
        let (mut bw, mut br) = halves(b);
        drop(aw);
        let err = br.recv().await.expect_err("reset reaches the reader");
        assert!(matches!(err, BusError::StreamReset { .. }), "{err:?}");
        assert!(bw.send(b"x").await.is_err(), "and the writer");
        drop(ar);
    }

    #[tokio::test]
    async fn a_dropped_reader_cancels_the_writer() {
        let (a, b) = local_pair(MIN_WINDOW);
        let (mut aw, _ar) = halves(a);
        let (_bw, br) = halves(b);
        drop(br);
        assert!(aw.send(b"x").await.is_err());
    }

    #[tokio::test]
    async fn sending_past_the_window_resets() {
        let (a, _b) = local_pair(MIN_WINDOW);
        a.on_data(vec![0; MIN_WINDOW as usize]);
        a.on_data(vec![0; 1]);
        let (_w, mut r) = halves(a);
        // The buffered window is still readable; then the reset shows.
        assert!(r.recv().await.is_ok());
        assert!(r.recv().await.is_err());
    }
}
