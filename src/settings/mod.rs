//! Settings: the endpoints the user added and their keys in the browser's storage
//! ([`store`]), and the page that edits them ([`settings_view`]).

pub mod settings_view;
pub mod store;
