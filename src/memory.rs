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
}
