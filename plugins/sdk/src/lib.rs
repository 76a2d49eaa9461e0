mod bindings;
pub mod metadata;
pub mod resolver;

pub use bindings::baton::plugin::types;
pub use metadata::Metadata;
pub use resolver::Resolver;

#[macro_export]
macro_rules! export_resolver {
    ($plugin:ident) => {
        $crate::metadata::export!($plugin with_types_in $crate::metadata);
        $crate::resolver::export!($plugin with_types_in $crate::resolver);
    };
}
