//! What a unit of work writes, and what becomes of it after the commit:
//! commands, dead letters, windows and states serialised and sent to the
//! open transaction from the decide pool (each thread one share of the
//! employees, in order), then the committed state bytes moved into the
//! store.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rdkafka::error::KafkaError;
use rdkafka::producer::BaseRecord;

use super::{Emitted, Pending};
use crate::config::Config;
use crate::engine::events::{CommandEmitted, Tally};
use crate::engine::parallel;
use crate::engine::state::EmployeeState;
use crate::engine::store::{self, Store};
use crate::engine::window::WINDOW_KEY;
use crate::engine::Output;
use crate::ids::EmployeeId;
use crate::kafka::Sink;
use crate::metrics::Action;

/// Below this many records a unit is sent from one thread.
const MIN_PARALLEL: usize = 64;

/// What the store takes once a unit's transaction commits: each touched
/// employee's state as written to the changelog, in the order of the
/// unit's states (the map is not changed between sending and committing:
/// [`Pending::produce`] borrows the unit, [`Pending::committed`] consumes
/// it).
#[derive(Debug, Default)]
pub struct Written {
    states: Vec<Box<[u8]>>,
}

/// One thread's share of a unit: the commands of the employees it was
/// given (in the unit's order), and a run of states.
pub(super) struct Share<'a> {
    /// Whether the dead letters and windows go with this share.
    pub first: bool,
    /// Commands, in the unit's order.
    pub commands: Vec<&'a Emitted>,
    /// States, in the unit's order.
    pub states: &'a [(&'a EmployeeId, &'a (i32, EmployeeState))],
}

impl Pending {
    /// A unit writing one dead letter and nothing else (a record whose
    /// outputs fail every transaction).
    pub fn dead_letter_only(output: Output) -> Pending {
        Pending {
            dead_letters: vec![output],
            ..Pending::default()
        }
    }

    /// Sends the records the transaction writes to `sink`: commands, dead
    /// letters, the guard's updated windows, and the new state of every
    /// touched employee (to its input partition). Serialised and sent on up
    /// to `threads` threads of the decide pool, each value written into the
    /// thread's one buffer, which the sink copies: no record is allocated.
    /// All of one employee's commands go from one thread, in order, so their
    /// order on the command topics is the decision's; with one thread the
    /// order is commands, dead letters, windows, states. The first error
    /// stops the thread that met it and is returned (the transaction is
    /// then aborted: what was sent is never visible).
    pub fn produce(
        &self,
        sink: &impl Sink,
        config: &Config,
        threads: usize,
    ) -> Result<Written, KafkaError> {
        let parts = if self.emitted.len() + self.states.len() < MIN_PARALLEL {
            1
        } else {
            threads.max(1)
        };
        let states: Vec<(&EmployeeId, &(i32, EmployeeState))> = self.states.iter().collect();
        let shares = self.shares(&states, parts);
        let sent = parallel::run_parts(shares, parts, |share| self.send_share(share, sink, config));
        let mut written = Written {
            states: Vec::with_capacity(self.states.len()),
        };
        for part in sent {
            written.states.extend(part?);
        }
        Ok(written)
    }

    /// The unit cut in `parts` shares: each employee's commands all in the
    /// share of its [`parallel::group_of`], in the unit's order; `states`
    /// (the unit's, in the map's order) in consecutive runs; the dead
    /// letters and windows with the first.
    pub(super) fn shares<'a>(
        &'a self,
        states: &'a [(&'a EmployeeId, &'a (i32, EmployeeState))],
        parts: usize,
    ) -> Vec<Share<'a>> {
        let parts = parts.max(1);
        let mut commands: Vec<Vec<&Emitted>> = (0..parts).map(|_| Vec::new()).collect();
        for e in &self.emitted {
            let part = if parts == 1 {
                0
            } else {
                parallel::group_of(&e.command.employee_id, parts)
            };
            commands[part].push(e);
        }
        let size = states.len().div_ceil(parts).max(1);
        let mut runs = states.chunks(size);
        commands
            .into_iter()
            .enumerate()
            .map(|(i, commands)| Share {
                first: i == 0,
                commands,
                states: runs.next().unwrap_or_default(),
            })
            .collect()
    }

    /// Sends one thread's share; the encoded states, in the share's order.
    /// Each topic is named to the sink once per share, on this thread.
    fn send_share<S: Sink>(
        &self,
        share: Share<'_>,
        sink: &S,
        config: &Config,
    ) -> Result<Vec<Box<[u8]>>, KafkaError> {
        let mut buf = Vec::with_capacity(4096);
        let mut topics: HashMap<&str, S::Topic<'_>> = HashMap::new();
        for e in share.commands {
            let c = &e.command;
            let topic = match topics.entry(c.app.as_str()) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(sink.topic(&config.topics.commands(&c.app))?),
            };
            buf.clear();
            // The bytes of `Command::to_json`. Plain data always serialises.
            let _ = serde_json::to_writer(&mut buf, c);
            sink.send_to(topic, None, c.employee_id.as_bytes(), &buf)?;
        }
        if share.first {
            for dead in &self.dead_letters {
                sink.send(dead.record())?;
            }
            for (&p, window) in &self.windows {
                let value = window.encode();
                sink.send(
                    BaseRecord::to(&config.topics.state)
                        .partition(p)
                        .key(WINDOW_KEY.as_bytes())
                        .payload(value.as_slice()),
                )?;
            }
        }
        // A state's bytes are kept for the store, so each is one allocation
        // at its exact size, encoded through the buffer (growing a fresh
        // vector per record costs more in the allocator than encoding).
        let mut states = Vec::with_capacity(share.states.len());
        if share.states.is_empty() {
            return Ok(states);
        }
        let topic = sink.topic(&config.topics.state)?;
        for (id, (partition, state)) in share.states {
            buf.clear();
            store::encode_into(&mut buf, state);
            let value: Box<[u8]> = buf.as_slice().into();
            sink.send_to(&topic, Some(*partition), id.as_bytes(), &value)?;
            states.push(value);
        }
        Ok(states)
    }

    /// After the commit: the store takes the new states; the returned
    /// [`Tally`] is what the unit counts, for its committed event.
    ///
    /// `written` is what [`Pending::produce`] sent for this unit, now
    /// committed: the store keeps those state values rather than encoding
    /// the states again. The batch is freed on up to `threads` threads.
    pub fn committed(self, written: Written, store: &mut Store, threads: usize) -> Tally {
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
        // `written` holds one value per state, in the map's order (see
        // `Written`); a unit sent by another path would not, and is encoded
        // again rather than trusted.
        if written.states.len() == self.states.len() {
            for ((id, (partition, _)), value) in self.states.iter().zip(written.states) {
                store.put_encoded(*partition, id, value);
            }
        } else {
            for (partition, state) in self.states.values() {
                store.put(*partition, state);
            }
        }
        // The batch's bulk — decoded states, commands — is freed on the
        // decide pool, where most of it was allocated: mimalloc frees
        // fastest on the allocating thread. (A thread of its own for freeing
        // cost more CPU than it saved; freeing on the engine's thread took a
        // fifth of the batch's time.)
        parallel::drop_both(self.states, (self.emitted, self.dead_letters), threads);
        tally
    }
}

/// A sink keeping what is sent, for tests: the records in the order they
/// arrived (threads interleave).
#[cfg(test)]
#[derive(Default)]
pub struct Recorder(std::sync::Mutex<Vec<Output>>);

#[cfg(test)]
impl Recorder {
    /// The records sent so far.
    pub fn take(&self) -> Vec<Output> {
        std::mem::take(&mut *crate::sync::lock(&self.0))
    }
}

#[cfg(test)]
impl Sink for Recorder {
    type Topic<'s> = String;

    fn topic(&self, topic: &str) -> Result<String, KafkaError> {
        Ok(topic.to_string())
    }

    fn send_to(
        &self,
        topic: &String,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        record.partition = partition;
        self.send(record)
    }

    fn send(&self, record: BaseRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        crate::sync::lock(&self.0).push(Output {
            topic: record.topic.into(),
            partition: record.partition,
            key: record.key.map(<[u8]>::to_vec),
            payload: record.payload.map(<[u8]>::to_vec),
            headers: record.headers,
        });
        Ok(())
    }
}

#[cfg(test)]
impl Written {
    /// How many state values were written.
    pub fn states(&self) -> usize {
        self.states.len()
    }
}

#[cfg(test)]
impl Pending {
    /// The records the transaction writes, sent from one thread, in order,
    /// and what the store takes after the commit.
    pub fn outputs(&self, config: &Config) -> (Vec<Output>, Written) {
        self.outputs_on(config, 1)
    }

    /// [`Pending::outputs`], sent from up to `threads` threads.
    pub fn outputs_on(&self, config: &Config, threads: usize) -> (Vec<Output>, Written) {
        let recorder = Recorder::default();
        let written = match self.produce(&recorder, config, threads) {
            Ok(written) => written,
            Err(e) => panic!("a recorder refuses nothing: {e}"),
        };
        (recorder.take(), written)
    }
}
