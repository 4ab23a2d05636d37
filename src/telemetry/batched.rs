//! The server's log lines reach stdout from one writer thread, a batch per write: a request's `response` line
//! costs a copy into memory instead of a write system call of its own on the thread serving requests.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after a write: the most a line waits for stdout under load.
const GATHER: Duration = Duration::from_millis(1);
/// Lines beyond this wait for the writer (stdout is slower than the log): memory stays bounded.
const MAX_PENDING: usize = 4 << 20;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    /// The writer is waiting for lines and must be woken.
    idle: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Lines arrived (or the log closes).
    arrived: Condvar,
    /// The writer took a batch: room again, or everything so far is written.
    taken: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer the log layer uses; cloning shares it.
#[derive(Clone)]
pub struct BatchedStdout(Arc<Shared>);

/// Flushes what is pending and stops the writer when dropped: `main` holds it to its end.
pub struct Flush(Option<(Arc<Shared>, thread::JoinHandle<()>)>);

impl BatchedStdout {
    /// The writer and its flush guard; `None` when no thread could be started (then log to stdout directly).
    pub fn start() -> Option<(Self, Flush)> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let handle = thread::Builder::new()
            .name("keyward-log".into())
            .spawn(move || write_batches(&worker, &mut io::stdout()))
            .ok()?;
        Some((Self(shared.clone()), Flush(Some((shared, handle)))))
    }
}

fn write_batches(shared: &Shared, out: &mut impl Write) {
    let mut batch = Vec::new();
    loop {
        {
            let mut pending = shared.lock();
            while pending.lines.is_empty() && !pending.closed {
                pending.idle = true;
                pending = shared
                    .arrived
                    .wait(pending)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if pending.lines.is_empty() {
                shared.taken.notify_all();
                return;
            }
            std::mem::swap(&mut pending.lines, &mut batch);
            shared.taken.notify_all();
        }
        // Nothing to do with a failed write but go on: a log must not stop the server.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        thread::sleep(GATHER);
    }
}

impl Write for BatchedStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut pending = self.0.lock();
        while pending.lines.len() >= MAX_PENDING && !pending.closed {
            pending = self
                .0
                .taken
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        pending.lines.extend_from_slice(buf);
        if std::mem::take(&mut pending.idle) {
            self.0.arrived.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        if let Some((shared, handle)) = self.0.take() {
            shared.lock().closed = true;
            shared.arrived.notify_one();
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_written_once_in_order_before_the_flush_returns() {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let handle = thread::spawn(move || {
            let mut buf = Vec::new();
            write_batches(&worker, &mut buf);
            sink.lock().unwrap().extend(buf);
        });
        let mut writer = BatchedStdout(shared.clone());
        for i in 0..1000 {
            writer.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        drop(Flush(Some((shared, handle))));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
    }
}
