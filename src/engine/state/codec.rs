//! The changelog format of an [`EmployeeState`]: compact, versioned bytes.
//!
//! The engine holds every owned employee's state in memory and writes it to
//! the `provisioning.state` changelog on each change; at a million employees
//! the encoding decides both the memory footprint and the restore time. JSON
//! spelled every key and every account out (~2 KB a state); this format
//! keeps only what cannot be derived:
//!
//! - the employee id is the record key, so it is not repeated (and the
//!   snapshot's `id`, nearly always equal to it, is a one-byte marker);
//! - an app's account is omitted when it equals [`EmployeeState::account`],
//!   the account derived from the snapshot (the usual case);
//! - the rules version is kept as the first 8 bytes of its SHA-256: enough to
//!   tell whether the state was reconciled under the rules in force;
//! - snapshot keys of CONTRACT §3 are one byte, other keys are spelled out.
//!
//! The same bytes live in the store's memory, so a restore copies values
//! instead of parsing them. The first byte is the format version
//! ([`VERSION`]); a value starting with `{` is the JSON of the first
//! releases, still read (see [`decode_any`]), so a changelog written by an
//! older engine restores and is rewritten employee by employee. A future
//! format takes the next version byte and reads this one.
//!
//! Layout (integers are LEB128 varints, signed ones zigzag):
//!
//! ```text
//! version u8 | flags u8 | [last_sequence i] | [last_time secs i, nanos u]
//! | [due secs i, nanos u] | [ended secs i, nanos u] | rules version: 8 bytes, or string | apps: count u, then per app
//! name str, generation u, kind u8, [role str], [account]
//! | [held: JSON bytes str] | snapshot: object value
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::wire::{bad, put_bytes, put_int, put_object, put_str, put_uint, Reader};
use super::{AppState, Desired, EmployeeState, Held};
use crate::commands::Account;
use crate::ids::{AppName, EmployeeId, RoleName, RulesVersion};

pub use super::wire::DecodeError;

/// The format version this build writes (first byte of every value).
/// Version 2 added the timer (`due`) and `ended`; version 1 is still read.
pub const VERSION: u8 = 2;

/// The first binary format, read but no longer written.
const VERSION_1: u8 = 1;

const EMPLOYED: u8 = 1;
const SEQUENCE: u8 = 2;
const TIME: u8 = 4;
const SHORT_VERSION: u8 = 8;
const HELD: u8 = 16;
const DUE: u8 = 32;
const ENDED: u8 = 64;

const ACTIVE: u8 = 1;
const OWN_ACCOUNT: u8 = 2;

const PREFIX: &str = "sha256:";
/// Bytes of the rules version's hash kept per employee.
const SHORT: usize = 8;

/// Encodes a state (its employee id is the record key, not part of the value).
pub fn encode(state: &EmployeeState) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    encode_into(&mut out, state);
    out
}

/// Appends the encoding of a state to `out`.
pub fn encode_into(out: &mut Vec<u8>, state: &EmployeeState) {
    let mut flags = 0;
    if state.employed {
        flags |= EMPLOYED;
    }
    if state.last_sequence.is_some() {
        flags |= SEQUENCE;
    }
    if state.last_time.is_some() {
        flags |= TIME;
    }
    let short = short_version(&state.rules_version);
    if short.is_some() {
        flags |= SHORT_VERSION;
    }
    if !state.held.is_empty() {
        flags |= HELD;
    }
    if state.due.is_some() {
        flags |= DUE;
    }
    if state.ended.is_some() {
        flags |= ENDED;
    }
    out.extend([VERSION, flags]);
    if let Some(seq) = state.last_sequence {
        put_int(out, seq);
    }
    for time in [state.last_time, state.due, state.ended]
        .into_iter()
        .flatten()
    {
        put_int(out, time.timestamp());
        put_uint(out, u64::from(time.timestamp_subsec_nanos()));
    }
    match short {
        Some(bytes) => out.extend(bytes),
        None => put_str(out, &state.rules_version),
    }
    put_uint(out, state.apps.len() as u64);
    let derived = Derived::of(state);
    for (app, app_state) in &state.apps {
        put_str(out, app);
        put_uint(out, app_state.generation);
        let (role, account) = match &app_state.desired {
            Desired::Active { role, account } => (Some(role), account),
            Desired::Deprovisioned { account } => (None, account),
        };
        let own = !derived.matches(account);
        let kind = if role.is_some() { ACTIVE } else { 0 } | if own { OWN_ACCOUNT } else { 0 };
        out.push(kind);
        if let Some(role) = role {
            put_str(out, role);
        }
        if own {
            put_account(out, account);
        }
    }
    if !state.held.is_empty() {
        // Held deprovisions are rare and carry whole commands: JSON will do.
        // Plain data with string keys always serialises.
        let json = serde_json::to_vec(&state.held).unwrap_or_default();
        put_bytes(out, &json);
    }
    put_object(out, &state.snapshot, &state.employee_id);
}

/// What [`EmployeeState::account`] derives from a snapshot, borrowed: looked
/// up once per state, then compared with each app's account.
struct Derived<'a> {
    employee_id: &'a str,
    email: Option<&'a str>,
    given: Option<&'a str>,
    family: Option<&'a str>,
}

impl<'a> Derived<'a> {
    fn of(state: &'a EmployeeState) -> Derived<'a> {
        let text = |field: &str| {
            state
                .snapshot
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        Derived {
            employee_id: &state.employee_id,
            email: text("email"),
            given: text("first_name"),
            family: text("last_name"),
        }
    }

    /// Whether `account` is the derived one, field by field without
    /// building it.
    fn matches(&self, account: &Account) -> bool {
        let (given, family) = (self.given, self.family);
        let display_ok = match (given, family, account.display_name.as_deref()) {
            (Some(g), Some(f), Some(d)) => {
                d.len() == g.len() + 1 + f.len()
                    && d.starts_with(g)
                    && d.ends_with(f)
                    && d.as_bytes()[g.len()] == b' '
            }
            (Some(n), None, Some(d)) | (None, Some(n), Some(d)) => n == d,
            (None, None, None) => true,
            _ => false,
        };
        display_ok
            && account.external_id == self.employee_id
            && account.user_name == self.email.unwrap_or(self.employee_id)
            && account.email.as_deref() == self.email
            && account.given_name.as_deref() == given
            && account.family_name.as_deref() == family
    }
}

/// Whether `account` is what [`EmployeeState::account`] derives.
#[cfg(test)]
fn is_derived(state: &EmployeeState, account: &Account) -> bool {
    Derived::of(state).matches(account)
}

/// Decodes a value written by [`encode`] for the employee `employee_id`.
///
/// `rules_version` is the version in force (`None` where none matters, as
/// for counting): a state reconciled under it gets it back in full; any other
/// gets a `sha256:<16 hex>` stand-in that equals no real version, so it is
/// re-evaluated.
pub fn decode(
    employee_id: &str,
    bytes: &[u8],
    rules_version: Option<&RulesVersion>,
) -> Result<EmployeeState, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let (version, flags) = read_head(&mut r)?;
    let last_sequence = (flags & SEQUENCE != 0).then(|| r.int()).transpose()?;
    let last_time = (flags & TIME != 0).then(|| read_time(&mut r)).transpose()?;
    let due = (flags & DUE != 0).then(|| read_time(&mut r)).transpose()?;
    let mut ended = (flags & ENDED != 0)
        .then(|| read_time(&mut r))
        .transpose()?;
    let rules_version = read_rules_version(&mut r, flags, rules_version)?;
    let raw_apps = read_apps(&mut r)?;
    let held: BTreeMap<AppName, Held> = if flags & HELD != 0 {
        serde_json::from_slice(r.bytes()?).map_err(|e| DecodeError(e.to_string()))?
    } else {
        BTreeMap::new()
    };
    let snapshot = match r.value(employee_id, 0)? {
        Value::Object(map) => map,
        _ => return Err(bad("snapshot is not an object")),
    };
    if r.pos != bytes.len() {
        return Err(bad("trailing bytes"));
    }
    let employed = flags & EMPLOYED != 0;
    if version == VERSION_1 && !employed {
        ended = Some(ENDED_BEFORE_DATES);
    }
    let mut state = EmployeeState {
        employee_id: EmployeeId::from(employee_id),
        snapshot: Arc::new(snapshot),
        employed,
        last_sequence,
        last_time,
        apps: BTreeMap::new(),
        rules_version,
        held,
        ended,
        due,
    };
    attach_apps(&mut state, raw_apps)?;
    Ok(state)
}

/// `ended` of a leaver written before effective dating: such a `left` took
/// effect at once, so its end date (perhaps still ahead) must not bring the
/// accounts back. The epoch says "before dates were read".
pub const ENDED_BEFORE_DATES: DateTime<Utc> = DateTime::<Utc>::UNIX_EPOCH;

/// The format version and the flags; flags a version does not know are
/// refused (they would shift every field after them).
fn read_head(r: &mut Reader<'_>) -> Result<(u8, u8), DecodeError> {
    let version = r.u8()?;
    let known = match version {
        VERSION_1 => EMPLOYED | SEQUENCE | TIME | SHORT_VERSION | HELD,
        VERSION => EMPLOYED | SEQUENCE | TIME | SHORT_VERSION | HELD | DUE | ENDED,
        _ => return Err(bad("unknown format version")),
    };
    let flags = r.u8()?;
    if flags & !known != 0 {
        return Err(bad("unknown flags"));
    }
    Ok((version, flags))
}

/// A timestamp: seconds, then nanoseconds.
fn read_time(r: &mut Reader<'_>) -> Result<DateTime<Utc>, DecodeError> {
    let secs = r.int()?;
    let nanos = u32::try_from(r.uint()?).map_err(|_| bad("nanoseconds"))?;
    DateTime::<Utc>::from_timestamp(secs, nanos).ok_or_else(|| bad("time"))
}

/// The rules version: in full, or its short form, which is given back in
/// full only when it is the `current` version's.
fn read_rules_version(
    r: &mut Reader<'_>,
    flags: u8,
    current: Option<&RulesVersion>,
) -> Result<RulesVersion, DecodeError> {
    if flags & SHORT_VERSION == 0 {
        return Ok(RulesVersion::from(r.str()?));
    }
    let short = r.take(SHORT)?;
    Ok(match current {
        Some(version) if short_version(version).is_some_and(|v| v == short) => version.clone(),
        _ => RulesVersion::from(format!("{PREFIX}{}", hex::encode(short))),
    })
}

/// One app as written: name, generation, role when active, and the account
/// when it is not the one the employee's snapshot derives.
type RawApp<'a> = (&'a str, u64, Option<&'a str>, Option<Account>);

/// The apps, not yet attached to the state (their accounts may derive from it).
fn read_apps<'a>(r: &mut Reader<'a>) -> Result<Vec<RawApp<'a>>, DecodeError> {
    let app_count = r.uint()?;
    let mut raw_apps = Vec::with_capacity(app_count.min(64) as usize);
    for _ in 0..app_count {
        let name = r.str()?;
        let generation = r.uint()?;
        let kind = r.u8()?;
        let role = (kind & ACTIVE != 0).then(|| r.str()).transpose()?;
        let account = (kind & OWN_ACCOUNT != 0)
            .then(|| read_account(r))
            .transpose()?;
        raw_apps.push((name, generation, role, account));
    }
    Ok(raw_apps)
}

/// Puts the apps into `state`, those without their own account sharing the
/// one derived from the snapshot.
fn attach_apps(state: &mut EmployeeState, raw_apps: Vec<RawApp<'_>>) -> Result<(), DecodeError> {
    let derived = (!raw_apps.is_empty()).then(|| state.account());
    for (name, generation, role, account) in raw_apps {
        let account = match (account, &derived) {
            (Some(account), _) => Arc::new(account),
            (None, Some(derived)) => derived.clone(),
            // `derived` is computed whenever there is an app.
            (None, None) => return Err(bad("account")),
        };
        let desired = match role {
            Some(role) => Desired::Active {
                role: RoleName::from(role),
                account,
            },
            None => Desired::Deprovisioned { account },
        };
        state.apps.insert(
            AppName::from(name),
            AppState {
                generation,
                desired,
            },
        );
    }
    Ok(())
}

/// Decodes a value of this format or the JSON of the first releases.
pub fn decode_any(
    employee_id: &str,
    bytes: &[u8],
    rules_version: Option<&RulesVersion>,
) -> Result<EmployeeState, DecodeError> {
    if bytes.first() == Some(&b'{') {
        let mut state: EmployeeState =
            serde_json::from_slice(bytes).map_err(|e| DecodeError(e.to_string()))?;
        state.employee_id = EmployeeId::from(employee_id);
        if !state.employed && state.ended.is_none() {
            state.ended = Some(ENDED_BEFORE_DATES);
        }
        return Ok(state);
    }
    decode(employee_id, bytes, rules_version)
}

/// What the store counts of a state, read without decoding it: its apps
/// with an active account, whether it holds deprovisions, and whether it was
/// reconciled under `rules_version` (never, for `None`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary<'a> {
    /// Apps whose desired state is active.
    pub active: Vec<&'a str>,
    /// Whether deprovisions are held (decode to see which).
    pub held: bool,
    /// Whether the state was reconciled under the given rules version.
    pub current: bool,
    /// The employee's timer, if one is set.
    pub due: Option<DateTime<Utc>>,
}

/// Reads the [`Summary`] of an encoded state.
pub fn summary<'a>(
    bytes: &'a [u8],
    rules_version: Option<&RulesVersion>,
) -> Result<Summary<'a>, DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let (_, flags) = read_head(&mut r)?;
    if flags & SEQUENCE != 0 {
        r.int()?;
    }
    if flags & TIME != 0 {
        read_time(&mut r)?;
    }
    let due = (flags & DUE != 0).then(|| read_time(&mut r)).transpose()?;
    if flags & ENDED != 0 {
        read_time(&mut r)?;
    }
    let current = if flags & SHORT_VERSION != 0 {
        let short = r.take(SHORT)?;
        rules_version
            .and_then(|v| short_version(v))
            .is_some_and(|v| v == short)
    } else {
        let stored = r.str()?;
        rules_version.is_some_and(|v| v == stored)
    };
    let mut active = Vec::new();
    for _ in 0..r.uint()? {
        let name = r.str()?;
        r.uint()?;
        let kind = r.u8()?;
        if kind & ACTIVE != 0 {
            r.str()?;
            active.push(name);
        }
        if kind & OWN_ACCOUNT != 0 {
            read_account(&mut r)?;
        }
    }
    Ok(Summary {
        active,
        held: flags & HELD != 0,
        current,
        due,
    })
}

/// The first [`SHORT`] bytes of a `sha256:<hex>` version.
fn short_version(version: &str) -> Option<[u8; SHORT]> {
    let hex = version.strip_prefix(PREFIX)?;
    let mut out = [0; SHORT];
    hex::decode_to_slice(hex.get(..SHORT * 2)?, &mut out).ok()?;
    Some(out)
}

fn put_account(out: &mut Vec<u8>, a: &Account) {
    put_str(out, &a.external_id);
    put_str(out, &a.user_name);
    let fields = [&a.email, &a.given_name, &a.family_name, &a.display_name];
    let mut present = 0u8;
    for (i, f) in fields.iter().enumerate() {
        if f.is_some() {
            present |= 1 << i;
        }
    }
    out.push(present);
    for f in fields.into_iter().flatten() {
        put_str(out, f);
    }
}

fn read_account(r: &mut Reader<'_>) -> Result<Account, DecodeError> {
    let external_id = r.str()?.to_string();
    let user_name = r.str()?.to_string();
    let present = r.u8()?;
    let mut field = |i: u8| -> Result<Option<String>, DecodeError> {
        Ok(if present & (1 << i) != 0 {
            Some(r.str()?.to_string())
        } else {
            None
        })
    };
    Ok(Account {
        external_id,
        user_name,
        email: field(0)?,
        given_name: field(1)?,
        family_name: field(2)?,
        display_name: field(3)?,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
