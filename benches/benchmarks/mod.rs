pub mod hash;
pub mod space;
