//! Deciding one batch on several threads.
//!
//! A batch's decisions are independent between employees: each reads its
//! own committed state and the rules, and writes its own new state and
//! commands. So records are parsed in chunks on `engine.decide_threads`
//! threads, then decided in groups split by employee id (all of one
//! employee's records in one group, in batch order), and the groups' units
//! are merged. The guard then looks at the whole batch, and the records are
//! serialised in chunks again. Same decisions, same order per employee, as
//! deciding it on one thread; the transaction is unchanged.
//!
//! Scoped threads, spawned per batch: a batch takes tens of milliseconds,
//! a thread tens of microseconds, and nothing outlives the batch.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;

use rdkafka::message::OwnedMessage;

use super::pending::{Context, Parsed, Pending};

/// Runs `f` on each part, the first on the caller's thread and the others
/// on threads of their own; the results come back in the parts' order.
fn run_parts<P: Send, R: Send>(parts: Vec<P>, f: impl Fn(P) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let mut parts = parts.into_iter();
        let first = parts.next();
        let handles: Vec<_> = parts.map(|part| scope.spawn(move || f(part))).collect();
        let mut out: Vec<R> = first.map(f).into_iter().collect();
        for handle in handles {
            match handle.join() {
                Ok(r) => out.push(r),
                // A panic in `f` is a bug; carry it to the caller's thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Applies `f` to up to `threads` consecutive chunks of `items` at once,
/// concatenating the results in order. One thread (or few items) runs on
/// the caller's thread.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return f(items);
    }
    let size = items.len().div_ceil(threads);
    run_parts(items.chunks(size).collect(), f)
        .into_iter()
        .flatten()
        .collect()
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
    let mut groups: Vec<Vec<(&OwnedMessage, Parsed)>> = (0..threads).map(|_| Vec::new()).collect();
    for (record, parsed) in batch.iter().zip(parsed) {
        let group = match &parsed.result {
            Ok(event) => group_of(&event.employee_id, threads),
            Err(_) => 0,
        };
        groups[group].push((record, parsed));
    }
    let mut units = run_parts(groups, |group| decide_group(group, ctx)).into_iter();
    let mut pending = units.next().unwrap_or_default();
    for unit in units {
        pending.absorb(unit);
    }
    pending
}

fn decide_group(group: Vec<(&OwnedMessage, Parsed)>, ctx: &Context<'_>) -> Pending {
    let mut pending = Pending::default();
    for (record, parsed) in group {
        let _span = super::run::event_span(record).entered();
        pending.add_parsed(record, parsed, ctx);
    }
    pending
}

/// The group of an employee: a fixed hash of the id, so one employee's
/// records always meet in one group.
fn group_of(employee_id: &str, groups: usize) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(employee_id);
    (hash % groups as u64) as usize
}

/// Something to free.
type Garbage = Box<dyn Send>;

/// Frees `value` on a background thread. At most one value waits its turn;
/// when freeing falls behind, rather than letting
/// garbage pile up in memory, the caller waits for the freeing thread.
pub fn drop_later<T: Send + 'static>(value: T) {
    static FREER: OnceLock<Option<SyncSender<Garbage>>> = OnceLock::new();
    let sender = FREER.get_or_init(|| {
        let (tx, rx) = sync_channel::<Garbage>(1);
        std::thread::Builder::new()
            .name("provisioner-free".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = sender {
        // A send fails only if the thread is gone; the value is then
        // dropped here, with the error.
        let _ = tx.send(Box::new(value));
    }
}
