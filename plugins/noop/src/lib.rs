use baton_sdk::types::*;
struct Noop;
impl baton_sdk::Metadata for Noop {
    fn describe() -> Description {
        Description { name: "noop".into(), version: "0.1.0".into(), kind: PluginKind::Resolver, summary: "x".into(),
          capabilities: Capabilities { http: vec![], files: vec![], exec: vec![], env: vec![], state: false } }
    }
}
impl baton_sdk::Resolver for Noop {
    fn resolve(r: ResolveRequest) -> Result<Vec<Candidate>, Failure> { let _ = r; Ok(vec![]) }
}
baton_sdk::export_resolver!(Noop);
