//! Trace metrics as a payload ([`Payload`]): a project's metrics converted to envelopes, sent
//! in order, and settled by [`super::settle`]'s rule.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::OwnedMutexGuard;

use super::envelope::MetricsEnvelope;
use super::settle::{self, EnvelopesFate};
use super::{Converted, MetricState};
use crate::clock::Instant;
use crate::ingest::envelope::EnvelopeTransport;
use crate::ingest::Transport;
use crate::job::Job;
use crate::outcome::{Counted, DropReason, Unit};
use crate::payload::{Part, Payload, Planned, Ran};
use crate::signal::Signal;
use crate::telemetry::Telemetry;

/// The trace metrics of one exporter.
pub struct TraceMetrics {
    state: MetricState,
    transport: Arc<EnvelopeTransport>,
    telemetry: Arc<Telemetry>,
}

/// One project's metrics batch, converted, while it is sent.
pub struct MetricsPlan {
    /// Held from conversion to settling: one batch of a project at a time.
    _one_batch_at_a_time: OwnedMutexGuard<()>,
    slug: crate::slug::Slug,
    /// The project's part of the batch, to hand back whole.
    request: Vec<u8>,
    /// Its metrics: the collector's items, as the router counts them (a metric holds
    /// data points, which become trace metric items).
    metrics: u64,
    /// The conversion; `Err`: the metrics could not be read.
    converted: Result<Converted, String>,
}

impl TraceMetrics {
    pub fn new(
        state: MetricState,
        transport: Arc<EnvelopeTransport>,
        telemetry: Arc<Telemetry>,
    ) -> TraceMetrics {
        TraceMetrics {
            state,
            transport,
            telemetry,
        }
    }

    /// What the batch's metrics and trace metric items count as once `fate` is known and the
    /// series moved.
    fn counted(&self, plan: MetricsPlan, fate: &EnvelopesFate, sent: u64) -> Vec<Counted> {
        let unit = Unit::TraceMetricItems;
        let mut counted = vec![Counted::Sent {
            unit,
            items: sent,
            rejected: 0,
            message: String::new(),
        }];
        let dropped = |(reason, items, detail): &(DropReason, u64, String)| Counted::Dropped {
            unit,
            items: *items,
            reason: *reason,
            detail: detail.clone(),
        };
        counted.extend(fate.dropped.iter().map(dropped));
        let metrics = Unit::Items(Signal::Metrics);
        if let Some((reason, delay)) = &fate.back {
            // Its conversion is not counted: the retry reads its points again.
            counted.push(Counted::Retry {
                signal: Signal::Metrics,
                request: plan.request,
                items: plan.metrics,
                reason: reason.clone(),
                delay: *delay,
            });
            return counted;
        }
        if let Ok(converted) = &plan.converted {
            counted.extend(self.conversion(converted).iter().map(dropped));
        }
        counted.push(match fate.metrics_dropped() {
            Some((reason, detail)) => Counted::Dropped {
                unit: metrics,
                items: plan.metrics,
                reason,
                detail: detail.to_owned(),
            },
            None => Counted::Sent {
                unit: metrics,
                items: plan.metrics,
                rejected: 0,
                message: String::new(),
            },
        });
        counted
    }

    /// What the conversion of a batch left out (counted once the batch is done).
    fn conversion(&self, converted: &Converted) -> Vec<(DropReason, u64, String)> {
        let telemetry = &self.telemetry;
        telemetry.metric_points_received(converted.points);
        telemetry.metric_points_excluded(converted.excluded + converted.unreadable);
        let left_out = [
            (
                DropReason::Capped,
                converted.capped,
                "over metrics.max_items_per_minute",
            ),
            (
                DropReason::SeriesLimit,
                converted.series_limit,
                "their series found no room in metrics.max_series_mib",
            ),
            (
                DropReason::TooLarge,
                converted.too_large,
                "over Sentry's limit per trace metric (1 MiB) or per envelope",
            ),
        ];
        (left_out.into_iter())
            .filter(|(_, items, _)| *items > 0)
            .map(|(reason, items, detail)| (reason, items, detail.to_owned()))
            .collect()
    }
}

impl Payload for TraceMetrics {
    type Piece = MetricsEnvelope;
    type Plan = MetricsPlan;

    fn takes(&self, signal: Signal) -> bool {
        signal == Signal::Metrics
    }

    fn transport(&self) -> &dyn Transport<MetricsEnvelope> {
        &*self.transport
    }

    async fn plan(
        &self,
        part: &Part<'_>,
        now: Instant,
        _wall: SystemTime,
    ) -> Planned<TraceMetrics> {
        let guard = self.state.serialize(part.slug).await;
        let converted = self.state.convert(part.slug, part.blocks(), now);
        let mut converted = converted.map_err(|e| format!("the metrics could not be read: {e}"));
        let pieces = converted.as_mut().map(|c| std::mem::take(&mut c.pieces));
        let job = Job::in_order(pieces.unwrap_or_default()).with_platform(part.platform);
        Planned {
            jobs: vec![job],
            concurrency: 1,
            plan: MetricsPlan {
                _one_batch_at_a_time: guard,
                slug: part.slug.clone(),
                request: part.request(),
                metrics: part.items(),
                converted,
            },
        }
    }

    fn settle(
        &self,
        mut plan: MetricsPlan,
        ran: Vec<Ran<MetricsEnvelope>>,
        now: Instant,
    ) -> Vec<Counted> {
        let fate = settle::fate(ran);
        let converted = match &mut plan.converted {
            Ok(converted) => converted,
            Err(detail) => {
                return vec![Counted::Dropped {
                    unit: Unit::Items(Signal::Metrics),
                    items: plan.metrics,
                    reason: DropReason::Rejected,
                    detail: detail.clone(),
                }]
            }
        };
        let settled = self.state.settle(
            &plan.slug,
            converted,
            &fate.accepted,
            &fate.retried,
            fate.known,
            now,
        );
        self.telemetry.metric_series(self.state.series());
        self.counted(plan, &fate, settled.sent)
    }
}
