//! Routes: which handler takes a new call, with which params.

use serde::Deserialize;
use tipring_hal::{ChannelId, ChannelKind};

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Match {
    /// One channel.
    Channel(u32),
    /// Channels of a kind (`fxs`, `fxo`, …).
    Kind(String),
    /// A named group of channels.
    Group(String),
    /// Every call.
    Any,
}

/// A route: calls matching `matches` go to `handler` with `params`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// What it matches.
    pub matches: Match,
    /// The handler's name.
    pub handler: String,
    /// Its params, JSON.
    pub params: String,
}

/// The first route for a new call on `channel` (of `kind`, in `groups`).
pub fn find<'a>(
    routes: &'a [Route],
    channel: ChannelId,
    kind: &ChannelKind,
    groups: &[String],
) -> Option<&'a Route> {
    routes.iter().find(|r| match &r.matches {
        Match::Channel(n) => *n == channel.0,
        Match::Kind(k) => k == kind.name(),
        Match::Group(g) => groups.iter().any(|x| x == g),
        Match::Any => true,
    })
}
