//! Deciding one batch on several threads.
//!
//! A batch's decisions are independent between employees: each reads its
//! own committed state and the rules, and writes its own new state and
//! commands. So records are parsed in chunks on `engine.decide_threads`
//! threads, then decided in groups split by employee id (all of one
//! employee's records in one group, in batch order), and the groups' units
//! are merged. The guard then looks at the whole batch, and the records are
//! serialised and sent to the transaction on the pool again, each
//! employee's commands from one thread. Same decisions, same order per employee, as
//! deciding it on one thread; the transaction is unchanged.
//!
//! The threads are a rayon pool that lives as long as the process, not
//! threads spawned per batch: with mimalloc, each short-lived thread left
//! its heap abandoned, and freeing a batch allocated there cost more than
//! deciding it (1M-event bench: 35.9 → 25.8 µs of CPU per event).

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::OnceLock;

use rayon::prelude::*;

use rdkafka::message::OwnedMessage;

use super::pending::{Context, Parsed, Pending};

/// The decide pool, sized by the first caller's thread count (one engine
/// per process: its `engine.decide_threads`). `None` if the OS refused the
/// threads; the work then runs on the caller's thread.
fn pool(threads: usize) -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("provisioner-decide-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Runs `f` on each part on the decide pool (of `threads` threads); the
/// results come back in the parts' order.
pub fn run_parts<P: Send, R: Send>(
    parts: Vec<P>,
    threads: usize,
    f: impl Fn(P) -> R + Sync,
) -> Vec<R> {
    let f = &f;
    match pool(threads) {
        Some(pool) => pool.install(|| parts.into_par_iter().map(f).collect()),
        None => parts.into_iter().map(f).collect(),
    }
}

/// Applies `f` to up to `threads` consecutive chunks of `items` at once,
/// concatenating the results in order. One thread (or few items) runs on
/// the caller's thread.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    per_chunk(items, threads, f).into_iter().flatten().collect()
}

/// Applies `f` to up to `threads` consecutive chunks of `items` at once:
/// one result per chunk, in order. One thread (or few items) runs on the
/// caller's thread.
pub fn per_chunk<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let parts = threads.clamp(1, items.len().max(1));
    if parts == 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(parts);
    run_parts(items.chunks(size).collect(), threads, f)
}

/// Decides a batch on up to `threads` threads: the same unit as adding each
/// record in turn to one [`Pending`].
pub fn decide(batch: &[OwnedMessage], ctx: &Context<'_>, threads: usize) -> Pending {
    // A few records are not worth a thread.
    let threads = if batch.len() < 2 * threads {
        1
    } else {
        threads
    };
    let parsed = map_chunks(batch, threads, |chunk| {
        chunk.iter().map(|r| Parsed::of(r, ctx.config)).collect()
    });
    if threads == 1 {
        return decide_group(batch.iter().zip(parsed).collect(), ctx);
    }
    // Invalid records (no employee to group by) go with the first group.
    // Sized for an even split plus slack, so no group grows (and moves its
    // records) while filling.
    let share = batch.len() / threads + batch.len() / (4 * threads) + 16;
    let mut groups: Vec<Vec<(&OwnedMessage, Parsed)>> =
        (0..threads).map(|_| Vec::with_capacity(share)).collect();
    for (record, parsed) in batch.iter().zip(parsed) {
        let group = match &parsed.result {
            Ok(event) => group_of(&event.employee_id, threads),
            Err(_) => 0,
        };
        groups[group].push((record, parsed));
    }
    let mut units = run_parts(groups, threads, |group| decide_group(group, ctx)).into_iter();
    let mut pending = units.next().unwrap_or_default();
    for unit in units {
        pending.absorb(unit);
    }
    pending
}

fn decide_group(group: Vec<(&OwnedMessage, Parsed)>, ctx: &Context<'_>) -> Pending {
    let mut pending = Pending::with_capacity(group.len());
    for (record, parsed) in group {
        pending.add_parsed(record, parsed, ctx);
    }
    pending
}

/// The group of an employee: a fixed hash of the id, so one employee's
/// records always meet in one group (when deciding, and when sending its
/// commands).
pub fn group_of(employee_id: &str, groups: usize) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(employee_id);
    (hash % groups as u64) as usize
}

/// Drops `a` and `b` at once on the decide pool (of `threads` threads);
/// with one thread, here.
pub fn drop_both<A: Send, B: Send>(a: A, b: B, threads: usize) {
    if threads < 2 {
        return drop((a, b));
    }
    match pool(threads) {
        Some(pool) => pool.install(|| rayon::join(move || drop(a), move || drop(b))),
        None => (drop(a), drop(b)),
    };
}
