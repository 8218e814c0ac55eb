//! Stack-trace text (`exception.stacktrace`) parsed into Sentry exceptions
//! (`errors::stacktrace::parse`).
//!
//! Input: any bytes, read as UTF-8 with invalid sequences replaced.
//! Properties: no panic, with every runtime hint and with none; at most
//! `MAX_EXCEPTIONS` exceptions, each with at most `MAX_FRAMES` frames and
//! `frames_omitted` only when frames were dropped (then exactly `MAX_FRAMES`);
//! `apply_in_app` sets every frame's `in_app` when given prefixes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_core::errors::stacktrace::{
    apply_in_app, parse, Runtime, MAX_EXCEPTIONS, MAX_FRAMES,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let hints = Runtime::ALL.into_iter().map(Some).chain([None]);
    for hint in hints {
        let Some(mut exceptions) = parse(&text, hint) else {
            continue;
        };
        assert!(!exceptions.is_empty(), "{hint:?}");
        assert!(exceptions.len() <= MAX_EXCEPTIONS, "{hint:?}");
        for exception in &exceptions {
            let Some(stacktrace) = &exception.stacktrace else {
                continue;
            };
            assert!(!stacktrace.frames.is_empty(), "{hint:?}");
            assert!(stacktrace.frames.len() <= MAX_FRAMES, "{hint:?}");
            if stacktrace.frames_omitted.is_some() {
                assert_eq!(stacktrace.frames.len(), MAX_FRAMES, "{hint:?}");
            }
        }
        apply_in_app(&mut exceptions, &["/".to_owned(), "com.".to_owned()]);
        let frames = exceptions
            .iter()
            .filter_map(|e| e.stacktrace.as_ref())
            .flat_map(|s| &s.frames);
        for frame in frames {
            assert!(frame.in_app.is_some(), "{hint:?}");
        }
    }
});
