//! `baton-double`: the test double for LLM providers (see the `baton-double` crate and
//! docs/agents.md, "The test double").
fn main() {
    let code = baton_double::main(std::env::args().skip(1).collect());
    std::process::exit(code);
}
