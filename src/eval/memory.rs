//! Measured memory of a running evaluation, and the guard that stops one that uses too much.
//!
//! An estimate made before training (see [`train::memory_estimate_mb`](super::train::memory_estimate_mb))
//! catches networks that are obviously too large, but not a backend that keeps more than it
//! should (a leak, a workspace the estimate does not know about). So evaluations are also
//! *measured* while they run:
//!
//! - [`CountingAlloc`], installed as the global allocator of the `evonas` binary, charges every
//!   heap allocation made on a thread to that thread's [`Meter`] account. An evaluation runs on
//!   a thread pool of its own (see [`train::guarded`](super::train::guarded)) whose threads all
//!   charge one account, so the account's live bytes are exactly what the evaluation holds,
//!   whatever runs beside it in the same process.
//! - The evaluation polls [`check`] at every step and every network node; once its peak has
//!   crossed its limit it stops with [`OutOfMemory`], which is recorded as a failed evaluation
//!   ("out of memory: used N MB, limit M MB") while the campaign goes on. The overshoot is at
//!   most one node's allocation, and the pre-training estimate already refuses anything whose
//!   single layers are absurd.
//!
//! Accounting is per thread, not per allocation: memory freed on a thread other than the one
//! that allocated it is credited to the freeing thread's account. Evaluations allocate and free
//! their tensors on their own pools, so this only blurs allocations that cross the boundary
//! (the few bytes of a returned report).
//!
//! Limits per evaluation are not enough when several run at once, or when the limit is more
//! than the machine has: evaluations are also *admitted* against a process-wide budget, 85% of
//! the memory the system reports available when the first one starts (`EVONAS_MEMORY_MB`
//! overrides it). [`Meter::admit`] reserves an evaluation's limit and waits while the reserved
//! total would pass the budget, so at most `budget / max_memory_mb` evaluations run at once
//! (results do not depend on how many run at once). An evaluation whose limit alone is more
//! than the budget runs by itself, capped at the budget, and its failure says so. Together
//! with the limit itself this keeps the kernel's OOM killer away from the campaign.
//!
//! A program that does not install [`CountingAlloc`] (a library user's) still runs: [`active`]
//! says no measurement is made, and only the estimate applies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

/// Accounts that can be metered at once; further evaluations run unmetered (estimate only).
const SLOTS: usize = 256;

struct Account {
    in_use: AtomicBool,
    live: AtomicIsize,
    peak: AtomicIsize,
    limit: AtomicUsize,
    /// The limit the evaluation asked for, MB, when the budget capped it lower (else 0).
    asked_mb: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Account = Account {
    in_use: AtomicBool::new(false),
    live: AtomicIsize::new(0),
    peak: AtomicIsize::new(0),
    limit: AtomicUsize::new(usize::MAX),
    asked_mb: AtomicU64::new(0),
};

static ACCOUNTS: [Account; SLOTS] = [EMPTY; SLOTS];
static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The account this thread charges: slot + 1, or 0 for none. A `const` initialiser and a
    /// type without destructor, so reading it never allocates (the allocator reads it).
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

fn current() -> Option<&'static Account> {
    let slot = CURRENT.try_with(Cell::get).unwrap_or(0);
    slot.checked_sub(1).map(|s| &ACCOUNTS[s])
}

/// A global allocator that charges each allocation to the current thread's [`Meter`]
/// account, then defers to the system allocator.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOC: evonas::eval::memory::CountingAlloc = evonas::eval::memory::CountingAlloc;
/// ```
pub struct CountingAlloc;

impl CountingAlloc {
    #[inline]
    fn charge(size: usize) {
        if let Some(a) = current() {
            let live = a.live.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
            a.peak.fetch_max(live, Ordering::Relaxed);
        }
    }

    #[inline]
    fn credit(size: usize) {
        if let Some(a) = current() {
            a.live.fetch_sub(size as isize, Ordering::Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping around it only
// touches atomics and a const-initialised thread-local, and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A load first: a store on every allocation would bounce the cache line between cores.
        if !ACTIVE.load(Ordering::Relaxed) {
            ACTIVE.store(true, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::charge(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::charge(layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every path above forwards).
        unsafe { System.dealloc(ptr, layout) };
        Self::credit(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; `ptr` and `layout` come from an earlier allocation.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::credit(layout.size());
            Self::charge(new_size);
        }
        p
    }
}

/// Whether allocations are being measured (the running program installed [`CountingAlloc`]).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Bytes in a MB, as the limits count them.
const MB: usize = 1 << 20;

/// An evaluation stopped for using more memory than its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("out of memory: used {used_mb} MB, limit {limit_mb} MB ({})", why(*.asked_mb))]
pub struct OutOfMemory {
    /// Peak measured use, MB.
    pub used_mb: u64,
    /// The limit, MB.
    pub limit_mb: u64,
    /// When the limit was the machine's budget: the higher `max_memory_mb` asked for.
    pub asked_mb: Option<u64>,
}

fn why(asked_mb: Option<u64>) -> String {
    match asked_mb {
        None => "[evaluator] max_memory_mb".into(),
        Some(asked) => format!(
            "all this machine has for evaluations; [evaluator] max_memory_mb is {asked}, \
             EVONAS_MEMORY_MB sets the budget"
        ),
    }
}

/// The process-wide budget evaluations are admitted against.
struct Budget {
    total_mb: u64,
    reserved_mb: Mutex<u64>,
    freed: Condvar,
}

fn budget() -> &'static Budget {
    static BUDGET: OnceLock<Budget> = OnceLock::new();
    BUDGET.get_or_init(|| {
        let set = std::env::var("EVONAS_MEMORY_MB").ok();
        let parsed = set
            .as_deref()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&v| v > 0);
        if let (Some(v), None) = (&set, parsed) {
            tracing::warn!(
                "EVONAS_MEMORY_MB={v:?} is not a positive number of MB; using 85% of the available memory"
            );
        }
        let total_mb = parsed
            .or_else(|| available_mb().map(|a| a / 100 * 85))
            .unwrap_or(u64::MAX);
        Budget {
            total_mb,
            reserved_mb: Mutex::new(0),
            freed: Condvar::new(),
        }
    })
}

/// The memory evaluations may hold at once, MB (see the module documentation).
pub fn budget_mb() -> u64 {
    budget().total_mb
}

/// Memory the system reports available (`MemAvailable` in `/proc/meminfo`), MB.
pub fn available_mb() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// One evaluation's memory account: threads [enter](MeterHandle::enter) it, allocations on them are
/// charged to it, and [`check`] compares its peak with its limit. Released on drop.
#[derive(Debug)]
pub struct Meter {
    slot: Option<usize>,
    limit_mb: u64,
    /// MB reserved from the budget, given back on drop.
    reserved_mb: u64,
}

impl Meter {
    /// An account for an evaluation limited to `limit_mb` MB, admitted against the process
    /// budget: waits while the evaluations already admitted leave too little of it; capped at
    /// the budget when the limit alone is more. Unmetered (and not waiting) when allocations are
    /// not measured or every account is in use.
    pub fn admit(limit_mb: u64) -> Self {
        if !active() {
            return Meter {
                slot: None,
                limit_mb,
                reserved_mb: 0,
            };
        }
        let b = budget();
        let granted = limit_mb.min(b.total_mb);
        let mut reserved = b.reserved_mb.lock().unwrap_or_else(PoisonError::into_inner);
        // A lone evaluation always runs; others wait for room.
        while *reserved > 0 && reserved.saturating_add(granted) > b.total_mb {
            reserved = b
                .freed
                .wait(reserved)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *reserved += granted;
        drop(reserved);
        let mut m = Self::unlimited_with(granted);
        m.reserved_mb = granted;
        if let Some(s) = m.slot {
            let asked = if granted < limit_mb { limit_mb } else { 0 };
            ACCOUNTS[s].asked_mb.store(asked, Ordering::Relaxed);
        }
        m
    }

    /// An account that measures without limit or admission (benchmarks, tools).
    pub fn unlimited() -> Self {
        Self::unlimited_with(u64::MAX)
    }

    fn unlimited_with(limit_mb: u64) -> Self {
        let slot = active()
            .then(|| {
                ACCOUNTS.iter().position(|a| {
                    a.in_use
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                })
            })
            .flatten();
        if let Some(s) = slot {
            let a = &ACCOUNTS[s];
            a.live.store(0, Ordering::Relaxed);
            a.peak.store(0, Ordering::Relaxed);
            let bytes = usize::try_from(limit_mb)
                .ok()
                .and_then(|m| m.checked_mul(MB))
                .unwrap_or(usize::MAX);
            a.limit.store(bytes, Ordering::Relaxed);
            a.asked_mb.store(0, Ordering::Relaxed);
        }
        Meter {
            slot,
            limit_mb,
            reserved_mb: 0,
        }
    }

    /// Whether allocations are charged to this meter.
    pub fn is_metered(&self) -> bool {
        self.slot.is_some()
    }

    /// A handle that makes threads charge this meter (thread-pool start handlers need a
    /// `'static` value). Valid while the meter lives.
    pub fn handle(&self) -> MeterHandle {
        MeterHandle(self.slot.map_or(0, |s| s + 1))
    }

    /// Peak bytes held so far.
    pub fn peak_bytes(&self) -> u64 {
        self.slot.map_or(0, |s| {
            u64::try_from(ACCOUNTS[s].peak.load(Ordering::Relaxed)).unwrap_or(0)
        })
    }

    /// Peak so far in MB (rounded up).
    pub fn peak_mb(&self) -> u64 {
        self.peak_bytes().div_ceil(MB as u64)
    }

    /// The limit in MB (the budget, when that is lower than the limit asked for).
    pub fn limit_mb(&self) -> u64 {
        self.limit_mb
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            let a = &ACCOUNTS[s];
            a.limit.store(usize::MAX, Ordering::Relaxed);
            a.in_use.store(false, Ordering::Release);
        }
        if self.reserved_mb > 0 {
            let b = budget();
            let mut reserved = b.reserved_mb.lock().unwrap_or_else(PoisonError::into_inner);
            *reserved = reserved.saturating_sub(self.reserved_mb);
            b.freed.notify_all();
        }
    }
}

/// Names a [`Meter`] to charge; see [`Meter::handle`].
#[derive(Clone, Copy, Debug)]
pub struct MeterHandle(usize);

impl MeterHandle {
    /// Makes the calling thread charge the meter until [`leave`].
    pub fn enter(self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

/// Stops charging any meter on the calling thread.
pub fn leave() {
    let _ = CURRENT.try_with(|c| c.set(0));
}

/// `Err` once the calling thread's meter has held more than its limit. Cheap: two loads.
#[inline]
pub fn check() -> Result<(), OutOfMemory> {
    let Some(a) = current() else { return Ok(()) };
    let limit = a.limit.load(Ordering::Relaxed);
    let peak = usize::try_from(a.peak.load(Ordering::Relaxed)).unwrap_or(0);
    if peak <= limit {
        return Ok(());
    }
    let asked = a.asked_mb.load(Ordering::Relaxed);
    Err(OutOfMemory {
        used_mb: (peak as u64).div_ceil(MB as u64),
        limit_mb: (limit / MB) as u64,
        asked_mb: (asked > 0).then_some(asked),
    })
}

/// Peak resident memory of this process so far, in MB (`getrusage`), where the platform
/// reports it.
pub fn peak_rss_mb() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` writes a `rusage` into the pointer it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: initialised by the successful call above.
        let usage = unsafe { usage.assume_init() };
        // Linux reports kilobytes (macOS bytes).
        let kb = if cfg!(target_os = "macos") {
            usage.ru_maxrss / 1024
        } else {
            usage.ru_maxrss
        };
        u64::try_from(kb).ok().map(|kb| kb.div_ceil(1024))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
