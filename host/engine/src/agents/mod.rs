//! Agent prompts as pipeline stages: what a prompt stage declares ([`stage`]), how its
//! prompt is rendered ([`prompt`]), the adapters behind a small trait ([`port`]), the
//! completion markers and daily manifests ([`marker`]), provider limits, parks and
//! authentication breakers ([`guard`]), the work of one prompt job ([`work`]) and prompt
//! registries in TSV ([`registry`]).

pub mod guard;
pub mod marker;
pub mod port;
pub mod prompt;
pub mod registry;
pub mod stage;
pub mod work;
