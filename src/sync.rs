//! The one way this crate takes a `std::sync::Mutex`.
//!
//! Every mutex here guards plain bookkeeping — counters, sets, maps, a list of
//! changes, a remembered error — that each critical section leaves whole: no
//! section holds the lock across a step that would leave the data half
//! updated if it panicked. A panic under the lock therefore cannot leave the
//! data inconsistent, so poisoning is ignored instead of turning one panic
//! into a second one in every thread that reads it (a rebalance callback, the
//! `/readyz` handler, the lag monitor).
//!
//! A new mutex whose critical sections can leave invariants broken halfway
//! must not use [`lock`]; it should handle poisoning itself.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning (see the module documentation for why
/// that is sound for the data this crate keeps behind a mutex).
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_yields_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(vec![1, 2]));
        let poisoner = std::sync::Arc::clone(&mutex);
        let panicked = std::thread::spawn(move || {
            let mut guard = poisoner.lock().unwrap();
            guard.push(3);
            panic!("poison the mutex");
        })
        .join();
        assert!(panicked.is_err());
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), vec![1, 2, 3]);
        lock(&mutex).push(4);
        assert_eq!(lock(&mutex).len(), 4);
    }
}
