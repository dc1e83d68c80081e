//! The gateway's integration tests, in one binary: the event fixtures of
//! past versions. (Its API and pages are tested through the binary's own
//! wiring, in the `liaison` crate and in `tests/`.)

mod event_fixtures;
