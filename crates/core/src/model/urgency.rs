//! The one urgency scale: Sekoia.io's five words and their cut points (Low
//! 0-19, Moderate 20-39, High 40-59, Major 60-79, Urgent 80-100, the words
//! the API's `urgency.display` gives; DESIGN.md §4). Pop-ups, storm
//! summaries, the feed (`FeedEntry::urgency_band`, which the UI colours),
//! forwarders and `feed --json` all read it from here.
//!
//! Must not: decide what pops up (that is `policy`) or know how a band is
//! shown (colours belong to the UI and to each forwarder).
//!
//! In detail: the one urgency scale, Sekoia.io's (`Band`: Low 0-19, Moderate
//! 20-39, High 40-59, Major 60-79, Urgent 80-100; `Band::rate` prefers the
//! API's `urgency.display` word; `Level` = value + band). Pop-ups, storm
//! summaries, the feed (`FeedEntry::urgency_band`, which `ui/feed.js` colours
//! and filters by: no cut point in the UI), forwarders and `feed --json` read
//! it from here.

use crate::model::alert::Alert;
use serde::{Deserialize, Serialize};

/// One of Sekoia.io's five urgency words, ordered from Low to Urgent (so
/// `Band::Urgent > Band::Major`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Low,
    Moderate,
    High,
    Major,
    Urgent,
}

impl Band {
    /// Every band, most urgent first: the order of storm summaries and of
    /// the feed's urgency menu.
    pub const DESCENDING: [Band; 5] = [
        Band::Urgent,
        Band::Major,
        Band::High,
        Band::Moderate,
        Band::Low,
    ];

    /// The band of an urgency value (0-100; above 100 reads as Urgent).
    pub fn of(value: u8) -> Band {
        match value {
            80.. => Band::Urgent,
            60..=79 => Band::Major,
            40..=59 => Band::High,
            20..=39 => Band::Moderate,
            _ => Band::Low,
        }
    }

    /// Sekoia.io's word, capitalised as the API writes it ("Urgent").
    pub fn word(self) -> &'static str {
        match self {
            Band::Low => "Low",
            Band::Moderate => "Moderate",
            Band::High => "High",
            Band::Major => "Major",
            Band::Urgent => "Urgent",
        }
    }

    /// The lowercase name used in config keys (`[notify.sound] urgent`),
    /// JSON (`urgency_band`) and CSS classes (`u-urgent`).
    pub fn key(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Moderate => "moderate",
            Band::High => "high",
            Band::Major => "major",
            Band::Urgent => "urgent",
        }
    }

    /// The lowest value in the band: 0, 20, 40, 60 or 80.
    pub fn floor(self) -> u8 {
        match self {
            Band::Low => 0,
            Band::Moderate => 20,
            Band::High => 40,
            Band::Major => 60,
            Band::Urgent => 80,
        }
    }

    /// The band a word names, whatever its case ("urgent", "Urgent");
    /// `None` for any other word.
    pub fn from_word(word: &str) -> Option<Band> {
        let word = word.trim();
        Band::DESCENDING
            .into_iter()
            .find(|b| b.word().eq_ignore_ascii_case(word))
    }

    /// The band of a value and the API's display word: the word when it is
    /// one of the five, else the value's band; `None` when neither is known.
    pub fn rate(value: Option<u8>, display: Option<&str>) -> Option<Band> {
        display.and_then(Band::from_word).or(value.map(Band::of))
    }
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// An alert's urgency as pop-ups use it: the value that orders alerts and
/// meets thresholds, and the band that names it and picks its sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// 0-100: the current value, else the initial one.
    pub value: u8,
    pub band: Band,
}

impl Level {
    /// The level of a value and the API's display word (the word wins for
    /// the band); `None` without a value.
    pub fn new(value: Option<u8>, display: Option<&str>) -> Option<Level> {
        let value = value?;
        Some(Level {
            value,
            band: Band::rate(Some(value), display).unwrap_or(Band::of(value)),
        })
    }

    /// The level of an enriched alert (`urgency.current_value`, else
    /// `value`, with `urgency.display`).
    pub fn of_alert(alert: &Alert) -> Option<Level> {
        let display = alert.urgency.as_ref().and_then(|u| u.display.as_deref());
        Level::new(alert.urgency_value(), display)
    }

    /// "Urgent 85".
    pub fn label(self) -> String {
        format!("{} {}", self.band.word(), self.value)
    }
}

/// Sekoia's word for an urgency value, when the API did not give one (the
/// scale of `urgency::Band`).
pub fn urgency_word(value: u8) -> &'static str {
    Band::of(value).word()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_points_are_sekoias_20_40_60_80() {
        for (value, band) in [
            (0, Band::Low),
            (19, Band::Low),
            (20, Band::Moderate),
            (35, Band::Moderate),
            (39, Band::Moderate),
            (40, Band::High),
            (47, Band::High),
            (59, Band::High),
            (60, Band::Major),
            (79, Band::Major),
            (80, Band::Urgent),
            (100, Band::Urgent),
            (255, Band::Urgent),
        ] {
            assert_eq!(Band::of(value), band, "{value}");
            assert!(band.floor() <= value, "{value}");
        }
    }

    #[test]
    fn the_apis_display_word_wins_over_the_value() {
        assert_eq!(Band::rate(Some(62), Some("High")), Some(Band::High));
        assert_eq!(Band::rate(Some(62), Some("urgent")), Some(Band::Urgent));
        // An unknown word falls back to the value's band.
        assert_eq!(Band::rate(Some(62), Some("Critical")), Some(Band::Major));
        assert_eq!(Band::rate(None, Some("Moderate")), Some(Band::Moderate));
        assert_eq!(Band::rate(None, None), None);
        let level = Level::new(Some(47), Some("High")).unwrap();
        assert_eq!(level.label(), "High 47");
        assert_eq!(Level::new(None, Some("High")), None);
    }

    #[test]
    fn bands_order_from_low_to_urgent_and_list_most_urgent_first() {
        assert!(Band::Urgent > Band::Major && Band::Moderate > Band::Low);
        let words: Vec<&str> = Band::DESCENDING.iter().map(|b| b.word()).collect();
        assert_eq!(words, ["Urgent", "Major", "High", "Moderate", "Low"]);
        assert_eq!(
            serde_json::to_string(&Band::Moderate).unwrap(),
            "\"moderate\""
        );
        for band in Band::DESCENDING {
            assert_eq!(Band::from_word(band.key()), Some(band));
        }
    }
}
