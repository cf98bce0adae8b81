//! The feed and its data, in two sides.
//!
//! The page's side: the live loop every tab reads through ([`live`]), the poll
//! loop's state ([`poll`]), and the handle on the engine ([`engine::Engine`]).
//!
//! The engine (the panel's Web Worker, or the page when none can run): where the
//! records come from ([`source`]: an endpoint server's metrics feed or the Demo),
//! what one request can answer ([`api`]), the records held for the window and the
//! numbers computed from them ([`data`]), the engine that keeps them per feed and
//! answers the page's questions ([`host`]), and the Demo endpoint answering as a
//! server does ([`demo`]).
//!
//! Between the two: the messages ([`messages`]) and the link that carries them to
//! the worker, or answers them here when it cannot ([`link`]).

pub mod api;
pub mod data;
pub mod demo;
pub mod engine;
pub mod host;
pub mod link;
pub mod live;
pub mod messages;
pub mod poll;
pub mod source;
