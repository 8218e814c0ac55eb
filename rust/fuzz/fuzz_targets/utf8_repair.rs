//! `utf8::repair` (invalid UTF-8 in OTLP strings replaced) on arbitrary bytes.
//!
//! Input: one byte of options, then the request.
//! - bit 0: logs (else traces)
//! - bit 1: every `~` of the request becomes 0xff first, so that seeds of valid requests
//!   with `~` in their strings hold invalid UTF-8 where the structure is still valid
//!
//! Properties: no panic; a request handed back as it is counts no repair, and one prost
//! decodes is handed back as it is; a repaired request counts its repairs, holds nothing left
//! to repair, and prost, if it refuses it, does not for UTF-8 (but in strings nested beyond
//! the walk's bound); repairing costs at most `COST_PER_BYTE` per byte (`cost`).

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::{DecodeError, Message};
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::utf8::repair;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

/// Each field is read once, each string validated once, each byte copied once; a repaired
/// string is at most three times as long.
const COST_PER_BYTE: Cost = Cost {
    regions: 500,
    allocated: 128,
};

/// Messages prost's error names on the way to a string deeper than the walk goes
/// (`utf8::MAX_DEPTH`, 64 levels): there a UTF-8 error may stay.
const DEEPER_THAN_WALKED: usize = 60;

fn decode(signal: OtlpSignal, bytes: &[u8]) -> Result<(), DecodeError> {
    match signal {
        OtlpSignal::Traces => ExportTraceServiceRequest::decode(bytes).map(drop),
        OtlpSignal::Logs => ExportLogsServiceRequest::decode(bytes).map(drop),
    }
}

/// `repair`'s count, and its copy when it made one (`None`: it handed back `request` itself).
fn repaired(signal: OtlpSignal, request: &[u8]) -> (u64, Option<Vec<u8>>) {
    let repaired = repair(signal, request);
    match repaired.request {
        Cow::Borrowed(bytes) => {
            assert!(std::ptr::eq(bytes, request), "borrowed, not the request");
            (repaired.strings, None)
        }
        Cow::Owned(bytes) => (repaired.strings, Some(bytes)),
    }
}

fn run(signal: OtlpSignal, request: &[u8]) {
    let (strings, copy) = assert_linear("repair", request, COST_PER_BYTE, |r| repaired(signal, r));
    let Some(bytes) = copy else {
        assert_eq!(strings, 0, "repairs counted, none made");
        return;
    };
    assert!(strings > 0, "a copy without a repair");
    assert!(
        decode(signal, request).is_err(),
        "a request prost decodes was changed"
    );
    assert_eq!(
        repaired(signal, &bytes),
        (0, None),
        "a repaired request holds more to repair"
    );
    if let Err(e) = decode(signal, &bytes) {
        let text = e.to_string();
        // prost's message names each message on the way: `A.field: B.field: ...`.
        let depth = text.matches(": ").count();
        assert!(
            !text.contains("UTF-8") || depth > DEEPER_THAN_WALKED,
            "prost refuses a repaired request for UTF-8: {text}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, request)) = data.split_first() else {
        return;
    };
    let signal = if options & 1 == 0 {
        OtlpSignal::Traces
    } else {
        OtlpSignal::Logs
    };
    if options & 2 == 0 {
        run(signal, request);
    } else {
        let spoiled: Vec<u8> = request
            .iter()
            .map(|&b| if b == b'~' { 0xff } else { b })
            .collect();
        run(signal, &spoiled);
    }
});
