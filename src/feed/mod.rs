//! The feed and its data: where the records come from ([`source`]: an endpoint
//! server's metrics feed or the in-browser Demo), what one request can answer
//! ([`api`]), the poll loop's state ([`poll`]), the records held for the window and
//! the numbers computed from them ([`data`]), and the live loop every tab reads
//! through ([`live`]). The Demo endpoint answers as a server does ([`demo`]), from
//! the panel's Web Worker ([`engine`]).

pub mod api;
pub mod data;
pub mod demo;
pub mod engine;
pub mod live;
pub mod poll;
pub mod source;
