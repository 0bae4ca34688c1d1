//! What a run leaves behind: every operation as a checkable history
//! ([`recorder`]) and the trace whose hash two runs of one seed share
//! ([`trace`]), the members' own events for the report
//! ([`member_events`]) and their lines about who votes
//! ([`membership_lines`]), what their logs say of writes nobody learned the
//! outcome of ([`persisted`]), and how much of the load was served
//! ([`availability`]). Read and written in both builds.

pub mod availability;
pub mod coincidences;
pub mod member_events;
pub mod membership_lines;
pub mod persisted;
pub mod recorder;
pub mod trace;

pub use recorder::Recorder;
