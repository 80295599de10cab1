//! The date semantics (CONTRACT §3, "Dates"): examples on both sides of the
//! date line, across clock changes, dates against instants, per-app offsets;
//! properties of a window's phases.

use super::*;
use crate::config::Config;
use chrono_tz::{America, Europe, Pacific};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    date::parse_plain_date(s).unwrap()
}

fn snapshot(v: Value) -> Snapshot {
    let Value::Object(map) = v else { panic!() };
    map
}

/// The end of `end_date` in `zone` (default UTC).
fn end_of(end_date: &str, zone: &str) -> DateTime<Utc> {
    let s = snapshot(json!({"end_date": end_date, "time_zone": zone}));
    Dates::of(&s, chrono_tz::UTC).end.unwrap()
}

/// Two apps: `plain` without offsets, `early` made 3 days before the start
/// and kept 2 hours after the end.
fn apps() -> BTreeMap<String, AppConfig> {
    Config::parse(
        Path::new("t.toml"),
        r#"
[apps.plain]
connector = "scim"
base_url = "http://x"
roles = ["member"]
[apps.early]
connector = "scim"
base_url = "http://x"
roles = ["member"]
pre_start_ms = 259200000
post_end_ms = 7200000
"#,
    )
    .unwrap()
    .apps
}

const HOUR: i64 = 3600;

#[test]
fn the_same_end_date_ends_21_hours_apart_across_the_date_line() {
    let auckland = end_of("2026-12-14", "Pacific/Auckland");
    let los_angeles = end_of("2026-12-14", "America/Los_Angeles");
    // Midnight starting 15 December, local: NZDT (+13) and PST (−8).
    assert_eq!(auckland, t("2026-12-14T11:00:00Z"));
    assert_eq!(los_angeles, t("2026-12-15T08:00:00Z"));
    assert_eq!((los_angeles - auckland).num_seconds(), 21 * HOUR);
}

#[test]
fn clock_changes_make_days_of_23_and_25_hours() {
    for (date, start, end, hours) in [
        // Spring forward (02:00 -> 03:00): the day ends at CEST midnight.
        (
            "2026-03-29",
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z",
            23,
        ),
        // Fall back (03:00 -> 02:00): it started at CEST midnight.
        (
            "2026-10-25",
            "2026-10-24T22:00:00Z",
            "2026-10-25T23:00:00Z",
            25,
        ),
    ] {
        assert_eq!(start_of_day(day(date), Europe::Madrid), t(start), "{date}");
        assert_eq!(end_of(date, "Europe/Madrid"), t(end), "{date}");
        assert_eq!((t(end) - t(start)).num_seconds(), hours * HOUR, "{date}");
    }
}

#[test]
fn a_skipped_midnight_starts_the_day_when_the_gap_ends() {
    // America/Santiago, 6 September 2026: 00:00 (−04) becomes 01:00 (−03).
    let start = start_of_day(day("2026-09-06"), America::Santiago);
    assert_eq!(start, t("2026-09-06T04:00:00Z"));
    assert_eq!(end_of("2026-09-05", "America/Santiago"), start);
    // Africa/Monrovia, 7 January 1972: −00:44:30 became UTC at midnight;
    // the day began at 00:44:30, to the second (not the next quarter hour).
    assert_eq!(
        start_of_day(day("1972-01-07"), chrono_tz::Africa::Monrovia),
        t("1972-01-07T00:44:30Z")
    );
    // Pacific/Apia skipped 30 December 2011 entirely: it "starts" when
    // 31 December does, and 29 December ends then too.
    let skipped = start_of_day(day("2011-12-30"), Pacific::Apia);
    assert_eq!(skipped, t("2011-12-30T10:00:00Z"));
    assert_eq!(skipped, start_of_day(day("2011-12-31"), Pacific::Apia));
    assert_eq!(end_of("2011-12-29", "Pacific/Apia"), skipped);
}

#[test]
fn a_repeated_midnight_starts_the_day_at_its_first_occurrence() {
    // America/Havana, 1 November 2026: 01:00 CDT falls back to 00:00 CST,
    // so midnight comes at 04:00Z and again at 05:00Z.
    assert_eq!(
        start_of_day(day("2026-11-01"), America::Havana),
        t("2026-11-01T04:00:00Z")
    );
    // Atlantic/Azores, 25 October 2026: 01:00 (+00) falls back to 00:00 (−01).
    assert_eq!(
        start_of_day(day("2026-10-25"), chrono_tz::Atlantic::Azores),
        t("2026-10-25T00:00:00Z")
    );
}

#[test]
fn an_instant_is_taken_as_it_is_whatever_the_zone() {
    let s = snapshot(json!({
        "start_date": "2026-12-01T09:00:00+01:00",
        "end_date": "2026-12-14T17:00:00Z",
        "time_zone": "Pacific/Auckland",
    }));
    let dates = Dates::of(&s, Europe::Madrid);
    assert_eq!(dates.start, Some(t("2026-12-01T08:00:00Z")));
    assert_eq!(dates.end, Some(t("2026-12-14T17:00:00Z")));
}

#[test]
fn the_default_zone_reads_a_snapshot_without_one() {
    let dates = |tz: Value| {
        let s = snapshot(json!({"start_date": "2026-12-01", "end_date": "2026-12-14",
                                "time_zone": tz}));
        (zone(&s, Europe::Madrid), Dates::of(&s, Europe::Madrid))
    };
    let madrid = Dates {
        start: Some(t("2026-11-30T23:00:00Z")),
        end: Some(t("2026-12-14T23:00:00Z")),
    };
    assert_eq!(dates(Value::Null), (Europe::Madrid, madrid));
    let mut absent = snapshot(json!({"start_date": "2026-12-01", "end_date": "2026-12-14"}));
    assert_eq!(Dates::of(&absent, Europe::Madrid), madrid);
    assert_eq!(zone(&absent, Europe::Madrid), Europe::Madrid);
    // The snapshot's zone wins over the default.
    let (tz, tokyo) = dates(json!("Asia/Tokyo"));
    assert_eq!(tz, chrono_tz::Asia::Tokyo);
    assert_eq!(tokyo.start, Some(t("2026-11-30T15:00:00Z")));
    // No dates: no instants (an open window).
    absent.remove("start_date");
    absent.insert("end_date".into(), Value::Null);
    assert_eq!(Dates::of(&absent, Europe::Madrid), Dates::default());
}

#[test]
fn offsets_move_from_and_until() {
    let apps = apps();
    let s = snapshot(json!({"start_date": "2026-12-01", "end_date": "2026-12-14"}));
    let dates = Dates::of(&s, chrono_tz::UTC);
    let plain = dates.window(&apps["plain"]);
    assert_eq!(plain.from, Some(t("2026-12-01T00:00:00Z")));
    assert_eq!(plain.until, Some(t("2026-12-15T00:00:00Z")));
    let early = dates.window(&apps["early"]);
    assert_eq!(early.from, Some(t("2026-11-28T00:00:00Z")));
    assert_eq!(early.until, Some(t("2026-12-15T02:00:00Z")));
    // No dates: no edges, whatever the offsets.
    assert_eq!(Dates::default().window(&apps["early"]), Window::default());
}

#[test]
fn a_window_is_half_open_and_changes_strictly_after_now() {
    let w = Window {
        from: Some(t("2026-12-01T00:00:00Z")),
        until: Some(t("2026-12-15T00:00:00Z")),
    };
    let nano = chrono::Duration::nanoseconds(1);
    let (from, until) = (w.from.unwrap(), w.until.unwrap());
    assert_eq!(w.phase(from - nano), Phase::Pending);
    assert_eq!(w.phase(from), Phase::Active);
    assert_eq!(w.phase(until - nano), Phase::Active);
    assert_eq!(w.phase(until), Phase::Left);
    assert_eq!(w.next_change(from - nano), Some(from));
    assert_eq!(w.next_change(from), Some(until), "not `from` itself");
    assert_eq!(w.next_change(until), None);
    // Open ends.
    let open = Window::default();
    assert_eq!(open.phase(from), Phase::Active);
    assert_eq!(open.next_change(from), None);
    let no_end = Window { until: None, ..w };
    assert_eq!(no_end.phase(until), Phase::Active);
    assert_eq!(no_end.next_change(from), None);
}

#[test]
fn an_end_before_the_start_is_an_empty_window_with_no_spurious_change() {
    // Before: `next_change` gave the start, at which nothing changes (a
    // timer fired for nothing).
    let w = Window {
        from: Some(t("2026-12-15T00:00:00Z")),
        until: Some(t("2026-12-01T00:00:00Z")),
    };
    assert_eq!(w.phase(t("2026-11-30T00:00:00Z")), Phase::Pending);
    assert_eq!(w.next_change(t("2026-11-30T00:00:00Z")), w.until);
    assert_eq!(w.phase(t("2026-12-10T00:00:00Z")), Phase::Left);
    assert_eq!(w.next_change(t("2026-12-10T00:00:00Z")), None);
    assert_eq!(w.phase(t("2026-12-20T00:00:00Z")), Phase::Left);
}

#[test]
fn upcoming_lists_each_apps_edges_after_now_soonest_first() {
    let apps = apps();
    let s = snapshot(json!({"start_date": "2026-12-01", "end_date": "2026-12-14"}));
    let dates = Dates::of(&s, chrono_tz::UTC);
    let windows = [
        ("plain", dates.window(&apps["plain"])),
        ("early", dates.window(&apps["early"])),
    ];
    let at = |now: &str| {
        upcoming(&s, windows, t(now))
            .into_iter()
            .map(|tr| (tr.at, tr.app, tr.phase, tr.field.as_str(), tr.date))
            .collect::<Vec<_>>()
    };
    let row = |when: &str, app: &str, phase, field, date: &str| {
        (t(when), app.to_string(), phase, field, date.to_string())
    };
    assert_eq!(
        at("2026-11-01T00:00:00Z"),
        [
            row(
                "2026-11-28T00:00:00Z",
                "early",
                Phase::Active,
                "start_date",
                "2026-12-01"
            ),
            row(
                "2026-12-01T00:00:00Z",
                "plain",
                Phase::Active,
                "start_date",
                "2026-12-01"
            ),
            row(
                "2026-12-15T00:00:00Z",
                "plain",
                Phase::Left,
                "end_date",
                "2026-12-14"
            ),
            row(
                "2026-12-15T02:00:00Z",
                "early",
                Phase::Left,
                "end_date",
                "2026-12-14"
            ),
        ]
    );
    // At an edge, that edge is no longer upcoming.
    assert_eq!(at("2026-12-01T00:00:00Z").len(), 2);
    assert!(at("2026-12-15T02:00:00Z").is_empty());
}

// ---- properties ----

/// Instants within a few days of each other, to the second or finer, so
/// that edges and `now` often coincide.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let base = t("2026-12-01T00:00:00Z");
    prop_oneof![
        (0..8i64).prop_map(move |d| base + chrono::Duration::days(d)),
        (0..8 * 86_400i64).prop_map(move |s| base + chrono::Duration::seconds(s)),
        (0..8 * 86_400_000_000_000i64).prop_map(move |n| base + chrono::Duration::nanoseconds(n)),
    ]
}

fn window() -> impl Strategy<Value = Window> {
    (prop::option::of(instant()), prop::option::of(instant()))
        .prop_map(|(from, until)| Window { from, until })
}

fn rank(phase: Phase) -> u8 {
    match phase {
        Phase::Pending => 0,
        Phase::Active => 1,
        Phase::Left => 2,
    }
}

proptest! {
    /// As time passes an app goes Pending, Active, Left, never back.
    #[test]
    fn phase_is_monotone_in_now(w in window(), mut nows in prop::collection::vec(instant(), 1..20)) {
        nows.sort();
        let ranks: Vec<u8> = nows.iter().map(|now| rank(w.phase(*now))).collect();
        prop_assert!(ranks.windows(2).all(|p| p[0] <= p[1]), "{:?} over {:?}", ranks, nows);
    }

    /// `next_change(now)` is the first instant after `now` with another
    /// phase: the phase differs there, and at no edge before it.
    #[test]
    fn next_change_is_the_first_instant_the_phase_differs(w in window(), now in instant()) {
        let phase = w.phase(now);
        let edges: Vec<DateTime<Utc>> = [w.from, w.until].into_iter().flatten().collect();
        match w.next_change(now) {
            Some(next) => {
                prop_assert!(next > now);
                prop_assert_ne!(w.phase(next), phase);
                let nano = chrono::Duration::nanoseconds(1);
                prop_assert_eq!(w.phase(next - nano), phase, "changes only at {}", next);
                for edge in edges.iter().filter(|e| **e > now && **e < next) {
                    prop_assert_eq!(w.phase(*edge), phase);
                }
            }
            None => {
                for edge in edges.iter().filter(|e| **e > now) {
                    prop_assert_eq!(w.phase(*edge), phase);
                }
                prop_assert_eq!(w.phase(now + chrono::Duration::days(3650)), phase);
            }
        }
    }

    /// A local day starts at or after its midnight in the zone, and the
    /// instant before its start belongs to an earlier day; consecutive days
    /// start in order, 23 to 25 hours apart in these zones.
    #[test]
    fn days_start_in_order_at_local_midnight(
        offset in 0..(366 * 12u64),
        tz in prop::sample::select(vec![
            chrono_tz::UTC, Europe::Madrid, America::Santiago, America::Havana,
            America::Los_Angeles, Pacific::Auckland, chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
        ]),
    ) {
        let d = day("2020-01-01").checked_add_days(Days::new(offset)).unwrap();
        let start = start_of_day(d, tz);
        let midnight = d.and_time(chrono::NaiveTime::MIN);
        prop_assert!(start.with_timezone(&tz).naive_local() >= midnight);
        let before = start - chrono::Duration::seconds(1);
        prop_assert!(before.with_timezone(&tz).naive_local() < midnight);
        let next = start_of_day(d.checked_add_days(Days::new(1)).unwrap(), tz);
        let hours = (next - start).num_minutes();
        prop_assert!((23 * 60..=25 * 60).contains(&hours), "{} {}: {} min", tz, d, hours);
    }
}
