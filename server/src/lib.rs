//! The Assize server library (see main.rs for the binary).
