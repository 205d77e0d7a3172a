//! The Alert API list parser on arbitrary bytes: a page or an
//! `Unreadable` error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notifier_core::sekoia::parse_alert_list_bytes;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_alert_list_bytes(data) {
        for alert in &page.alerts {
            let _ = alert.urgency_value();
        }
    }
});
