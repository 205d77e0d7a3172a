//! Gap awareness: the intervals during which Sekoia.io could not deliver a
//! webhook to this listener (tunnel not up or down, a failed delivery
//! self-test, the app not running, the machine asleep), kept in the store
//! so the catch-up can ask the Alert API for what those intervals missed
//! and the feed can say "no webhook delivery possible from A to B".
//!
//! The bookkeeping is one row (`reach`: the last heartbeat, and since when
//! the listener has been unreachable with why) plus the closed intervals
//! (`gaps`). The write functions run on the store's writer thread (through
//! `Writer::apply`); this module decides nothing about health and starts
//! no task (the engine's `monitor` calls it).
//!
//! In detail: gap awareness. One `reach` row (last heartbeat; unreachable since
//! when and why) and closed `gaps`; `reach::gaps(&reader, since)` returns the
//! intervals without possible webhook delivery (the ongoing one last, `ongoing:
//! true`) for the catch-up and the feed.

use crate::store::{Reader, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::ser::SerializeStruct;
use serde::Serialize;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A wall-clock advance this much larger than the monotonic clock's
/// between two heartbeats means the machine was asleep.
pub const SLEEP_THRESHOLD: Duration = Duration::from_secs(60);

/// Why the listener was unreachable while the app was not running.
const NOT_RUNNING: &str = "sekoia-notifierd was not running (or the machine was off or asleep)";
const ASLEEP: &str = "the machine was asleep";

/// One interval without possible webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// Why, in words.
    pub reason: String,
    /// Still going on: `end` is the time of the query.
    pub ongoing: bool,
}

impl Gap {
    /// The line the feed prints.
    pub fn sentence(&self) -> String {
        format!(
            "no webhook delivery possible from {} to {}{} ({})",
            rfc3339(self.start),
            rfc3339(self.end),
            if self.ongoing { " (ongoing)" } else { "" },
            self.reason
        )
    }
}

/// `{"type": "gap", "start": RFC 3339, "end": RFC 3339, "reason": "…", "ongoing": bool}`
impl Serialize for Gap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Gap", 5)?;
        st.serialize_field("type", "gap")?;
        st.serialize_field("start", &rfc3339(self.start))?;
        st.serialize_field("end", &rfc3339(self.end))?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("ongoing", &self.ongoing)?;
        st.end()
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Now, in unix seconds.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The gaps that ended at or after `since`, oldest first, with the ongoing
/// one (if the listener is unreachable now) last. This is what the catch-up
/// asks for: every alert created in one of these intervals may have missed
/// its webhook.
pub fn gaps(reader: &Reader, since: OffsetDateTime) -> Result<Vec<Gap>, StoreError> {
    let conn = reader.conn();
    let since = since.unix_timestamp();
    let mut stmt = conn
        .prepare_cached("SELECT start, end, reason FROM gaps WHERE end >= ?1 ORDER BY start, id")?;
    let mut out: Vec<Gap> = stmt
        .query_map([since], |row| {
            Ok(Gap {
                start: at(row.get(0)?),
                end: at(row.get(1)?),
                reason: row.get(2)?,
                ongoing: false,
            })
        })?
        .collect::<Result<_, _>>()?;
    let open: Option<(Option<i64>, Option<String>)> = conn
        .query_row(
            "SELECT down_since, reason FROM reach WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((Some(start), reason)) = open {
        out.push(Gap {
            start: at(start),
            end: OffsetDateTime::now_utc().max(at(start)),
            reason: reason.unwrap_or_default(),
            ongoing: true,
        });
    }
    Ok(out)
}

/// A closed gap no catch-up has filled yet (`gaps.filled = 0`): the
/// catch-up still owes the Alert API's alerts of `[start, end]`. Durable, so
/// a stop never forgets one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The `gaps` row, for [`filled`].
    pub id: i64,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub reason: String,
}

/// The closed gaps still to fill, oldest first.
pub fn pending(reader: &Reader) -> Result<Vec<Pending>, StoreError> {
    let conn = reader.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT id, start, end, reason FROM gaps WHERE filled = 0 ORDER BY start, id",
    )?;
    let out = stmt
        .query_map([], |row| {
            Ok(Pending {
                id: row.get(0)?,
                start: at(row.get(1)?),
                end: at(row.get(2)?),
                reason: row.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(out)
}

/// The gap `id` was caught up.
pub(crate) fn filled(tx: &Transaction<'_>, id: i64) -> Result<(), StoreError> {
    tx.execute("UPDATE gaps SET filled = 1 WHERE id = ?1", [id])?;
    Ok(())
}

/// Every closed gap that ended at or before `until` (unix seconds) was
/// caught up (by a catch-up that read from before the earliest of them).
pub(crate) fn filled_until(tx: &Transaction<'_>, until: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE gaps SET filled = 1 WHERE filled = 0 AND end <= ?1",
        [until],
    )?;
    Ok(())
}

/// The start (unix seconds) of the earliest closed gap still owed a
/// catch-up, `None` when none is. (An outage still open at a stop needs no
/// cap: the next run's own gap starts where it started, see [`start_run`].)
pub(crate) fn unfilled_since(tx: &Transaction<'_>) -> Result<Option<i64>, StoreError> {
    Ok(
        tx.query_row("SELECT min(start) FROM gaps WHERE filled = 0", [], |r| {
            r.get(0)
        })?,
    )
}

/// A new run starts at `now`, not reachable yet: the interval since the
/// previous run's last heartbeat (or since it became unreachable) stays open
/// until [`came_up`]. The very first run has no previous run and opens the
/// interval at `now`.
pub(crate) fn start_run(tx: &Transaction<'_>, now: i64) -> Result<(), StoreError> {
    let previous: Option<(i64, Option<i64>, Option<String>)> = tx
        .query_row(
            "SELECT beat, down_since, reason FROM reach WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (since, reason) = match previous {
        None => (now, "sekoia-notifierd was starting".to_owned()),
        Some((beat, None, _)) => (beat.min(now), NOT_RUNNING.to_owned()),
        Some((_, Some(down), reason)) => (
            down.min(now),
            format!("{}; then {NOT_RUNNING}", reason.unwrap_or_default()),
        ),
    };
    tx.execute(
        "INSERT INTO reach (id, beat, down_since, reason) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET beat = ?1, down_since = ?2, reason = ?3",
        params![now, since, reason],
    )?;
    Ok(())
}

/// The app is alive at `now`.
pub(crate) fn beat(tx: &Transaction<'_>, now: i64) -> Result<(), StoreError> {
    tx.execute("UPDATE reach SET beat = max(beat, ?1) WHERE id = 1", [now])?;
    Ok(())
}

/// The listener became unreachable at `now` for `reason`; nothing changes
/// if it already was (the earlier start and reason stay).
pub(crate) fn went_down(tx: &Transaction<'_>, now: i64, reason: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE reach SET down_since = ?1, reason = ?2 WHERE id = 1 AND down_since IS NULL",
        params![now, reason],
    )?;
    Ok(())
}

/// The listener is reachable again at `now`: the open interval, if any,
/// becomes a gap.
pub(crate) fn came_up(tx: &Transaction<'_>, now: i64) -> Result<(), StoreError> {
    let open: Option<(Option<i64>, Option<String>)> = tx
        .query_row(
            "SELECT down_since, reason FROM reach WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((Some(start), reason)) = open {
        if now > start {
            tx.execute(
                "INSERT INTO gaps (start, end, reason) VALUES (?1, ?2, ?3)",
                params![start, now, reason.unwrap_or_default()],
            )?;
        }
        tx.execute(
            "UPDATE reach SET down_since = NULL, reason = NULL, beat = max(beat, ?1) WHERE id = 1",
            [now],
        )?;
    }
    Ok(())
}

/// Events from `from` to `to` may have been missed for `reason`: the store
/// refused them (a full disk, a lock held by another process: webhooks were
/// answered 503) or the LiveAPI connection was down. A gap, to be filled.
pub(crate) fn missed(
    tx: &Transaction<'_>,
    from: i64,
    to: i64,
    reason: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO gaps (start, end, reason) VALUES (?1, ?2, ?3)",
        params![from, to, reason],
    )?;
    Ok(())
}

/// The machine slept from `from` to `to`: a gap, unless an open interval
/// already covers it.
pub(crate) fn slept(tx: &Transaction<'_>, from: i64, to: i64) -> Result<(), StoreError> {
    let down: Option<Option<i64>> = tx
        .query_row("SELECT down_since FROM reach WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    if matches!(down, Some(None)) && to > from {
        tx.execute(
            "INSERT INTO gaps (start, end, reason) VALUES (?1, ?2, ?3)",
            params![from, to, ASLEEP],
        )?;
    }
    Ok(())
}

/// The interval the machine slept, from two heartbeats: the previous one at
/// wall time `prev_wall`, `awake` of monotonic time ago (the monotonic clock
/// does not advance while suspended), and the wall time `now_wall`. `None`
/// when the wall clock advanced about as much as the monotonic one.
pub fn sleep_interval(prev_wall: i64, awake: Duration, now_wall: i64) -> Option<(i64, i64)> {
    let awake = i64::try_from(awake.as_secs()).unwrap_or(i64::MAX);
    let fell_asleep = prev_wall.saturating_add(awake);
    let threshold = i64::try_from(SLEEP_THRESHOLD.as_secs()).unwrap_or(60);
    (now_wall.saturating_sub(fell_asleep) > threshold).then_some((fell_asleep, now_wall))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn write(
        store: &Store,
        f: impl FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send + 'static,
    ) {
        store.writer().apply(Box::new(f)).await.unwrap();
    }

    fn all(store: &Store) -> Vec<Gap> {
        gaps(&store.reader().unwrap(), OffsetDateTime::UNIX_EPOCH).unwrap()
    }

    fn span(g: &Gap) -> (i64, i64) {
        (g.start.unix_timestamp(), g.end.unix_timestamp())
    }

    #[tokio::test]
    async fn a_tunnel_outage_becomes_one_gap_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 1_000)).await;
        write(&store, |tx| came_up(tx, 1_005)).await;
        write(&store, |tx| went_down(tx, 2_000, "bore exited")).await;
        // A second cause while down keeps the first start and reason.
        write(&store, |tx| went_down(tx, 2_010, "self-test failed")).await;
        write(&store, |tx| came_up(tx, 2_030)).await;
        let gaps = all(&store);
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert_eq!(span(&gaps[0]), (1_000, 1_005));
        assert_eq!(span(&gaps[1]), (2_000, 2_030));
        assert_eq!(gaps[1].reason, "bore exited");
        assert!(!gaps[1].ongoing);
        store.close().await;
    }

    #[tokio::test]
    async fn the_time_the_app_was_not_running_is_a_gap_from_its_last_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 1_000)).await;
        write(&store, |tx| came_up(tx, 1_001)).await;
        write(&store, |tx| beat(tx, 1_030)).await;
        store.close().await;
        // Killed after the heartbeat at 1030; started again at 5000.
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 5_000)).await;
        let open = all(&store);
        assert_eq!(open.len(), 2);
        assert!(open[1].ongoing, "not reachable until the tunnel is up");
        assert_eq!(open[1].start.unix_timestamp(), 1_030);
        write(&store, |tx| came_up(tx, 5_004)).await;
        let gaps = all(&store);
        assert_eq!(span(&gaps[1]), (1_030, 5_004));
        assert!(gaps[1].reason.contains("not running"), "{}", gaps[1].reason);
        store.close().await;
    }

    #[tokio::test]
    async fn an_outage_still_open_at_exit_runs_on_through_the_downtime() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 1_000)).await;
        write(&store, |tx| came_up(tx, 1_001)).await;
        write(&store, |tx| went_down(tx, 1_500, "tunnel restarting")).await;
        write(&store, |tx| beat(tx, 1_600)).await;
        write(&store, |tx| start_run(tx, 3_000)).await;
        write(&store, |tx| came_up(tx, 3_002)).await;
        let gaps = all(&store);
        assert_eq!(span(&gaps[1]), (1_500, 3_002));
        assert!(gaps[1].reason.starts_with("tunnel restarting; then"));
        store.close().await;
    }

    #[tokio::test]
    async fn sleep_is_a_gap_unless_an_outage_already_covers_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 1_000)).await;
        write(&store, |tx| came_up(tx, 1_001)).await;
        write(&store, |tx| slept(tx, 1_100, 4_000)).await;
        write(&store, |tx| went_down(tx, 5_000, "tunnel down")).await;
        write(&store, |tx| slept(tx, 5_100, 6_000)).await;
        let gaps = all(&store);
        assert_eq!(gaps.len(), 3, "{gaps:?}");
        assert_eq!(span(&gaps[1]), (1_100, 4_000));
        assert_eq!(gaps[1].reason, ASLEEP);
        assert!(gaps[2].ongoing && gaps[2].start.unix_timestamp() == 5_000);
        store.close().await;
    }

    #[tokio::test]
    async fn gaps_since_a_time_leave_out_those_that_ended_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        write(&store, |tx| start_run(tx, 1_000)).await;
        write(&store, |tx| came_up(tx, 1_010)).await;
        write(&store, |tx| went_down(tx, 2_000, "x")).await;
        write(&store, |tx| came_up(tx, 2_010)).await;
        let since = at(1_500);
        let found = gaps(&store.reader().unwrap(), since).unwrap();
        assert_eq!(found.iter().map(span).collect::<Vec<_>>(), [(2_000, 2_010)]);
        store.close().await;
    }

    #[test]
    fn a_wall_clock_jump_beyond_the_monotonic_clock_is_sleep() {
        assert_eq!(sleep_interval(1_000, Duration::from_secs(30), 1_031), None);
        assert_eq!(
            sleep_interval(1_000, Duration::from_secs(10), 4_000),
            Some((1_010, 4_000))
        );
        // A clock set backwards is not sleep.
        assert_eq!(sleep_interval(1_000, Duration::from_secs(30), 500), None);
    }

    #[test]
    fn a_gap_reads_as_a_sentence_and_serializes_as_type_gap() {
        let g = Gap {
            start: at(0),
            end: at(60),
            reason: "the machine was asleep".to_owned(),
            ongoing: false,
        };
        assert_eq!(
            g.sentence(),
            "no webhook delivery possible from 1970-01-01T00:00:00Z to 1970-01-01T00:01:00Z (the machine was asleep)"
        );
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["type"], "gap");
        assert_eq!(v["end"], "1970-01-01T00:01:00Z");
    }
}
