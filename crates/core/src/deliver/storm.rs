//! Storm coalescing: at most `budget` alert pop-ups per sliding window; the
//! alerts beyond it are counted and shown as ONE summary pop-up that
//! replaces itself ("37 new alerts, 3 Urgent — open feed"), highest urgency
//! first. Alerts at or above `[notify] always_popup_urgency` (default 80,
//! Urgent) always get their own pop-up and take no slot of the budget. A
//! summary of one alert is that alert's own pop-up. The budget spans
//! batches: when it is spent and a later alert is in a higher band than one
//! still holding a slot, that pop-up is withdrawn into the summary and its
//! slot goes to the more urgent alert. Also the wording of any "many
//! alerts" summary (catch-up uses it).
//!
//! Owns only counters: its memory is the budget's slots (at most `budget`
//! pop-ups) plus a fixed tally, never the storm's alerts. Must not: do I/O, read the clock (the
//! caller passes `now`), or hide a `Notice` (test alert, URL changed).
//!
//! In detail: storm coalescing, pure (the caller passes `now`): `Storm::admit`
//! lets at most `[notify] storm_budget` alert pop-ups per sliding
//! `storm_window_secs` through, most urgent first (alerts at or above
//! `always_popup_urgency` always pass and take no slot), and folds the rest
//! into one `PopupKind::Summary` pop-up (key `STORM_KEY`, so it replaces
//! itself) linking to `{app_url}/operations/alerts`; a summary of one alert is
//! that alert's pop-up under `STORM_KEY`. Holds counters only (`Tally`), never
//! the storm's alerts. `Tally` also words other summaries (catch-up).

use crate::deliver::notify::{urgency_for, Popup, PopupKind};
use crate::model::urgency::{Band, Level};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use url::Url;

/// The key of the storm summary: each update replaces the previous one.
pub const STORM_KEY: &str = "sekoia-notifier-storm-summary";

/// How many alert pop-ups a window allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub popups: usize,
    pub window: Duration,
    /// Alerts at or above this urgency (0-100) always pop up on their own,
    /// outside the budget (`[notify] always_popup_urgency`).
    pub always: u8,
}

impl Budget {
    pub fn from_settings(notify: &crate::settings::NotifySettings) -> Budget {
        Budget {
            popups: notify.storm_budget as usize,
            window: Duration::from_secs(u64::from(notify.storm_window_secs)),
            always: notify.always_popup_urgency,
        }
    }
}

/// The urgency bands, highest first (`Band::DESCENDING`), with "unknown" last.
const BANDS: usize = 6;
const UNKNOWN: usize = BANDS - 1;

/// Counts of alerts per urgency band; the summary's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub total: u64,
    by_band: [u64; BANDS],
    highest: Option<u8>,
}

impl Tally {
    /// Counts one alert of this urgency value (its band on the scale).
    pub fn add(&mut self, urgency: Option<u8>) {
        self.add_level(urgency.and_then(|u| Level::new(Some(u), None)));
    }

    /// Counts one alert of this level: its band as the API words it.
    pub fn add_level(&mut self, level: Option<Level>) {
        self.total += 1;
        self.by_band[slot(level.map(|l| l.band))] += 1;
        self.highest = self.highest.max(level.map(|l| l.value));
    }

    /// "37 new alerts, 3 Urgent — open feed" (the highest band named).
    /// `what` is the noun phrase, e.g. "new alert" or "alert caught up".
    pub fn headline(&self, what: &str) -> String {
        let plural = if self.total == 1 {
            what.to_owned()
        } else {
            plural(what)
        };
        let mut text = format!("{} {plural}", self.total);
        if let Some(i) = (0..UNKNOWN).find(|&i| self.by_band[i] > 0) {
            text.push_str(&format!(", {} {}", self.by_band[i], band_word(i)));
        }
        text.push_str(" — open feed");
        text
    }

    /// Every band present, highest first: "3 Urgent · 5 Major · 29 unknown urgency".
    pub fn breakdown(&self) -> String {
        (0..BANDS)
            .filter(|&i| self.by_band[i] > 0)
            .map(|i| format!("{} {}", self.by_band[i], band_word(i)))
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// The summary pop-up for this tally.
    pub fn popup(&self, key: &str, what: &str, link: Option<Url>) -> Popup {
        Popup {
            kind: PopupKind::Summary,
            key: key.to_owned(),
            summary: self.headline(what),
            lines: vec![self.breakdown(), "Every alert is in the feed.".to_owned()],
            urgency: urgency_for(self.highest),
            link,
            ..Popup::default()
        }
    }
}

/// "new alert" -> "new alerts", "alert caught up" -> "alerts caught up".
fn plural(what: &str) -> String {
    match what.split_once(' ') {
        Some((first, rest)) if first != "new" => format!("{first}s {rest}"),
        _ => format!("{what}s"),
    }
}

/// The word of tally slot `i`: a band of the scale, or "unknown urgency".
fn band_word(i: usize) -> &'static str {
    Band::DESCENDING
        .get(i)
        .map_or("unknown urgency", |b| b.word())
}

/// The tally slot of a band: its place in `Band::DESCENDING`.
fn slot(band: Option<Band>) -> usize {
    band.and_then(|b| Band::DESCENDING.iter().position(|d| *d == b))
        .unwrap_or(UNKNOWN)
}

/// One alert pop-up the pipeline wants to show, with the urgency value
/// that orders it (None: not enriched).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub popup: Popup,
    pub urgency: Option<u8>,
}

/// A pop-up holding a slot of the budget.
#[derive(Debug)]
struct Slot {
    at: Instant,
    popup: Popup,
    urgency: Option<u8>,
}

impl Slot {
    /// The band's rank: 0 for unknown urgency, then Low up to Urgent.
    fn rank(&self) -> usize {
        rank(self.urgency)
    }
}

fn rank(urgency: Option<u8>) -> usize {
    BANDS
        - slot(
            urgency
                .and_then(|u| Level::new(Some(u), None))
                .map(|l| l.band),
        )
}

/// What a batch shows and which earlier pop-ups it takes off the screen.
#[derive(Debug, Default)]
pub struct Admitted {
    /// In order: the alerts' pop-ups, then the summary if one changed.
    pub show: Vec<Popup>,
    /// Keys of pop-ups shown earlier whose slot went to a more urgent
    /// alert: withdraw them (they are counted in the summary).
    pub withdraw: Vec<String>,
}

/// The budget's state across batches.
#[derive(Debug)]
pub struct Storm {
    budget: Budget,
    /// The pop-ups of the current window (at most `budget`).
    shown: VecDeque<Slot>,
    /// Alerts folded into the summary since the storm began.
    tally: Tally,
    /// When the last alert was folded; the storm ends a window later.
    last_folded: Option<Instant>,
    /// The alert list page, the summary's link.
    link: Option<Url>,
}

impl Storm {
    pub fn new(budget: Budget, link: Option<Url>) -> Storm {
        Storm {
            budget,
            shown: VecDeque::with_capacity(budget.popups),
            tally: Tally::default(),
            last_folded: None,
            link,
        }
    }

    /// What to show of one batch, in order: the highest-urgency alerts the
    /// budget allows (alerts at or above `Budget::always` always, outside
    /// it), then (if any alert was folded) the updated summary. A summary
    /// that would count one alert is that alert's own pop-up, under the
    /// summary's key so that the next summary replaces it. Notices always
    /// pass. With the budget spent, an alert in a higher band than the
    /// lowest one holding a slot takes that slot (see [`Admitted`]).
    pub fn admit(&mut self, now: Instant, mut batch: Vec<Wanted>) -> Admitted {
        while self
            .shown
            .front()
            .is_some_and(|s| now.duration_since(s.at) >= self.budget.window)
        {
            self.shown.pop_front();
        }
        if self
            .last_folded
            .is_some_and(|t| now.duration_since(t) >= self.budget.window)
        {
            self.tally = Tally::default();
            self.last_folded = None;
        }
        // Highest urgency first; unknown urgency after known ones; stable,
        // so equal urgencies keep their arrival order.
        batch.sort_by_key(|w| std::cmp::Reverse(w.urgency.map(u16::from)));
        let mut out = Vec::new();
        let mut withdraw = Vec::new();
        let mut folded = None;
        for wanted in batch {
            let always = wanted.urgency.is_some_and(|u| u >= self.budget.always);
            if wanted.popup.kind == PopupKind::Notice || always {
                out.push(wanted.popup);
            } else if self.shown.len() < self.budget.popups {
                self.take_slot(now, wanted, &mut out);
            } else if let Some(i) = self.lowest_below(rank(wanted.urgency)) {
                // A more urgent alert than one holding a slot: that one
                // leaves the screen for the summary.
                // (Never a slot taken in this batch: it is sorted most
                // urgent first, so only earlier batches' slots rank lower.)
                let Some(lower) = self.shown.remove(i) else {
                    continue;
                };
                withdraw.push(lower.popup.key.clone());
                self.fold(lower.urgency, &lower.popup);
                folded = Some(lower.popup);
                self.take_slot(now, wanted, &mut out);
            } else {
                self.fold(wanted.urgency, &wanted.popup);
                folded = Some(wanted.popup);
            }
        }
        if let Some(last) = folded {
            self.last_folded = Some(now);
            out.push(if self.tally.total == 1 {
                Popup {
                    key: STORM_KEY.to_owned(),
                    ..last
                }
            } else {
                self.tally.popup(STORM_KEY, "new alert", self.link.clone())
            });
        }
        Admitted {
            show: out,
            withdraw,
        }
    }

    fn take_slot(&mut self, now: Instant, wanted: Wanted, out: &mut Vec<Popup>) {
        out.push(wanted.popup.clone());
        self.shown.push_back(Slot {
            at: now,
            popup: wanted.popup,
            urgency: wanted.urgency,
        });
    }

    /// Counts a pop-up in the summary, in the band its level words.
    fn fold(&mut self, urgency: Option<u8>, popup: &Popup) {
        let level = popup
            .level
            .or_else(|| urgency.and_then(|u| Level::new(Some(u), None)));
        self.tally.add_level(level);
    }

    /// The slot of the lowest band below `rank` (its lowest urgency, then
    /// the oldest).
    fn lowest_below(&self, rank: usize) -> Option<usize> {
        self.shown
            .iter()
            .enumerate()
            .filter(|(_, s)| s.rank() < rank)
            .min_by_key(|(_, s)| (s.rank(), s.urgency))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::notify::Urgency;

    fn wanted(n: usize, urgency: Option<u8>) -> Wanted {
        Wanted {
            popup: Popup {
                kind: PopupKind::Alert,
                key: format!("alert-{n}"),
                summary: format!("Alert {n}"),
                lines: Vec::new(),
                urgency: urgency_for(urgency),
                link: None,
                ..Popup::default()
            },
            urgency,
        }
    }

    impl Storm {
        /// What a batch shows, where it takes no earlier slot.
        fn admit_shown(&mut self, now: Instant, batch: Vec<Wanted>) -> Vec<Popup> {
            let admitted = self.admit(now, batch);
            assert!(admitted.withdraw.is_empty(), "{:?}", admitted.withdraw);
            admitted.show
        }
    }

    fn storm(popups: usize, secs: u64) -> Storm {
        let link = Url::parse("https://app.sekoia.io/operations/alerts").ok();
        Storm::new(
            Budget {
                popups,
                window: Duration::from_secs(secs),
                always: 80,
            },
            link,
        )
    }

    #[test]
    fn alerts_within_the_budget_pop_up_one_by_one() {
        let mut s = storm(5, 30);
        let now = Instant::now();
        let out = s.admit_shown(now, (0..5).map(|n| wanted(n, Some(50))).collect());
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|p| p.kind == PopupKind::Alert));
    }

    #[test]
    fn a_storm_shows_the_budget_then_one_summary_naming_the_highest_urgency() {
        let mut s = storm(5, 30);
        let now = Instant::now();
        let mut batch: Vec<Wanted> = (0..34).map(|n| wanted(n, Some(10))).collect();
        batch.extend((34..42).map(|n| wanted(n, Some(65))));
        let out = s.admit_shown(now, batch);
        assert_eq!(out.len(), 6);
        // The five shown are the most urgent ones.
        assert!(out[..5].iter().all(|p| p.urgency == Urgency::Normal));
        let summary = &out[5];
        assert_eq!(summary.kind, PopupKind::Summary);
        assert_eq!(summary.key, STORM_KEY);
        assert_eq!(summary.summary, "37 new alerts, 3 Major — open feed");
        assert_eq!(summary.lines[0], "3 Major · 34 Low");
        assert_eq!(summary.urgency, Urgency::Normal);
        assert_eq!(
            summary.link.as_ref().map(Url::as_str),
            Some("https://app.sekoia.io/operations/alerts")
        );
    }

    /// The burst of the issue: lower alerts first (one already taken, 55,
    /// and a 64 among them), then two Urgent ones, 88 and 91. The Urgent
    /// ones get their own pop-ups whatever the budget spent before.
    #[test]
    fn in_a_burst_of_twelve_both_urgent_alerts_pop_up_and_the_summary_counts_the_rest() {
        let mut s = storm(5, 30);
        let now = Instant::now();
        let first = s.admit_shown(
            now,
            vec![
                wanted(0, Some(55)),
                wanted(1, Some(64)),
                wanted(2, Some(30)),
            ],
        );
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|p| p.kind == PopupKind::Alert));
        let second = s.admit(
            now + Duration::from_secs(1),
            [20, 45, 10, 35, 50, 61, 5]
                .iter()
                .enumerate()
                .map(|(i, u)| wanted(3 + i, Some(*u)))
                .collect(),
        );
        let keys: Vec<&str> = second.show.iter().map(|p| p.key.as_str()).collect();
        // The two slots left go to the most urgent (61, 50); the High 45
        // takes the Moderate 30's slot (withdrawn); then the summary.
        assert_eq!(keys, ["alert-8", "alert-7", "alert-4", STORM_KEY]);
        assert_eq!(second.withdraw, ["alert-2"]);
        let second = second.show;
        assert_eq!(second[3].summary, "5 new alerts, 3 Moderate — open feed");
        assert_eq!(second[3].lines[0], "3 Moderate · 2 Low");
        let third = s.admit_shown(
            now + Duration::from_secs(2),
            vec![wanted(10, Some(88)), wanted(11, Some(91))],
        );
        let keys: Vec<&str> = third.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["alert-11", "alert-10"], "Urgent is never folded");
        assert!(third.iter().all(|p| p.kind == PopupKind::Alert));
        // Urgent alerts took no slot: the summary still counts 5.
        let fourth = s.admit_shown(now + Duration::from_secs(3), vec![wanted(12, Some(40))]);
        assert_eq!(fourth.len(), 1);
        assert_eq!(fourth[0].summary, "6 new alerts, 1 High — open feed");
    }

    #[test]
    fn the_always_popup_urgency_is_configurable() {
        let mut s = storm(1, 30);
        s.budget.always = 60;
        let out = s.admit_shown(
            Instant::now(),
            vec![
                wanted(0, Some(50)),
                wanted(1, Some(61)),
                wanted(2, Some(70)),
            ],
        );
        let keys: Vec<&str> = out.iter().map(|p| p.key.as_str()).collect();
        // 70 and 61 pop up outside the budget, 50 takes the one slot.
        assert_eq!(keys, ["alert-2", "alert-1", "alert-0"]);
    }

    #[test]
    fn a_summary_of_one_alert_is_that_alerts_popup_until_a_second_one_folds() {
        let mut s = storm(1, 30);
        let now = Instant::now();
        let out = s.admit_shown(now, vec![wanted(0, Some(30)), wanted(1, Some(10))]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].key, "alert-0");
        // No "1 new alert, 1 Low": alert 1 itself, under the summary's key.
        assert_eq!(out[1].summary, "Alert 1");
        assert_eq!(out[1].kind, PopupKind::Alert);
        assert_eq!(out[1].key, STORM_KEY);
        let next = s.admit_shown(now, vec![wanted(2, Some(25))]);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].key, STORM_KEY, "replaces the one-alert pop-up");
        assert_eq!(next[0].summary, "2 new alerts, 1 Moderate — open feed");
    }

    #[test]
    fn the_summary_keeps_counting_across_batches_and_replaces_itself() {
        let mut s = storm(2, 30);
        let now = Instant::now();
        let first = s.admit_shown(now, (0..10).map(|n| wanted(n, None)).collect());
        assert_eq!(first.len(), 3);
        assert_eq!(first[2].summary, "8 new alerts — open feed");
        let later = now + Duration::from_secs(5);
        let second = s.admit(later, (10..20).map(|n| wanted(n, Some(65))).collect());
        // The two slots held by alerts of unknown urgency go to Major ones.
        assert_eq!(second.withdraw, ["alert-0", "alert-1"]);
        let keys: Vec<&str> = second.show.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["alert-10", "alert-11", STORM_KEY]);
        assert_eq!(second.show[2].summary, "18 new alerts, 8 Major — open feed");
        assert_eq!(second.show[2].lines[0], "8 Major · 10 unknown urgency");
    }

    #[test]
    fn the_budget_refills_after_the_window_and_a_new_storm_counts_from_zero() {
        let mut s = storm(1, 30);
        let now = Instant::now();
        assert_eq!(
            s.admit_shown(now, vec![wanted(0, None), wanted(1, None)])
                .len(),
            2
        );
        let after = now + Duration::from_secs(30);
        let out = s.admit_shown(after, vec![wanted(2, None), wanted(3, None)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].key, "alert-2");
        assert_eq!(out[1].summary, "Alert 3", "a new storm of one alert");
    }

    #[test]
    fn notices_are_never_coalesced_nor_counted() {
        let mut s = storm(1, 30);
        let now = Instant::now();
        let mut notice = wanted(99, None);
        notice.popup.kind = PopupKind::Notice;
        let out = s.admit_shown(now, vec![wanted(0, None), notice.clone(), wanted(1, None)]);
        assert_eq!(out.len(), 3);
        assert!(out.iter().any(|p| p.kind == PopupKind::Notice));
        assert_eq!(out[2].summary, "Alert 1");
        let again = s.admit_shown(now, vec![notice]);
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn memory_is_bounded_by_the_budget_not_the_storm() {
        let mut s = storm(5, 30);
        let now = Instant::now();
        for round in 0..200 {
            s.admit_shown(
                now,
                (0..100)
                    .map(|n| wanted(round * 100 + n, Some(30)))
                    .collect(),
            );
        }
        assert_eq!(s.shown.len(), 5);
        assert_eq!(s.tally.total, 200 * 100 - 5);
    }

    #[test]
    fn the_summary_counts_each_alert_in_the_band_the_api_words_it() {
        let mut s = storm(1, 30);
        let now = Instant::now();
        let mut worded = wanted(1, Some(62));
        worded.popup.level = Level::new(Some(62), Some("High"));
        let out = s.admit_shown(now, vec![wanted(0, Some(70)), worded, wanted(2, Some(61))]);
        assert_eq!(out.last().unwrap().lines[0], "1 Major · 1 High");
    }

    #[test]
    fn headlines_read_well_in_the_singular_and_the_plural() {
        let mut t = Tally::default();
        t.add(Some(85));
        assert_eq!(
            t.headline("alert caught up"),
            "1 alert caught up, 1 Urgent — open feed"
        );
        t.add(None);
        assert_eq!(
            t.headline("alert caught up"),
            "2 alerts caught up, 1 Urgent — open feed"
        );
        assert_eq!(
            t.headline("new alert"),
            "2 new alerts, 1 Urgent — open feed"
        );
    }

    /// A Major alert after the budget went to Moderate ones takes the
    /// oldest Moderate's slot: that pop-up is withdrawn and counted in the
    /// summary; an alert in the same band as every slot holder folds.
    #[test]
    fn a_more_urgent_alert_in_a_later_batch_takes_the_lowest_slot() {
        let mut s = storm(3, 60);
        let t0 = Instant::now();
        let first = s.admit(
            t0,
            vec![
                wanted(0, Some(25)),
                wanted(1, Some(30)),
                wanted(2, Some(45)),
            ],
        );
        assert_eq!(first.show.len(), 3);
        assert!(first.withdraw.is_empty());

        let later = s.admit(t0 + Duration::from_secs(5), vec![wanted(3, Some(65))]);
        assert_eq!(
            later.withdraw,
            ["alert-0"],
            "the oldest of the lowest band leaves"
        );
        assert_eq!(later.show[0].key, "alert-3");
        // A summary of one alert is that alert's pop-up, under the storm key.
        assert_eq!(later.show.len(), 2);
        assert_eq!(later.show[1].key, STORM_KEY);
        assert_eq!(later.show[1].summary, "Alert 0");

        let next = s.admit(t0 + Duration::from_secs(6), vec![wanted(4, Some(62))]);
        assert_eq!(next.withdraw, ["alert-1"]);
        assert_eq!(next.show[1].summary, "2 new alerts, 2 Moderate — open feed");

        // Same band as the lowest slot holder (High 45): folded, no churn.
        let same = s.admit(t0 + Duration::from_secs(7), vec![wanted(5, Some(41))]);
        assert!(same.withdraw.is_empty());
        assert_eq!(same.show.len(), 1);
        assert_eq!(same.show[0].summary, "3 new alerts, 1 High — open feed");
    }
}
