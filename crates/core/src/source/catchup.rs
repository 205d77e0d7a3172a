//! Catch-up: after a gap (the app was stopped, the tunnel was down, the
//! network was away), asks the Alert API for the alerts created in the gap
//! (`date[created_at]=START,END`, oldest first, 100 per page, within the
//! client's 5 requests/s) and adds those the feed lacks, marked caught up,
//! with ONE summary pop-up. The cursor (`CURSOR`, the time up to which the
//! feed is known complete) lives in the store, and so does each gap's
//! progress (`reach::pending`): a gap is marked filled in the transaction of
//! the catch-up's last page, so a stop, clean or not, never forgets one.
//!
//! Owns the gap arithmetic, the paging and the loop that fills recorded
//! gaps ([`fill_gaps`]). Must not: write SQLite itself (the writer does),
//! pop up each caught-up alert, or move the cursor past a gap it could not
//! fill.
//!
//! In detail: fills gaps from the Alert API. `CatchUp::after_start(cursor)`
//! reads `[cursor - 10 min, now]` (at most 7 days) page by page through
//! `Client::list_created` (`date[created_at]`, `sort=created_at`,
//! `direction=asc`, 100 per page, ≤ 200 pages) and moves the store cursor
//! `catch_up.until` with the last page; `CatchUp::catch_up(since, until)` is
//! the same for a gap someone else saw (a tunnel outage), without moving the
//! cursor. Alerts the feed lacks are added by the writer (`Writer::catch_up`,
//! in `store/catchup.rs`) as handled `alert:created` events with `caught_up =
//! 1`, their alert cached; one `PopupKind::Summary` pop-up counts those the
//! policy would have shown. Each gap's progress is durable:
//! `CatchUp::fill(gap)` marks the `gaps` row filled in the transaction of its
//! last page, the start catch-up marks every gap that ended by its `now`, and
//! `mark_complete` (a clean stop) sets the cursor to now or to the start of the
//! earliest unfilled gap. `catchup::fill_gaps` waits for the start catch-up,
//! then fills pending gaps after every health change and every gap a part
//! records (`CatchUp::record_gap`: the LiveAPI after a disconnection). **Invariant:**
//! the cursor never passes an unfilled gap, and no catch-up progress lives only
//! in memory.

use crate::deliver::notify::Sink;
use crate::deliver::policy::{EventView, Policy};
use crate::deliver::storm::Tally;
use crate::net::sekoia::{Client, SekoiaError};
use crate::settings::Settings;
use crate::store::{Fill, Reader, Reads, StoreError, Writer};
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use url::Url;

/// The store cursor: RFC 3339 time up to which the feed is known complete.
pub const CURSOR: &str = "catch_up.until";
/// The key of the catch-up summary pop-up (a later one replaces it).
pub const SUMMARY_KEY: &str = "sekoia-notifier-catch-up";
/// How far before the cursor a catch-up starts: a webhook for an alert
/// created just before a stop may never have arrived.
pub const OVERLAP: Duration = Duration::from_secs(10 * 60);
/// The longest gap looked at: older alerts are for the Sekoia.io console.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most pages (of 100) one catch-up reads: 20,000 alerts, 200 calls.
pub const MAX_PAGES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    #[error("catch-up could not ask Sekoia.io: {0}")]
    Api(#[from] SekoiaError),
    #[error("catch-up could not record alerts: {0}")]
    Store(#[from] StoreError),
}

/// What a catch-up did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// API pages read.
    pub pages: usize,
    /// Alerts the API listed for the gap.
    pub listed: usize,
    /// Alerts added to the feed (the others were there already).
    pub added: usize,
    /// False when `MAX_PAGES` stopped it before the end of the gap.
    pub complete: bool,
}

/// A cheap, cloneable handle: the engine runs one after start, and others
/// (the tunnel supervisor) call [`CatchUp::catch_up`] with a gap they saw.
#[derive(Clone)]
pub struct CatchUp {
    client: Client,
    writer: Writer,
    sinks: Vec<Arc<dyn Sink>>,
    policy: Policy,
    link: Option<Url>,
    /// For alert pages (a catch-up of one alert shows that alert).
    settings: Settings,
    /// Wakes [`fill_gaps`] when a part recorded a gap (the LiveAPI after a
    /// disconnection).
    gap_recorded: Arc<Notify>,
}

impl CatchUp {
    pub fn new(
        client: Client,
        writer: Writer,
        settings: &Settings,
        sinks: Vec<Arc<dyn Sink>>,
    ) -> CatchUp {
        CatchUp {
            client,
            writer,
            sinks,
            policy: Policy::new(&settings.notify),
            link: settings.alerts_list_url(),
            settings: settings.clone(),
            gap_recorded: Arc::new(Notify::new()),
        }
    }

    /// Records that `[from, to]` (unix seconds) may have missed events for
    /// `reason` (a gap, durable in the store) and wakes [`fill_gaps`].
    pub async fn record_gap(&self, from: i64, to: i64, reason: &str) -> Result<(), StoreError> {
        let reason = reason.to_owned();
        self.writer
            .apply(Box::new(move |tx| {
                crate::store::reach::missed(tx, from, to.max(from + 1), &reason)
            }))
            .await?;
        self.gap_recorded.notify_one();
        Ok(())
    }

    /// Adds the alerts created in `[since, until]` that the feed lacks, then
    /// shows one summary pop-up for those the `[notify]` policy would have
    /// shown. The cursor is not moved.
    pub async fn catch_up(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Report, CatchUpError> {
        self.run(since, until, None, Fill::Nothing).await
    }

    /// Catches up the recorded gap `gap` and, once every page was read,
    /// marks it filled (in the last page's transaction).
    pub async fn fill(&self, gap: &crate::store::reach::Pending) -> Result<Report, CatchUpError> {
        self.run(gap.start, gap.end, None, Fill::Gap(gap.id)).await
    }

    /// The catch-up at start: from the stored cursor (see [`stored_cursor`];
    /// less `OVERLAP`, at most `MAX_LOOKBACK` ago) to now, moving the cursor
    /// to now when done. On a first run (no cursor) it only sets the cursor:
    /// a new install does not import the tenant's history.
    pub async fn after_start(
        &self,
        cursor: Option<OffsetDateTime>,
    ) -> Result<Report, CatchUpError> {
        let now = OffsetDateTime::now_utc();
        let stamp = now.format(&Rfc3339).unwrap_or_default();
        let Some(cursor) = cursor else {
            self.writer.set_cursor(CURSOR, &stamp).await?;
            tracing::info!("first start: alerts created from now on are caught up after a gap");
            return Ok(Report {
                complete: true,
                ..Report::default()
            });
        };
        let since = (cursor - OVERLAP).max(now - MAX_LOOKBACK);
        // The cursor never passed an unfilled gap, so this read covers every
        // gap that ended by now (or gave up on it: older than MAX_LOOKBACK).
        let fill = Fill::EndedBy(now.unix_timestamp());
        self.run(since, now, Some(&stamp), fill).await
    }

    /// Records that the feed is complete up to now (a clean stop), or up
    /// to the start of the earliest gap no catch-up filled yet.
    pub async fn mark_complete(&self) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let set = self.writer.set_time_cursor_below_gaps(CURSOR, now).await?;
        if set < now {
            tracing::info!("a gap is not caught up yet: the next start resumes it");
        }
        Ok(())
    }

    async fn run(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
        cursor: Option<&str>,
        fill: Fill,
    ) -> Result<Report, CatchUpError> {
        let mut report = Report::default();
        let mut tally = Tally::default();
        // The first alert's own pop-up: a summary of one alert is that.
        let mut first = None;
        let mut offset = 0;
        while report.pages < MAX_PAGES {
            let page = self.client.list_created(since, until, offset).await?;
            report.pages += 1;
            // Every entry moves the offset, readable or not.
            let count = page.items;
            report.listed += count;
            offset += count;
            let last = count == 0
                || page.has_more == Some(false)
                || (page.has_more.is_none() && count < crate::net::sekoia::LIST_CHUNK);
            // The cursor moves, and the gaps close, with the last page, in
            // its transaction.
            let move_cursor = cursor.filter(|_| last);
            let fill = if last { fill } else { Fill::Nothing };
            let added = self
                .writer
                .catch_up_filling(page.alerts.clone(), move_cursor.map(|c| (CURSOR, c)), fill)
                .await?;
            report.added += added.len();
            for alert in added.iter().filter_map(|&i| page.alerts.get(i)) {
                let view = EventView {
                    id: 0,
                    kind: "alert".to_owned(),
                    action: "created".to_owned(),
                    uuid: alert.uuid.clone().unwrap_or_default(),
                    short_id: alert.short_id.clone(),
                    subject: crate::model::kind::Subject::Alert,
                    facts: crate::model::kind::Facts::alert_created(alert.short_id.as_deref()),
                };
                if self.policy.wants_popup(&view, Some(alert)) {
                    tally.add_level(crate::model::urgency::Level::of_alert(alert));
                    if first.is_none() {
                        let link = alert
                            .short_id
                            .as_deref()
                            .and_then(|s| self.settings.alert_url(s));
                        first = Some(crate::deliver::policy::popup(
                            &view,
                            Some(alert),
                            link,
                            None,
                        ));
                    }
                }
            }
            if last {
                report.complete = true;
                break;
            }
        }
        if !report.complete {
            tracing::warn!(
                listed = report.listed,
                "catch-up stopped after {MAX_PAGES} pages; open Sekoia.io for older alerts of the gap"
            );
        }
        tracing::info!(
            pages = report.pages,
            listed = report.listed,
            added = report.added,
            "catch-up done"
        );
        let popup = match first {
            Some(alone) if tally.total == 1 => Some(alone),
            _ if tally.total > 0 => {
                Some(tally.popup(SUMMARY_KEY, "alert caught up", self.link.clone()))
            }
            _ => None,
        };
        if let Some(popup) = popup {
            for sink in &self.sinks {
                if let Err(e) = sink.show(&popup).await {
                    tracing::warn!(sink = sink.name(), error = %e, "pop-up not delivered");
                }
            }
        }
        Ok(report)
    }
}

/// The time up to which the feed is known complete, if ever recorded (an
/// unreadable value counts as none).
pub fn stored_cursor(reader: &Reader) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(reader
        .cursor(CURSOR)?
        .and_then(|v| OffsetDateTime::parse(&v, &Rfc3339).ok()))
}

/// Runs the start catch-up until it succeeds (retrying every `retry_every`
/// while the API or the store fails); returns once it did, after setting
/// `done` to true.
pub async fn after_start_until_done(
    catch_up: CatchUp,
    reads: Reads,
    retry_every: Duration,
    done: watch::Sender<bool>,
) {
    loop {
        let attempt = match reads.run(stored_cursor).await {
            Ok(cursor) => catch_up.after_start(cursor).await,
            Err(e) => Err(e.into()),
        };
        match attempt {
            Ok(_) => {
                done.send_replace(true);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "catch-up failed; retrying");
                tokio::time::sleep(retry_every).await;
            }
        }
    }
}

/// How long after a wake-up the gaps are read: the monitor records an
/// outage's end in the same breath as the health change, through the writer.
pub const GAP_SETTLE: Duration = Duration::from_secs(2);

/// Fills the recorded gaps (`reach::pending`, oldest first) once the start
/// catch-up is done (`started` true: it covers every gap recorded before
/// it), then again after every change of `wake` (the engine's health: the
/// tunnel back up, a self-test after resume from sleep) and every gap a part
/// records through [`CatchUp::record_gap`]. A gap that fails stays pending
/// and is tried at the next wake-up; nothing is held in memory. Returns when
/// `wake`'s sender is gone.
pub async fn fill_gaps<T>(
    catch_up: CatchUp,
    reads: Reads,
    mut started: watch::Receiver<bool>,
    mut wake: watch::Receiver<T>,
) {
    if started.wait_for(|done| *done).await.is_err() {
        return;
    }
    loop {
        let gaps = match reads.run(crate::store::reach::pending).await {
            Ok(gaps) => gaps,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outages for the catch-up");
                Vec::new()
            }
        };
        for gap in gaps {
            tracing::info!(from = %gap.start, to = %gap.end, reason = %gap.reason, "catching up an outage");
            match catch_up.fill(&gap).await {
                Ok(report) if !report.complete => break,
                Ok(_) => {}
                // Tried again at the next wake-up.
                Err(e) => {
                    tracing::warn!(error = %e, "catch-up of an outage failed");
                    break;
                }
            }
        }
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { return },
            () = catch_up.gap_recorded.notified() => {}
        }
        tokio::time::sleep(GAP_SETTLE).await;
        wake.borrow_and_update();
    }
}

#[cfg(test)]
mod tests;
