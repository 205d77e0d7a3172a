//! `Event::parse` on arbitrary bytes: it must answer an event or a
//! `ParseError`, never panic, and an accepted event keeps its body verbatim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notifier_core::event::Event;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::parse(data) {
        assert_eq!(event.raw.as_bytes(), data);
        let _ = event.dedup_key();
    }
});
