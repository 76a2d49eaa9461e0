//! `future-version`: a resolver-shaped component built against `baton:plugin@0.3.0`, a
//! contract version the host does not serve, from an inline WIT and without the SDK. The
//! host's tests check that it is refused at load with a message naming both versions.
wit_bindgen::generate!({
    inline: "
        package baton:plugin@0.3.0;

        interface metadata {
            describe: func() -> string;
        }

        interface resolution {
            resolve: func(id: string) -> list<string>;
        }

        world resolver {
            export metadata;
            export resolution;
        }
    ",
});

struct FutureVersion;

impl exports::baton::plugin::metadata::Guest for FutureVersion {
    fn describe() -> String {
        "future-version".into()
    }
}

impl exports::baton::plugin::resolution::Guest for FutureVersion {
    fn resolve(_id: String) -> Vec<String> {
        Vec::new()
    }
}

export!(FutureVersion);
