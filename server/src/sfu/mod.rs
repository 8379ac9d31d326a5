//! The hearing SFU (selective forwarding unit): who hears and sees whom in a remote hearing.
//!
//! ## Module map
//! - [`room`]: the room model and **the** forwarding decision, [`room::may_forward`]. Pure:
//!   no IO, no WebRTC types; tested exhaustively as a table.

pub mod room;
