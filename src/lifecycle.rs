//! Effective dating (CONTRACT §3, "Dates"): when, as an instant, an
//! employee's access to each app begins and ends.
//!
//! HR writes `start_date` / `end_date` as days ("2026-12-14"), meant in the
//! employee's own time zone, or as RFC 3339 instants for exactness. A day
//! starts at local midnight in the snapshot's `time_zone` (an IANA name;
//! else `lifecycle.default_time_zone`), so the same end date in Auckland and
//! Los Angeles ends access ~21 hours apart, as it does for the people. An
//! app's window opens `pre_start_ms` before the start and closes
//! `post_end_ms` after the end of the last day.
//!
//! Pure: `now` is always an argument. The engine decides with it
//! (`engine::decide`, a layer above) and keeps the next
//! [`Window::next_change`] of each employee as a durable timer; `rules
//! preview` and `schedule list` show the same windows ([`Calendar`]).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{AppConfig, Config};
use crate::events::{date, Fields, Key, Snapshot};

/// The employee's time zone: the snapshot's `time_zone` when it names one,
/// else `default` (the event parser has refused unknown names).
pub fn zone(snapshot: &Snapshot, default: Tz) -> Tz {
    zone_of(&Fields::of(snapshot), default)
}

fn zone_of(fields: &Fields<'_>, default: Tz) -> Tz {
    fields
        .text(Key::TIME_ZONE)
        .and_then(|name| name.parse().ok())
        .unwrap_or(default)
}

/// The first instant of `day` in `tz`: local midnight; the earlier one when
/// midnight happens twice, the end of the gap when a clock change skips it
/// (e.g. America/Santiago moves from 00:00 to 01:00 in September), the next
/// day's start when the whole day is skipped (Pacific/Apia, 2011-12-30).
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    let first = |local: NaiveDateTime| match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    };
    if let Some(t) = first(midnight) {
        return t;
    }
    // In a gap: find the first valid quarter hour, then the gap's end to the
    // second within it (old zones moved by odd amounts: Africa/Monrovia's
    // 1972 change skipped 44 min 30 s).
    let quarter = chrono::Duration::minutes(15);
    let Some((n, mut found)) = (1..=96).find_map(|n| Some((n, first(midnight + quarter * n)?)))
    else {
        // Unreachable with real zone data (no gap lasts more than a day);
        // midnight UTC is the reading of a plain date without a zone.
        return midnight.and_utc();
    };
    // The quarter hour before `n` is in the gap; offsets are whole seconds:
    // bisect its seconds.
    let gap = midnight + quarter * (n - 1);
    let (mut invalid, mut valid) = (0, 15 * 60);
    while valid - invalid > 1 {
        let mid = (invalid + valid) / 2;
        match first(gap + chrono::Duration::seconds(mid)) {
            Some(t) => (valid, found) = (mid, t),
            None => invalid = mid,
        }
    }
    found
}

/// A date as the employee lives it: a day starts at its local midnight.
fn start_instant(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    match date::parse_plain_date(text) {
        Some(day) => Some(start_of_day(day, tz)),
        None => date::parse(text),
    }
}

/// The end of a last day: the first instant of the next local day (an
/// instant is taken as it is).
fn end_instant(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    match date::parse_plain_date(text) {
        Some(day) => Some(start_of_day(day.checked_add_days(Days::new(1))?, tz)),
        None => date::parse(text),
    }
}

/// An employee's dates as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dates {
    /// The first instant of employment (`start_date`), if known.
    pub start: Option<DateTime<Utc>>,
    /// The first instant after employment (`end_date`'s day over), if known.
    pub end: Option<DateTime<Utc>>,
}

impl Dates {
    /// Reads `start_date` / `end_date` of a snapshot in its zone.
    pub fn of(snapshot: &Snapshot, default_zone: Tz) -> Dates {
        Dates::of_fields(&Fields::of(snapshot), default_zone)
    }

    /// [`Dates::of`] from fields already looked up.
    pub(crate) fn of_fields(fields: &Fields<'_>, default_zone: Tz) -> Dates {
        let tz = zone_of(fields, default_zone);
        Dates {
            start: fields
                .text(Key::START_DATE)
                .and_then(|t| start_instant(t, tz)),
            end: fields.text(Key::END_DATE).and_then(|t| end_instant(t, tz)),
        }
    }

    /// The window of one app, its offsets applied.
    pub fn window(&self, app: &AppConfig) -> Window {
        Window {
            from: self.start.map(|t| shift(t, app.pre_start, false)),
            until: self.end.map(|t| shift(t, app.post_end, true)),
        }
    }
}

/// `t` moved by `by` (later when `forward`); offsets are bounded by
/// [`crate::config::MAX_LIFECYCLE_OFFSET`], dates by the parser, so this
/// stays far inside chrono's range.
fn shift(t: DateTime<Utc>, by: Duration, forward: bool) -> DateTime<Utc> {
    if by.is_zero() {
        return t; // the usual offset: nothing to compute
    }
    let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    let moved = if forward {
        t.checked_add_signed(by)
    } else {
        t.checked_sub_signed(by)
    };
    moved.unwrap_or(t)
}

/// Where an employee stands for one app at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the window opens: the account is not made yet.
    Pending,
    /// Inside the window: the rules decide.
    Active,
    /// After the window: the account is taken away.
    Left,
}

/// One app's access window: `[from, until)`; an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// When access begins (`start` − `pre_start_ms`).
    pub from: Option<DateTime<Utc>>,
    /// When access ends (`end` + `post_end_ms`).
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether access never begins: the window closes before it opens (an
    /// end date before the start date).
    pub fn is_empty(&self) -> bool {
        matches!((self.from, self.until), (Some(f), Some(u)) if u <= f)
    }

    /// The phase at `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if self.until.is_some_and(|u| now >= u) {
            Phase::Left
        } else if self.from.is_some_and(|f| now < f) {
            Phase::Pending
        } else {
            Phase::Active
        }
    }

    /// The next instant after `now` at which the phase changes, if any. An
    /// edge that changes nothing is skipped: when `end_date` is before
    /// `start_date` the window is empty and its start is no change.
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [self.from, self.until]
            .into_iter()
            .flatten()
            .filter(|t| *t > now && self.phase(*t) != self.phase(now))
            .min()
    }
}

/// Which date a transition follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `start_date` (less the app's `pre_start_ms`).
    StartDate,
    /// `end_date` (plus the app's `post_end_ms`).
    EndDate,
}

impl Field {
    /// The snapshot field's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::StartDate => "start_date",
            Field::EndDate => "end_date",
        }
    }

    /// The date as HR wrote it in `snapshot` (empty when there is none).
    pub fn written_in(self, snapshot: &Snapshot) -> String {
        snapshot
            .get(self.as_str())
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// A change of one app's phase still to come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When it takes effect.
    pub at: DateTime<Utc>,
    /// The app.
    pub app: String,
    /// The phase from then on (`active`: provisioned; `left`: deprovisioned).
    pub phase: Phase,
    /// The date it follows.
    pub field: Field,
    /// That date as HR wrote it.
    pub date: String,
}

/// The transitions after `now` of the given apps' windows, soonest first.
/// A window that never opens (its end before its start) has none: the
/// engine's timer still fires at its edges, but no account changes.
pub fn upcoming<'a>(
    snapshot: &Snapshot,
    windows: impl IntoIterator<Item = (&'a str, Window)>,
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for (app, window) in windows {
        if window.is_empty() {
            continue; // never active: neither edge changes an account
        }
        let edges = [
            (window.from, Phase::Active, Field::StartDate),
            (window.until, Phase::Left, Field::EndDate),
        ];
        for (at, phase, field) in edges {
            if let Some(at) = at.filter(|t| *t > now) {
                out.push(Transition {
                    at,
                    app: app.to_string(),
                    phase,
                    field,
                    date: field.written_in(snapshot),
                });
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.app.cmp(&b.app)));
    out
}

impl Transition {
    /// What it does to the account: `provision` when the window opens,
    /// `deprovision` when it closes.
    pub fn change(&self) -> &'static str {
        match self.phase {
            Phase::Active => "provision",
            Phase::Pending | Phase::Left => "deprovision",
        }
    }
}

/// What dates are read against: the catalogue (each app's offsets), the
/// zone of snapshots that name none, and the instant taken as now. One
/// value for a whole listing, so every employee is seen at the same now.
#[derive(Debug, Clone, Copy)]
pub struct Calendar<'a> {
    /// The app catalogue.
    pub apps: &'a BTreeMap<String, AppConfig>,
    /// `lifecycle.default_time_zone`.
    pub zone: Tz,
    /// Transitions at or before it are past.
    pub now: DateTime<Utc>,
}

impl<'a> Calendar<'a> {
    /// The calendar of `config` at `now`.
    pub fn new(config: &'a Config, now: DateTime<Utc>) -> Calendar<'a> {
        Calendar {
            apps: &config.apps,
            zone: config.lifecycle.zone(),
            now,
        }
    }

    /// The transitions still to come of the `granted` apps of one employee
    /// ([`upcoming`]); names the catalogue lacks are skipped, as the engine
    /// skips them.
    pub fn pending<'g>(
        &self,
        snapshot: &Snapshot,
        granted: impl IntoIterator<Item = &'g str>,
    ) -> Vec<Transition> {
        let dates = Dates::of(snapshot, self.zone);
        let windows = granted
            .into_iter()
            .filter_map(|app| Some((app, dates.window(self.apps.get(app)?))));
        upcoming(snapshot, windows, self.now)
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
