//! Rebuilds the server when anything under `web/` changes: the web application is compiled into
//! the binary (`src/http/routes/webapp.rs`), and a file added there must be picked up too.
fn main() {
    println!("cargo:rerun-if-changed=../web");
}
