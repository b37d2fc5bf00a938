//! Running code on hostile input within a time limit and a memory budget.
//!
//! Templates come from files we do not control (a GGUF's chat template, a user's prompt
//! folder). minijinja's fuel bounds their instructions, but one instruction can loop for minutes
//! and a handful can double a string until it fills memory (`{% set s = s ~ s %}` 40 times asks
//! for a terabyte, and the allocation failure aborts the process). So such work runs on a thread
//! of its own, and the global allocator charges that thread's allocations against a budget: a
//! thread that goes over stops where it is (its memory stays at the budget) and the caller gets
//! an error at once. A thread over time is left to finish in the background, as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The system allocator, with a per-thread budget for threads started by [`run`].
pub struct Budgeted;

thread_local! {
    /// Bytes this thread may still allocate (`usize::MAX`: no budget, every other thread).
    static LEFT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Set when this thread goes over its budget (points into an `Arc` the thread keeps).
    static OVER: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
}

fn charge(bytes: usize) {
    // `try_with`: a thread being torn down has no thread-locals left; it has no budget either.
    let over = LEFT
        .try_with(|left| {
            let l = left.get();
            if l == usize::MAX {
                return false;
            }
            left.set(l.saturating_sub(bytes));
            bytes > l
        })
        .unwrap_or(false);
    if over {
        stall();
    }
}

fn refund(bytes: usize) {
    let _ = LEFT.try_with(|left| {
        let l = left.get();
        if l != usize::MAX {
            left.set(l.saturating_add(bytes).min(usize::MAX - 1));
        }
    });
}

/// Stops the current thread for good, telling its caller. Nothing here allocates.
fn stall() -> ! {
    let flag = OVER.try_with(Cell::get).unwrap_or(std::ptr::null());
    if !flag.is_null() {
        // SAFETY: the pointer comes from an `Arc` that this thread's closure owns, and the
        // thread never returns from here, so the `Arc` is still alive.
        unsafe { (*flag).store(true, Ordering::SeqCst) };
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the budget only decides
// whether the calling thread may go on.
unsafe impl GlobalAlloc for Budgeted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refund(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            refund(layout.size() - new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
}

/// Why bounded work gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overrun {
    Time(Duration),
    Memory(usize),
    /// The thread could not start, or ended without a result (a panic).
    Failed(String),
}

impl std::fmt::Display for Overrun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Overrun::Time(d) => write!(f, "did not finish in {} s", d.as_secs()),
            Overrun::Memory(b) => write!(f, "needed more than {} MiB", b >> 20),
            Overrun::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// Runs [`run`] unless work under the same `key` went over its memory budget before: that work
/// is refused at once. A thread over its budget stays stopped (with up to its budget of
/// memory), so the same hostile input (a model's chat template) must not start another.
pub fn run_keyed<T: Send + 'static>(
    key: u64,
    name: &str,
    time: Duration,
    bytes: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Overrun> {
    static REFUSED: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
    let refused = || REFUSED.lock().unwrap_or_else(|e| e.into_inner());
    if refused().contains(&key) {
        return Err(Overrun::Memory(bytes));
    }
    let result = run(name, time, bytes, work);
    if matches!(result, Err(Overrun::Memory(_))) {
        refused().push(key);
    }
    result
}

/// Runs `work` on its own thread with at most `bytes` of allocations and `time` of wall time.
pub fn run<T: Send + 'static>(
    name: &str,
    time: Duration,
    bytes: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Overrun> {
    let (tx, rx) = std::sync::mpsc::channel();
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            OVER.with(|o| o.set(Arc::as_ptr(&flag)));
            LEFT.with(|l| l.set(bytes));
            let result = work();
            // The result goes to the caller's thread: its memory is no longer this one's.
            LEFT.with(|l| l.set(usize::MAX));
            let _ = tx.send(result);
            drop(flag);
        })
        .map_err(|e| Overrun::Failed(format!("cannot start a thread: {e}")))?;
    let deadline = Instant::now() + time;
    loop {
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(result) => return Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Overrun::Failed("the work ended without a result".into()))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if over.load(Ordering::SeqCst) {
            return Err(Overrun::Memory(bytes));
        }
        if Instant::now() >= deadline {
            return Err(Overrun::Time(time));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_within_its_budget_returns_its_result() {
        let r = run("t", Duration::from_secs(30), 1 << 20, || vec![7u8; 1000].len());
        assert_eq!(r, Ok(1000));
    }

    #[test]
    fn work_over_its_budget_is_stopped_with_an_error() {
        // Doubling a string: a few steps go past 1 MiB; without the budget it would go on to
        // ask for 2^40 bytes.
        let r = run("t", Duration::from_secs(30), 1 << 20, || {
            let mut s = String::from("x");
            for _ in 0..40 {
                s = format!("{s}{s}");
            }
            s.len()
        });
        assert_eq!(r, Err(Overrun::Memory(1 << 20)));
    }

    #[test]
    fn keyed_work_over_its_budget_is_not_started_again() {
        let doubling = || {
            let mut s = String::from("x");
            for _ in 0..40 {
                s = format!("{s}{s}");
            }
            s.len()
        };
        let limit = Duration::from_secs(30);
        assert_eq!(run_keyed(7, "t", limit, 1 << 20, doubling), Err(Overrun::Memory(1 << 20)));
        // Refused without running: this closure would succeed.
        assert_eq!(run_keyed(7, "t", limit, 1 << 20, || 1), Err(Overrun::Memory(1 << 20)));
        assert_eq!(run_keyed(8, "t", limit, 1 << 20, || 1), Ok(1));
    }

    #[test]
    fn other_threads_have_no_budget() {
        let _ = run("t", Duration::from_secs(30), 1024, || ());
        assert_eq!(vec![0u8; 4 << 20].len(), 4 << 20);
    }
}
