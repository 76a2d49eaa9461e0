//! `hostile`: a stage that misbehaves on request, for the host's sandbox tests. Params
//! `{"attack": NAME, ...}` pick one attack (see [`attacks`]); `echo` is the well-behaved
//! call that shows the instance still works.
mod attacks;

use baton_sdk::json::Object;
use baton_sdk::types::{
    Capabilities, Description, Failure, PluginKind, StageContext, StageOutcome,
};

struct Hostile;

impl baton_sdk::Metadata for Hostile {
    fn describe() -> Description {
        Description {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            kind: PluginKind::Stage,
            summary: "Test plugin that attacks its sandbox on request".into(),
            capabilities: Capabilities {
                http: vec!["*".into()],
                ..Capabilities::default()
            },
        }
    }
}

impl baton_sdk::Stage for Hostile {
    fn run(context: StageContext) -> Result<StageOutcome, Failure> {
        let params = Object::parse("params", &context.params)?;
        attacks::run(params.required_str("attack")?, &params, &context)
    }
}

baton_sdk::export_stage!(Hostile);
