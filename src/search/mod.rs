//! The search: campaign configs, strategies, and the campaign loop that ties spaces, hashes,
//! evaluators and the store together.

pub mod budget;
pub mod campaign;
pub mod commit;
pub mod config;
pub mod import;
pub mod rehash;
pub mod results;
pub mod stages;
pub mod status;
pub mod strategy;

pub use campaign::{Campaign, End, SearchError};
pub use config::CampaignConfig;
