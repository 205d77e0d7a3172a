//! The fuzz seeds (`fuzz/seeds/<target>/`, checked in) as regular tests, so
//! `make test` covers them without nightly: a seed named `ok-*` must parse,
//! `bad-*` must be refused with a typed error, and none may panic. A crash
//! `make fuzz` finds is added there as a seed.

use crate::model::event::Event;
use crate::net::sekoia::parse_alert_list_bytes;
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("seed");
            (name, bytes)
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "too few seeds in {}", dir.display());
    seeds
}

fn check<T, E: std::fmt::Debug>(target: &str, parse: impl Fn(&[u8]) -> Result<T, E>) {
    for (name, bytes) in seeds(target) {
        let result = parse(&bytes);
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{target}/{name}: {:?}", result.err());
        } else if name.starts_with("bad-") {
            assert!(result.is_err(), "{target}/{name} was accepted");
        } else {
            panic!("{target}/{name}: seed names start with ok- or bad-");
        }
    }
}

#[test]
fn every_event_seed_parses_or_is_refused_as_its_name_says() {
    check("event_parse", |bytes| {
        Event::parse(bytes).inspect(|e| assert_eq!(e.raw.as_bytes(), bytes))
    });
}

#[test]
fn every_alert_list_seed_parses_or_is_refused_as_its_name_says() {
    check("alert_list", parse_alert_list_bytes);
}
