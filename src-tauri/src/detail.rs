//! The feed's detail pane and community names, as the shell serves them:
//! a small cache in front of `notifier_core::triage::detail` (one read per
//! alert per [`DETAIL_FRESH`], so moving up and down the list does not
//! spend the API's 5 requests/s), the workflow buttons
//! (`triage::apply`), and community names (`GET /v1/communities/{uuid}`,
//! cached for the run; the uuid's first block when the name cannot be read).
//!
//! Must not: decide what an action does (core's triage does) or let a
//! cached answer outlive a change made from here (an action drops it).

use crate::error::AppError;
use crate::shell::Shell;
use notifier_core::sekoia::is_uuid;
use notifier_core::triage::{self, detail::Detail};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a fetched detail is shown again without asking the API.
pub const DETAIL_FRESH: Duration = Duration::from_secs(60);
/// The most details kept (the oldest goes first).
const DETAIL_KEEP: usize = 64;

/// The shell's caches for the pane and the community names.
#[derive(Default)]
pub struct Cache {
    details: Mutex<HashMap<String, (Instant, Detail)>>,
    /// Community uuid -> name (`None`: the lookup failed for good, 404 or
    /// 403; the label falls back to the uuid's first block).
    communities: Mutex<HashMap<String, Option<String>>>,
}

/// A community as the feed labels it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Community {
    pub uuid: String,
    /// The name Sekoia.io gives, else the uuid's first block.
    pub label: String,
    /// The name was read from Sekoia.io.
    pub named: bool,
}

impl Cache {
    fn fresh(&self, uuid: &str) -> Option<Detail> {
        let details = self.details.lock().unwrap_or_else(PoisonError::into_inner);
        details
            .get(uuid)
            .filter(|(at, _)| at.elapsed() < DETAIL_FRESH)
            .map(|(_, d)| d.clone())
    }

    fn keep(&self, detail: &Detail) {
        let mut details = self.details.lock().unwrap_or_else(PoisonError::into_inner);
        if details.len() >= DETAIL_KEEP {
            if let Some(oldest) = details
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                details.remove(&oldest);
            }
        }
        details.insert(detail.uuid.clone(), (Instant::now(), detail.clone()));
    }

    fn forget(&self, uuid: &str) {
        self.details
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uuid);
    }

    fn community(&self, uuid: &str) -> Option<Option<String>> {
        self.communities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uuid)
            .cloned()
    }

    fn name_community(&self, uuid: &str, name: Option<String>) {
        self.communities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(uuid.to_owned(), name);
    }
}

/// The label of a community whose name is unknown: its uuid's first block.
pub fn fallback_label(uuid: &str) -> String {
    uuid.split('-').next().unwrap_or(uuid).to_owned()
}

impl Shell {
    /// The detail pane of alert `uuid`: from the cache when fetched less
    /// than [`DETAIL_FRESH`] ago (unless `refresh`), else from the API.
    pub async fn alert_detail(&self, uuid: &str, refresh: bool) -> Result<Detail, AppError> {
        if !is_uuid(uuid) {
            return Err(notifier_core::sekoia::SekoiaError::InvalidUuid.into());
        }
        if !refresh {
            if let Some(detail) = self.caches().fresh(uuid) {
                return Ok(detail);
            }
        }
        let engine = self.engine().await?;
        let client = engine
            .client()
            .ok_or(AppError::Triage(triage::TriageError::NoKey))?;
        let detail = triage::detail::detail(&client, uuid).await;
        self.caches().keep(&detail);
        Ok(detail)
    }

    /// Applies workflow action `action` (an id the alert's workflow lists)
    /// with an optional comment, then reads the pane again.
    pub async fn apply_action(
        &self,
        uuid: &str,
        action: &str,
        comment: Option<&str>,
    ) -> Result<Detail, AppError> {
        let engine = self.engine().await?;
        let client = engine
            .client()
            .ok_or(AppError::Triage(triage::TriageError::NoKey))?;
        self.caches().forget(uuid);
        triage::apply(&client, &engine.writer(), uuid, action, comment).await?;
        drop(engine);
        self.alert_detail(uuid, true).await
    }

    /// The labels of `uuids` (community uuids from the feed): names read
    /// once per run from Sekoia.io, the uuid's first block meanwhile or
    /// when the name cannot be read. A transient failure is asked again
    /// next time.
    pub async fn communities(&self, uuids: Vec<String>) -> Vec<Community> {
        let client = match self.engine().await {
            Ok(engine) => engine.client(),
            Err(_) => None,
        };
        let mut out = Vec::new();
        for uuid in uuids.into_iter().filter(|u| is_uuid(u)).take(50) {
            let known = self.caches().community(&uuid);
            let name = match (known, &client) {
                (Some(name), _) => name,
                (None, Some(client)) => match client.community_name(&uuid).await {
                    Ok(name) => {
                        self.caches().name_community(&uuid, name.clone());
                        name
                    }
                    Err(e) if e.is_transient() => None,
                    Err(e) => {
                        tracing::info!(community = %uuid, "community name unreadable: {e}");
                        self.caches().name_community(&uuid, None);
                        None
                    }
                },
                (None, None) => None,
            };
            out.push(Community {
                label: name.clone().unwrap_or_else(|| fallback_label(&uuid)),
                named: name.is_some(),
                uuid,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_community_reads_as_its_first_block() {
        assert_eq!(
            fallback_label("3a7f1c2e-8b4d-4e6a-9c1f-2d5e8a0b7c63"),
            "3a7f1c2e"
        );
    }

    #[test]
    fn the_cache_keeps_a_detail_until_forgotten_and_drops_the_oldest_when_full() {
        let cache = Cache::default();
        let detail = |n: usize| Detail {
            uuid: format!("u{n}"),
            ..Detail::default()
        };
        cache.keep(&detail(0));
        assert!(cache.fresh("u0").is_some());
        cache.forget("u0");
        assert!(cache.fresh("u0").is_none());
        for n in 0..=DETAIL_KEEP {
            cache.keep(&detail(n));
        }
        assert!(cache.fresh("u0").is_none(), "the oldest went");
        assert!(cache.fresh(&format!("u{DETAIL_KEEP}")).is_some());
        assert_eq!(
            cache.details.lock().unwrap().len(),
            DETAIL_KEEP,
            "never more than DETAIL_KEEP"
        );
    }
}
