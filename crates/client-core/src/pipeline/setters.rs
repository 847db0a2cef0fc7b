//! The pipeline settings every client builder offers, written once.

/// Writes the pipeline settings every client builder offers — `max_concurrency`,
/// `retry_policy`, `retry_budget`, `attempt_timeout`, `connect_timeout`, `clock` and
/// `transport` — into an `impl` block of a builder that keeps a
/// [`PipelineBuilder`](crate::PipelineBuilder) in the field named by the argument. Each one
/// hands its value to that pipeline builder, so a client's own defaults are set once, where
/// the builder is made.
///
/// ```
/// use client_core::{Pipeline, PipelineBuilder, RetryPolicy};
///
/// #[derive(Debug)]
/// pub struct MyClientBuilder {
///     pipeline: PipelineBuilder,
/// }
///
/// impl MyClientBuilder {
///     client_core::pipeline_setters!(pipeline);
///
///     pub fn new() -> Self {
///         Self { pipeline: Pipeline::builder().max_concurrency(4) }
///     }
/// }
///
/// let b = MyClientBuilder::new().retry_policy(RetryPolicy::none()).max_concurrency(2);
/// assert_eq!(b.pipeline.configured_retry_policy().max_attempts(), 1);
/// ```
#[macro_export]
macro_rules! pipeline_setters {
    ($field:ident) => {
        /// Requests in flight at once through this client (at least 1).
        pub fn max_concurrency(mut self, n: usize) -> Self {
            self.$field = self.$field.max_concurrency(n);
            self
        }

        /// The retry policy: which answers are retried, how often and with what backoff.
        pub fn retry_policy(mut self, policy: $crate::RetryPolicy) -> Self {
            self.$field = self.$field.retry_policy(policy);
            self
        }

        /// The retry budget shared by this client's requests (share one between clients to
        /// bound their retries together).
        pub fn retry_budget(mut self, budget: $crate::RetryBudget) -> Self {
            self.$field = self.$field.retry_budget(budget);
            self
        }

        /// The timeout of one attempt, from sending to the last byte of the body.
        pub fn attempt_timeout(mut self, d: std::time::Duration) -> Self {
            self.$field = self.$field.attempt_timeout(d);
            self
        }

        /// The TCP/TLS connect timeout of the default transport.
        pub fn connect_timeout(mut self, d: std::time::Duration) -> Self {
            self.$field = self.$field.connect_timeout(d);
            self
        }

        /// The clock for backoff, `Retry-After` and waits (tests use
        /// `client_core::ManualClock`).
        pub fn clock(mut self, clock: $crate::SharedClock) -> Self {
            self.$field = self.$field.clock(clock);
            self
        }

        /// Sends requests through `transport` instead of the default HTTP stack (tests use
        /// `client_core::mock::MockTransport`).
        pub fn transport(mut self, transport: std::sync::Arc<dyn $crate::HttpTransport>) -> Self {
            self.$field = self.$field.transport(transport);
            self
        }
    };
}
