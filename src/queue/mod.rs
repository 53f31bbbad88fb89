//! The work queue: evaluation jobs on Redis Streams, so that workers on other machines (started
//! by Slurm, Kubernetes or by hand) evaluate a campaign's candidates while its coordinator
//! stays the only process that writes the store.
//!
//! Keys, all under `evonas:` in the URL's database:
//! - `evonas:jobs`, the job stream, read by the consumer group `workers`. An entry: `v` (queue
//!   schema), `id` (the job id, from campaign, round and slot), `reply` (the results stream of
//!   the campaign that asked), `max_deliveries`, `job` (the [`Job`](crate::eval::job::Job) as
//!   JSON).
//! - `evonas:results:<campaign>`, one stream per campaign, read only by its coordinator. An
//!   entry: `v`, `id`, `worker`, `answer` (an [`Answer`](message::Answer) as JSON).
//! - `evonas:published:<campaign>`, a hash from job id to its entry on the job stream.
//!
//! Delivery is at least once (the group's pending-entries list; a dead worker's job is taken
//! over when its lease expires); the coordinator makes it exactly once in the store by
//! committing the first answer to each outstanding job and ignoring the rest.

pub mod address;
pub mod link;
pub mod message;
pub mod remote;
pub mod worker;

pub use address::QueueAddress;
pub use link::QueueError;
