//! The agent world's own export, `baton:plugin/agent-sessions`: implement [`Agent`] (which
//! only names the session type), [`GuestSession`] for that type and
//! [`Metadata`](crate::Metadata), then call [`export_agent!`](crate::export_agent).
//! `open` wraps a new session value with [`Session::new`].
wit_bindgen::generate!({
    inline: "
        package baton:sdk;
        world agent { export baton:plugin/agent-sessions@0.2.0; }
    ",
    path: "wit",
    with: { "baton:plugin/plugin-types@0.2.0": crate::types },
    pub_export_macro: true,
    default_bindings_module: "baton_sdk::agent",
});

pub use self::exports::baton::plugin::agent_sessions::{Guest as Agent, GuestSession, Session};
