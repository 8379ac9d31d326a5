//! Rebuilds the server when anything under `web/` changes: the web application is compiled into
//! the binary (`src/http/routes/webapp.rs`), and a file added there must be picked up too. The
//! same for `migrations/`, which `sqlx::migrate!` embeds: a new migration file must rebuild.
fn main() {
    println!("cargo:rerun-if-changed=../web");
    println!("cargo:rerun-if-changed=../migrations");
}
