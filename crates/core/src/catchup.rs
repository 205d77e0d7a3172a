//! Catch-up: after a gap (the app was stopped, the tunnel was down, the
//! network was away), asks the Alert API for the alerts created in the gap
//! (`date[created_at]=START,END`, oldest first, 100 per page, within the
//! client's 5 requests/s) and adds those the feed lacks, marked caught up,
//! with ONE summary pop-up. The cursor (`CURSOR`, the time up to which the
//! feed is known complete) lives in the store.
//!
//! Owns the gap arithmetic and the paging. Must not: write SQLite itself
//! (the writer does), pop up each caught-up alert, or move the cursor past
//! a gap it could not fill.

use crate::pipeline::Sink;
use crate::policy::{EventView, Policy};
use crate::sekoia::{Client, SekoiaError};
use crate::settings::Settings;
use crate::store::{Reader, StoreError, Writer};
use crate::storm::Tally;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
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
        }
    }

    /// Adds the alerts created in `[since, until]` that the feed lacks, then
    /// shows one summary pop-up for those the `[notify]` policy would have
    /// shown. The cursor is not moved.
    pub async fn catch_up(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Report, CatchUpError> {
        self.run(since, until, None).await
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
        self.run(since, now, Some(&stamp)).await
    }

    /// Records that the feed is complete up to now (a clean stop).
    pub async fn mark_complete(&self) -> Result<(), StoreError> {
        let stamp = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        self.writer.set_cursor(CURSOR, &stamp).await
    }

    async fn run(
        &self,
        since: OffsetDateTime,
        until: OffsetDateTime,
        cursor: Option<&str>,
    ) -> Result<Report, CatchUpError> {
        let mut report = Report::default();
        let mut tally = Tally::default();
        // The first alert's own pop-up: a summary of one alert is that.
        let mut first = None;
        let mut offset = 0;
        while report.pages < MAX_PAGES {
            let page = self.client.list_created(since, until, offset).await?;
            report.pages += 1;
            let count = page.alerts.len();
            report.listed += count;
            offset += count;
            let last = count == 0
                || page.has_more == Some(false)
                || (page.has_more.is_none() && count < crate::sekoia::LIST_CHUNK);
            // The cursor moves with the last page, in its transaction.
            let move_cursor = cursor.filter(|_| last);
            let added = self
                .writer
                .catch_up(page.alerts.clone(), move_cursor.map(|c| (CURSOR, c)))
                .await?;
            report.added += added.len();
            for alert in added.iter().filter_map(|&i| page.alerts.get(i)) {
                let view = EventView {
                    id: 0,
                    kind: "alert".to_owned(),
                    action: "created".to_owned(),
                    uuid: alert.uuid.clone().unwrap_or_default(),
                    short_id: alert.short_id.clone(),
                    subject: crate::kind::Subject::Alert,
                    facts: crate::kind::Facts::alert_created(alert.short_id.as_deref()),
                };
                if self.policy.wants_popup(&view, Some(alert)) {
                    tally.add_level(crate::urgency::Level::of_alert(alert));
                    if first.is_none() {
                        let link = alert
                            .short_id
                            .as_deref()
                            .and_then(|s| self.settings.alert_url(s));
                        first = Some(crate::policy::popup(&view, Some(alert), link, None));
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
/// while the API or the store fails); returns once it did.
pub async fn after_start_until_done(catch_up: CatchUp, reader: Reader, retry_every: Duration) {
    loop {
        let attempt = match stored_cursor(&reader) {
            Ok(cursor) => catch_up.after_start(cursor).await,
            Err(e) => Err(e.into()),
        };
        match attempt {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "catch-up failed; retrying");
                tokio::time::sleep(retry_every).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
