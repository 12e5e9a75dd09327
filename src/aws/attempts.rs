//! Counting what went over the wire: an SDK interceptor on every client counts each attempt of each request (the SDK's retries included) and the attempts AWS throttled, which the calls tenantops makes do not show (a run reported 161 requests while the endpoint saw 238).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_cloudformation::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_cloudformation::config::{ConfigBag, Intercept, RuntimeComponents};

/// Attempts sent and attempts throttled, shared by every client of a run.
#[derive(Debug, Default)]
pub struct Attempts {
    sent: AtomicU64,
    throttled: AtomicU64,
}

impl Attempts {
    /// Attempts sent so far (each request once, and once per retry).
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Attempts AWS answered with throttling.
    #[must_use]
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }
}

/// The interceptor that counts into an [`Attempts`].
#[derive(Clone, Debug)]
pub struct Counter(pub Arc<Attempts>);

/// Error codes AWS throttles with, as they appear in a response body (query and JSON
/// protocols; S3's `SlowDown`).
const THROTTLING: &[&[u8]] = &[
    b"Throttling",
    b"RequestLimitExceeded",
    b"TooManyRequestsException",
    b"SlowDown",
    b"RequestThrottled",
];

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "tenantops::aws::attempts::Counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        let status = response.status().as_u16();
        let throttled = status == 429
            || (matches!(status, 400 | 503)
                && response.body().bytes().is_some_and(|body| {
                    THROTTLING
                        .iter()
                        .any(|code| memchr::memmem::find(body, code).is_some())
                }));
        if throttled {
            self.0.throttled.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
