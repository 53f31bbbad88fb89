pub mod hash;
pub mod search;
pub mod space;
pub mod train;
