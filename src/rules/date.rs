//! The dates `before` / `after` compare: the event parser's, which validates
//! `start_date` / `end_date` with the same function, so a date the engine
//! accepted is one the rules can compare.

pub(crate) use crate::events::date::parse;
