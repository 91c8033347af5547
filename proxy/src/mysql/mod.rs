//! placeholder
pub mod packet;
