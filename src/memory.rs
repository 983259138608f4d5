//! What the process's memory costs over days: glibc malloc settings made at
//! start-up and a periodic trim, so that resident memory follows the live
//! heap instead of the largest transient peak since start.
//!
//! Measured (BENCHMARKS.md "Soak"): with glibc's defaults the live heap of
//! `serve` and of a dashboard polling PostgreSQL stayed flat (4-6 MiB in use)
//! while RSS grew in steps, each at a large transient load (a catch-up poll,
//! a reload): glibc's *dynamic* mmap threshold rises to the largest block
//! freed so far (up to 32 MiB), after which such blocks come from the heap
//! and their pages stay resident after `free`, as do the pages of many small
//! freed rows in the middle of an arena (only the top of a heap is returned).
//! So, on Linux with glibc:
//! - `M_MMAP_THRESHOLD` is fixed at [`MMAP_THRESHOLD`]: every block at least
//!   that large is mmap'd and unmapped on `free`, whatever was freed before;
//! - every [`TRIM_EVERY`] a thread calls `malloc_trim(0)`, which returns the
//!   free whole pages of every arena (not only the top) to the system.
//!
//! An operator who tunes glibc malloc in the environment (`MALLOC_*_`
//! variables or `glibc.malloc.*` in `GLIBC_TUNABLES`) gets exactly that:
//! jfmon then changes nothing ([`Tuning::Operator`]). Elsewhere (musl, other
//! systems) this is a no-op.

use std::time::Duration;

/// Blocks this large or larger are always mmap'd (glibc's initial value,
/// kept fixed instead of rising with every large `free`).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// How often free pages are handed back. A trim of a heap of tens of MiB
/// takes well under a millisecond; once a minute costs nothing measurable
/// when idle and bounds how long a transient peak stays resident.
pub const TRIM_EVERY: Duration = Duration::from_secs(60);

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tuning {
    /// Fixed mmap threshold set and the periodic trim started.
    Tuned,
    /// The environment tunes glibc malloc itself: left as given.
    Operator,
    /// Not glibc: nothing to do.
    Unsupported,
}

/// Whether the environment already tunes glibc malloc: a `MALLOC_…_`
/// variable (glibc's own spelling ends with `_`, e.g. `MALLOC_ARENA_MAX`
/// is read as is) or a `glibc.malloc.` tunable in `GLIBC_TUNABLES`.
pub fn operator_tunes<K, V>(env: impl IntoIterator<Item = (K, V)>) -> bool
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    env.into_iter().any(|(k, v)| {
        let k = k.as_ref();
        (k.starts_with("MALLOC_") && k != "MALLOC_CHECK_" && k != "MALLOC_PERTURB_")
            || (k == "GLIBC_TUNABLES" && v.as_ref().contains("glibc.malloc."))
    })
}

/// Set the allocator up for a long-running process and start the trim
/// thread. Call once, first thing in `main`.
pub fn tune() -> Tuning {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    if operator_tunes(env) {
        return Tuning::Operator;
    }
    tune_glibc()
}

/// glibc's own account of the heap, in bytes (`mallinfo2`, summed over
/// every arena, mmap'd blocks included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes in live allocations: what the program holds. A leak shows here.
    pub in_use: u64,
    /// Bytes the allocator holds from the system: live allocations plus
    /// free chunks not handed back. Retention shows as `held - in_use`.
    pub held: u64,
}

/// The heap now, or `None` where the allocator is not glibc's. Walks every
/// arena under its lock: microseconds for a heap of tens of MiB, meant for a
/// scrape, not a hot loop.
pub fn heap() -> Option<Heap> {
    heap_glibc()
}

/// Resident memory of this process in bytes (`/proc/self/statm`), or `None`
/// where that file does not exist.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

#[cfg(unix)]
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(4096)
}

#[cfg(not(unix))]
fn page_size() -> u64 {
    4096
}

/// Hand every free page of every arena back to the system now. Returns
/// whether glibc released anything.
pub fn trim() -> bool {
    trim_glibc()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_glibc() -> Tuning {
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes allocator parameters; it is called before
    // any other thread of ours exists.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) } == 1;
    if !ok {
        return Tuning::Unsupported;
    }
    let spawned = std::thread::Builder::new()
        .name("jfmon-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_EVERY);
                trim_glibc();
            }
        });
    if spawned.is_err() {
        return Tuning::Unsupported;
    }
    Tuning::Tuned
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_glibc() -> bool {
    // SAFETY: malloc_trim takes the arena locks itself; safe from any thread.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_glibc() -> Option<Heap> {
    // SAFETY: mallinfo2 takes each arena's lock while it sums; callable from
    // any thread.
    let m = unsafe { libc::mallinfo2() };
    let mmapped = m.hblkhd as u64;
    Some(Heap {
        in_use: m.uordblks as u64 + mmapped,
        held: m.arena as u64 + mmapped,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_glibc() -> Option<Heap> {
    None
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_glibc() -> Tuning {
    Tuning::Unsupported
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_glibc() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::operator_tunes;

    #[test]
    fn the_operators_own_malloc_settings_are_recognised() {
        assert!(!operator_tunes([("PATH", "/bin"), ("HOME", "/root")]));
        assert!(operator_tunes([("MALLOC_ARENA_MAX", "1")]));
        assert!(operator_tunes([("MALLOC_MMAP_THRESHOLD_", "131072")]));
        assert!(operator_tunes([(
            "GLIBC_TUNABLES",
            "glibc.rtld.x=1:glibc.malloc.trim_threshold=0"
        )]));
        assert!(!operator_tunes([("GLIBC_TUNABLES", "glibc.rtld.nns=2")]));
        // Debugging aids, not tuning.
        assert!(!operator_tunes([
            ("MALLOC_CHECK_", "3"),
            ("MALLOC_PERTURB_", "9")
        ]));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_live_allocation_shows_in_the_heap_in_use() {
        let before = super::heap().expect("glibc");
        let block = vec![7u8; 32 << 20];
        let during = super::heap().expect("glibc");
        // Margins of 16 MiB: other tests allocate on other threads meanwhile.
        assert!(
            during.in_use >= before.in_use + (16 << 20),
            "{before:?} {during:?}"
        );
        assert!(during.held >= during.in_use);
        drop(std::hint::black_box(block));
        let after = super::heap().expect("glibc");
        assert!(
            after.in_use + (16 << 20) < during.in_use,
            "{during:?} {after:?}"
        );
        assert!(super::resident_bytes().expect("linux") > 0);
    }
}
