//! Random search: every candidate drawn uniformly from the space (the baseline every NAS paper
//! reports).

use super::{random_proposal, Ctx, Member, Proposal, Strategy};
use crate::hash::FunctionalHash;
use crate::space::{AnyGenotype, SpaceError};

/// Uniform random sampling; stateless.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomSearch;

impl Strategy for RandomSearch {
    fn propose(&mut self, ctx: &mut Ctx<'_>) -> Result<Proposal, SpaceError> {
        random_proposal(ctx)
    }

    fn observe(
        &mut self,
        _: &AnyGenotype,
        _: &serde_json::Value,
        _: FunctionalHash,
        _: Option<f64>,
    ) -> Vec<Member> {
        Vec::new()
    }

    fn save(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
