//! What a unit of work writes, and what becomes of it after the commit:
//! commands and states serialised as records (on several threads for a
//! large batch), then the committed state bytes moved into the store.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Emitted, Pending};
use crate::config::Config;
use crate::engine::events::{CommandEmitted, Tally};
use crate::engine::parallel;
use crate::engine::state::EmployeeState;
use crate::engine::store::{self, Store};
use crate::engine::window::WINDOW_KEY;
use crate::engine::Output;
use crate::ids::EmployeeId;
use crate::metrics::Action;

impl Pending {
    /// The records the transaction writes: commands, dead letters, the
    /// guard's updated windows, and the new state of every touched employee
    /// (to its input partition), last and in the order
    /// [`Pending::committed`] expects them.
    #[cfg(test)]
    pub fn outputs(&self, config: &Config) -> Vec<Output> {
        self.outputs_on(config, 1)
    }

    /// [`Pending::outputs`], serialised on up to `threads` threads; the
    /// order is the same.
    pub fn outputs_on(&self, config: &Config, threads: usize) -> Vec<Output> {
        let mut outputs = Vec::with_capacity(self.emitted.len() + self.states.len());
        outputs.extend(parallel::map_chunks(&self.emitted, threads, |chunk| {
            command_outputs(chunk, config)
        }));
        outputs.extend(self.dead_letters.iter().map(Output::clone_record));
        outputs.extend(self.windows.iter().map(|(&p, window)| Output {
            topic: config.topics.state.as_str().into(),
            partition: Some(p),
            key: Some(WINDOW_KEY.as_bytes().to_vec()),
            payload: Some(window.encode()),
            headers: None,
        }));
        let states: Vec<(&EmployeeId, &(i32, EmployeeState))> = self.states.iter().collect();
        outputs.extend(parallel::map_chunks(&states, threads, |chunk| {
            state_outputs(chunk, config)
        }));
        outputs
    }

    /// After the commit: the store takes the new states; the returned
    /// [`Tally`] is what the unit counts, for its committed event.
    ///
    /// `outputs` are this unit's [`Pending::outputs`], now committed: the
    /// store keeps their state values rather than encoding the states again.
    /// The batch is freed on up to `threads` threads.
    pub fn committed(self, outputs: Vec<Output>, store: &mut Store, threads: usize) -> Tally {
        // Counted per app and action, not per command: a labelled series is
        // a lookup.
        let mut emitted: HashMap<(&str, Action), u64> = HashMap::new();
        for e in &self.emitted {
            CommandEmitted(&e.command).emit();
            *emitted
                .entry((&e.command.app, e.command.action.into()))
                .or_insert(0) += 1;
        }
        let tally = Tally {
            consumed: self.consumed,
            stale: self.stale,
            rejected: self.rejected,
            emitted: emitted
                .into_iter()
                .map(|((app, action), n)| (app.to_string(), action, n))
                .collect(),
        };
        for (p, window) in self.windows {
            store.put_window(p, window);
        }
        // `outputs` ends with the state values, in the map's order (which
        // a map keeps while unchanged); a mismatch would be a bug, so it
        // falls back to encoding rather than trusting the bytes.
        let mut outputs = outputs;
        let first = outputs.len().saturating_sub(self.states.len());
        let mut values = outputs.split_off(first).into_iter();
        for (id, (partition, state)) in &self.states {
            match values.next() {
                Some(Output {
                    key: Some(key),
                    payload: Some(value),
                    partition: Some(p),
                    ..
                }) if key == id.as_bytes() && p == *partition => {
                    store.put_encoded(*partition, id, value.into_boxed_slice());
                }
                _ => store.put(*partition, state),
            }
        }
        // The batch's bulk — decoded states, commands, their records — is
        // freed on the decide pool, where most of it was allocated: mimalloc
        // frees fastest on the allocating thread. (A thread of its own for
        // freeing cost more CPU than it saved; freeing on the engine's
        // thread took a fifth of the batch's time.)
        parallel::drop_both(self.states, (self.emitted, outputs), threads);
        tally
    }
}

/// Commands as records. Each value is written into one reused buffer and
/// copied out at its exact size: growing a fresh vector per record to 1 KB
/// costs more in the allocator than the serialisation itself.
fn command_outputs(emitted: &[Emitted], config: &Config) -> Vec<Output> {
    let mut topics: HashMap<&str, Arc<str>> = HashMap::new();
    let mut buf = Vec::with_capacity(4096);
    let mut outputs = Vec::with_capacity(emitted.len());
    for e in emitted {
        let topic = topics
            .entry(&e.command.app)
            .or_insert_with(|| config.topics.commands(&e.command.app).into());
        buf.clear();
        // The bytes of `Command::to_json`. Plain data always serialises.
        let _ = serde_json::to_writer(&mut buf, &e.command);
        outputs.push(Output {
            topic: topic.clone(),
            partition: None,
            key: Some(e.command.employee_id.as_bytes().to_vec()),
            payload: Some(buf.as_slice().to_vec()),
            headers: None,
        });
    }
    outputs
}

/// New states as changelog records, to their input partitions.
fn state_outputs(states: &[(&EmployeeId, &(i32, EmployeeState))], config: &Config) -> Vec<Output> {
    let topic: Arc<str> = config.topics.state.as_str().into();
    let mut buf = Vec::with_capacity(4096);
    let mut outputs = Vec::with_capacity(states.len());
    for (id, (partition, state)) in states {
        buf.clear();
        store::encode_into(&mut buf, state);
        outputs.push(Output {
            topic: topic.clone(),
            partition: Some(*partition),
            key: Some(id.as_bytes().to_vec()),
            payload: Some(buf.as_slice().to_vec()),
            headers: None,
        });
    }
    outputs
}
