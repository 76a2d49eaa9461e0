//! One API over every served version of `baton:plugin`: the pre-linked instance of each world
//! for 0.1.0 or 0.2.0, instantiated and called with the version-neutral [`types`]. Calls into
//! a 0.1.0 plugin convert their records on the way in and out ([`crate::legacy`]).

use super::bindings::{self, types, v0_1};
use super::inspect::{WitVersion, World};
use super::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::{InstancePre, ResourceAny};

/// A pre-linked resolver of either version.
#[derive(Clone)]
pub enum ResolverPre {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::resolver::ResolverPre<Sandbox>),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::resolver::ResolverPre<Sandbox>),
}

/// An instantiated resolver of either version.
pub enum Resolver {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::resolver::Resolver),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::resolver::Resolver),
}

/// A pre-linked stage of either version.
#[derive(Clone)]
pub enum StagePre {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::stage::StagePre<Sandbox>),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::stage::StagePre<Sandbox>),
}

/// An instantiated stage of either version.
pub enum Stage {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::stage::Stage),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::stage::Stage),
}

/// A pre-linked agent adapter of either version.
#[derive(Clone)]
pub enum AgentPre {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::agent::AgentPre<Sandbox>),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::agent::AgentPre<Sandbox>),
}

/// An instantiated agent adapter of either version.
pub enum Agent {
    /// Built against `baton:plugin@0.1.0`.
    V0_1(v0_1::agent::Agent),
    /// Built against `baton:plugin@0.2.0`.
    V0_2(bindings::agent::Agent),
}

/// The world-specific pre-linked instance.
#[derive(Clone)]
pub enum Pre {
    /// A component of the `resolver` world.
    Resolver(ResolverPre),
    /// A component of the `stage` world.
    Stage(StagePre),
    /// A component of the `agent` world.
    Agent(AgentPre),
}

impl Pre {
    /// Checks the component's exports against the world's types at `version`. Fails (with
    /// wasmtime's reason) when an export's type does not match.
    pub fn new(
        world: World,
        version: WitVersion,
        pre: InstancePre<Sandbox>,
    ) -> wasmtime::Result<Pre> {
        Ok(match (world, version) {
            (World::Resolver, WitVersion::V0_1) => {
                Pre::Resolver(ResolverPre::V0_1(v0_1::resolver::ResolverPre::new(pre)?))
            }
            (World::Resolver, WitVersion::V0_2) => Pre::Resolver(ResolverPre::V0_2(
                bindings::resolver::ResolverPre::new(pre)?,
            )),
            (World::Stage, WitVersion::V0_1) => {
                Pre::Stage(StagePre::V0_1(v0_1::stage::StagePre::new(pre)?))
            }
            (World::Stage, WitVersion::V0_2) => {
                Pre::Stage(StagePre::V0_2(bindings::stage::StagePre::new(pre)?))
            }
            (World::Agent, WitVersion::V0_1) => {
                Pre::Agent(AgentPre::V0_1(v0_1::agent::AgentPre::new(pre)?))
            }
            (World::Agent, WitVersion::V0_2) => {
                Pre::Agent(AgentPre::V0_2(bindings::agent::AgentPre::new(pre)?))
            }
        })
    }

    /// Instantiates the component and calls `metadata.describe`.
    pub async fn describe(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<types::Description> {
        match self {
            Pre::Resolver(pre) => pre.instantiate_async(store).await?.describe(store).await,
            Pre::Stage(pre) => pre.instantiate_async(store).await?.describe(store).await,
            Pre::Agent(pre) => pre.instantiate_async(store).await?.describe(store).await,
        }
    }
}

impl ResolverPre {
    /// A fresh instance in `store`.
    pub async fn instantiate_async(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Resolver> {
        Ok(match self {
            ResolverPre::V0_1(pre) => Resolver::V0_1(pre.instantiate_async(store).await?),
            ResolverPre::V0_2(pre) => Resolver::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

impl Resolver {
    /// `metadata.describe`.
    pub async fn describe(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<types::Description> {
        match self {
            Resolver::V0_1(b) => Ok(b.baton_plugin_metadata().call_describe(store).await?.into()),
            Resolver::V0_2(b) => b.baton_plugin_metadata().call_describe(store).await,
        }
    }

    /// `resolution.resolve`: the candidates, or the plugin's `failure`.
    pub async fn resolve(
        &self,
        store: &mut Store<Sandbox>,
        request: &types::ResolveRequest,
    ) -> wasmtime::Result<Result<Vec<types::Candidate>, types::Failure>> {
        match self {
            Resolver::V0_1(b) => {
                let result = b
                    .baton_plugin_resolution()
                    .call_resolve(store, &request.into())
                    .await?;
                Ok(result
                    .map(|list| list.into_iter().map(types::Candidate::from).collect())
                    .map_err(types::Failure::from))
            }
            Resolver::V0_2(b) => {
                b.baton_plugin_resolution()
                    .call_resolve(store, request)
                    .await
            }
        }
    }
}

impl StagePre {
    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Stage> {
        Ok(match self {
            StagePre::V0_1(pre) => Stage::V0_1(pre.instantiate_async(store).await?),
            StagePre::V0_2(pre) => Stage::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

impl Stage {
    /// `metadata.describe`.
    pub async fn describe(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<types::Description> {
        match self {
            Stage::V0_1(b) => Ok(b.baton_plugin_metadata().call_describe(store).await?.into()),
            Stage::V0_2(b) => b.baton_plugin_metadata().call_describe(store).await,
        }
    }

    /// `stage-runner.run`: the outcome, or the plugin's `failure`.
    pub async fn run(
        &self,
        store: &mut Store<Sandbox>,
        context: &types::StageContext,
    ) -> wasmtime::Result<Result<types::StageOutcome, types::Failure>> {
        match self {
            Stage::V0_1(b) => {
                let result = b
                    .baton_plugin_stage_runner()
                    .call_run(store, &context.into())
                    .await?;
                Ok(result
                    .map(types::StageOutcome::from)
                    .map_err(types::Failure::from))
            }
            Stage::V0_2(b) => b.baton_plugin_stage_runner().call_run(store, context).await,
        }
    }
}

impl AgentPre {
    /// A fresh instance in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Agent> {
        Ok(match self {
            AgentPre::V0_1(pre) => Agent::V0_1(pre.instantiate_async(store).await?),
            AgentPre::V0_2(pre) => Agent::V0_2(pre.instantiate_async(store).await?),
        })
    }
}

impl Agent {
    /// `metadata.describe`.
    pub async fn describe(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<types::Description> {
        match self {
            Agent::V0_1(b) => Ok(b.baton_plugin_metadata().call_describe(store).await?.into()),
            Agent::V0_2(b) => b.baton_plugin_metadata().call_describe(store).await,
        }
    }

    /// `session.open`: the guest's `session` resource, or why it could not be opened.
    pub async fn open(
        &self,
        store: &mut Store<Sandbox>,
        config: &types::SessionConfig,
    ) -> wasmtime::Result<Result<ResourceAny, types::AgentFailure>> {
        match self {
            Agent::V0_1(b) => Ok(b
                .baton_plugin_agent_sessions()
                .session()
                .call_open(store, &config.into())
                .await?
                .map_err(types::AgentFailure::from)),
            Agent::V0_2(b) => {
                b.baton_plugin_agent_sessions()
                    .session()
                    .call_open(store, config)
                    .await
            }
        }
    }

    /// `session.send` on a session `open` returned: the reply, or the agent's failure.
    pub async fn send(
        &self,
        store: &mut Store<Sandbox>,
        session: ResourceAny,
        request: &types::AgentRequest,
    ) -> wasmtime::Result<Result<types::AgentReply, types::AgentFailure>> {
        match self {
            Agent::V0_1(b) => Ok(b
                .baton_plugin_agent_sessions()
                .session()
                .call_send(store, session, &request.into())
                .await?
                .map(types::AgentReply::from)
                .map_err(types::AgentFailure::from)),
            Agent::V0_2(b) => {
                b.baton_plugin_agent_sessions()
                    .session()
                    .call_send(store, session, request)
                    .await
            }
        }
    }
}
