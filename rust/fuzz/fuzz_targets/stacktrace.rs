//! Stack-trace text (`exception.stacktrace`) parsed into Sentry exceptions
//! (`errors::stacktrace::parse`).
//!
//! Input: any bytes, read as UTF-8 with invalid sequences replaced.
//! Properties: no panic, with every runtime hint and with none; at most
//! `MAX_EXCEPTIONS` exceptions, each with at most `MAX_FRAMES` frames and
//! `frames_omitted` only when frames were dropped (then exactly `MAX_FRAMES`);
//! `apply_in_app` sets every frame's `in_app` when given prefixes; a parse costs at most
//! `COST_PER_BYTE` per input byte (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_core::issues::stacktrace::{
    apply_in_app, parse, Runtime, MAX_EXCEPTIONS, MAX_FRAMES,
};
use sentry_exporter_fuzz::cost::{assert_linear, assert_per_byte, measure, Cost};

/// Without a hint every runtime's parser may try the text, each in one pass.
const COST_PER_BYTE: Cost = Cost {
    regions: 5_000,
    allocated: 512,
};

fuzz_target!(|data: &[u8]| {
    let hints = Runtime::ALL.into_iter().map(Some).chain([None]);
    for hint in hints {
        let what = format!("parse, {hint:?}");
        let parse = |bytes: &[u8]| parse(&String::from_utf8_lossy(bytes), hint);
        // Without a hint every parser runs: the repeated inputs once, for all of them.
        let parsed = match hint {
            None => assert_linear(&what, data, COST_PER_BYTE, parse),
            Some(_) => {
                let (parsed, cost) = measure(|| parse(data));
                assert_per_byte(&what, data.len(), cost, COST_PER_BYTE);
                parsed
            }
        };
        let Some(mut exceptions) = parsed else {
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
