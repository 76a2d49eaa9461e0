//! `not-a-plugin`: a plain `wasi:cli/command` component that prints `hello`. The host's
//! tests use it to check that a component exporting none of Baton's worlds is refused.
fn main() {
    println!("hello");
}
