//! Giving memory back to the system once a burst is over.
//!
//! consentry runs on the system allocator. After a burst (10,000 connections that
//! come and go), glibc's malloc keeps the 200 MiB they freed in its free lists for
//! good: it returns on its own only what sits at the top of a heap. `malloc_trim`
//! hands every free page back. [`spawn_trimmer`] starts a thread that looks once a
//! [`PERIOD`] at how much resident memory the allocator holds free (the resident set
//! less what is allocated) and trims when that grew, since the last trim, by more than
//! the working room of a steady load ([`Policy::room`]), [`LOOKS`] looks in a row.
//! Under a steady load the allocator reuses what it frees at once; giving those pages
//! back would only cost page faults when they are used again (bench/README.md,
//! "Memory after a burst": no trim in a minute of steady load).
//!
//! jemalloc, used before, gave the pages back too but never its own metadata for the
//! extents a peak needed: 3.4 MiB for good after 10,000 connections (bench/README.md,
//! "Memory after a burst").
//!
//! The only `unsafe` of the crate: four libc calls that take and return plain values.

#![allow(unsafe_code)]

use std::time::Duration;

/// How often the trimmer looks.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The least free resident memory the allocator may hold above what it held after
/// the last trim before it is made to give it back.
pub const SLACK: usize = 1024 * 1024;

/// Consecutive looks over the room before a trim: a burst is over, not under way.
pub const LOOKS: u32 = 2;

/// What the allocator holds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The process's resident set.
    pub resident: usize,
    /// Handed out by malloc and not yet freed.
    pub allocated: usize,
}

impl Held {
    /// Resident but not allocated: free memory the allocator keeps (plus what the
    /// process holds outside malloc, code and stacks, which does not move).
    pub fn kept_free(self) -> usize {
        self.resident.saturating_sub(self.allocated)
    }
}

/// Decides when to trim from successive looks; no I/O, so it is tested alone.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Free memory kept right after the last trim (or at start).
    floor: usize,
    /// Looks in a row over the floor by more than the room.
    over: u32,
}

impl Policy {
    pub fn new(first: Held) -> Policy {
        Policy {
            floor: first.kept_free(),
            over: 0,
        }
    }

    /// Free memory a load with this much allocated frees and takes again between two
    /// looks: half of it, at least [`SLACK`]. Measured: 64 connections fetching
    /// 40 KB pages hold 12 MiB and free and reuse 1.5 to 2.5 MiB; 500 connections
    /// hold 40 MiB and free and reuse 3 to 4 MiB.
    pub fn room(allocated: usize) -> usize {
        (allocated / 2).max(SLACK)
    }

    /// Whether to trim after this look.
    pub fn look(&mut self, held: Held) -> bool {
        let kept = held.kept_free();
        // Free memory fell (reused, or returned by malloc itself): a lower floor.
        if kept < self.floor {
            self.floor = kept;
        }
        if kept > self.floor + Policy::room(held.allocated) {
            self.over += 1;
        } else {
            self.over = 0;
        }
        self.over >= LOOKS
    }

    /// After a trim: what the allocator then keeps is the new floor, so that memory
    /// it cannot give back (a free page between live ones) does not cause a trim at
    /// every look.
    pub fn trimmed(&mut self, after: Held) {
        self.floor = after.kept_free();
        self.over = 0;
    }
}

/// Starts the trimmer thread, where the allocator is glibc's; elsewhere nothing.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let Some(page) = glibc::page_size() else {
            return;
        };
        let Some(first) = glibc::held(page) else {
            return;
        };
        // Only once the trimmer can run: it takes over this job.
        glibc::leave_trimming_to_the_trimmer();
        let spawned = std::thread::Builder::new()
            .name("consentry-trim".into())
            .spawn(move || {
                let mut policy = Policy::new(first);
                loop {
                    std::thread::sleep(PERIOD);
                    let Some(held) = glibc::held(page) else {
                        return;
                    };
                    if policy.look(held) {
                        glibc::trim();
                        if let Some(after) = glibc::held(page) {
                            tracing::debug!(
                                before_bytes = held.resident,
                                after_bytes = after.resident,
                                "freed memory returned to the system"
                            );
                            policy.trimmed(after);
                        }
                    }
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "no memory trimmer thread: freed memory stays with the process");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::Held;

    /// The system's page size, the unit of `/proc/self/statm`.
    pub fn page_size() -> Option<usize> {
        // SAFETY: sysconf reads a constant of the system; no pointer is involved.
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()
    }

    /// The resident set (from `/proc/self/statm`) and malloc's allocated bytes.
    pub fn held(page: usize) -> Option<Held> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let resident_pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: mallinfo2 takes nothing and returns a struct by value (glibc 2.33
        // and later; Debian 12 has 2.36).
        let info = unsafe { libc::mallinfo2() };
        Some(Held {
            resident: resident_pages.saturating_mul(page),
            // In use from the heaps, plus blocks malloc mapped on their own.
            allocated: info.uordblks.saturating_add(info.hblkhd),
        })
    }

    /// glibc gives back on its own the free top of a heap past 128 KiB
    /// (`M_TRIM_THRESHOLD`): under load that is the room the next requests take
    /// again, and each page of it comes back as a page fault (3,400 a second at
    /// 13,000 pages a second). The trimmer gives memory back instead, once a load
    /// is over.
    pub fn leave_trimming_to_the_trimmer() {
        // SAFETY: mallopt sets one of malloc's parameters; no pointer is involved.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }

    /// Gives every free page of every malloc arena back to the system.
    pub fn trim() {
        // SAFETY: malloc_trim takes a size and only releases memory malloc owns and
        // no one uses; it is safe to call from any thread at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    fn held(resident_mib: usize, allocated_mib: usize) -> Held {
        Held {
            resident: resident_mib * MIB,
            allocated: allocated_mib * MIB,
        }
    }

    #[test]
    fn a_burst_that_ended_is_trimmed_after_two_looks() {
        let mut policy = Policy::new(held(16, 10));
        // The burst: much allocated, little kept free.
        assert!(!policy.look(held(200, 190)));
        // Over: 190 MiB freed and kept.
        assert!(!policy.look(held(200, 10)));
        assert!(policy.look(held(200, 10)));
        policy.trimmed(held(16, 10));
        assert!(!policy.look(held(16, 10)));
    }

    #[test]
    fn memory_reused_under_steady_load_is_left_alone() {
        let mut policy = Policy::new(held(14, 4));
        for round in 0..100 {
            // 12 MiB allocated, and up to 3 MiB freed and reused between looks.
            let resident = if round % 2 == 0 { 25 } else { 28 };
            assert!(!policy.look(held(resident, 12)));
        }
    }

    #[test]
    fn the_room_is_half_what_is_allocated_and_at_least_the_slack() {
        assert_eq!(Policy::room(0), SLACK);
        assert_eq!(Policy::room(40 * MIB), 20 * MIB);
    }

    #[test]
    fn one_look_over_the_slack_is_not_enough() {
        let mut policy = Policy::new(held(16, 10));
        assert!(!policy.look(held(40, 10)));
        assert!(!policy.look(held(16, 10)));
        assert!(!policy.look(held(40, 10)));
    }

    #[test]
    fn memory_that_cannot_be_given_back_does_not_cause_a_trim_at_every_look() {
        let mut policy = Policy::new(held(16, 10));
        assert!(!policy.look(held(30, 10)));
        assert!(policy.look(held(30, 10)));
        // The trim could give back only part: 8 MiB stay between live pages.
        policy.trimmed(held(22, 10));
        for _ in 0..10 {
            assert!(!policy.look(held(22, 10)));
        }
    }

    #[test]
    fn a_lower_level_becomes_the_floor() {
        let mut policy = Policy::new(held(30, 1));
        assert!(!policy.look(held(16, 1)));
        // 1.5 MiB over the new floor (the room is the slack here), twice.
        let up = Held {
            resident: 16 * MIB + 3 * MIB / 2,
            allocated: MIB,
        };
        assert!(!policy.look(up));
        assert!(policy.look(up));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn this_process_s_memory_can_be_read() {
        let held = glibc::held(glibc::page_size().expect("a page size"))
            .expect("statm and mallinfo2 are readable");
        assert!(held.resident > 0);
        assert!(held.allocated > 0);
    }
}
