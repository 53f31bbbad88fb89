//! The search: campaign configs, strategies, and the campaign loop that ties spaces, hashes,
//! evaluators and the store together.

pub mod campaign;
pub mod config;
pub mod results;
pub mod status;
pub mod strategy;

pub use campaign::{Campaign, End, SearchError};
pub use config::CampaignConfig;
