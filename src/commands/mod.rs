//! One file per subcommand: its flags, the call into the library, the
//! printing (results on stdout, diagnostics on stderr) and the exit status.

pub mod albums;
pub mod check;
pub mod completions;
pub mod config;
pub mod demo;
pub mod devices;
pub mod export;
pub mod inspect;
pub mod man;
pub mod rebuild;
pub mod sim;
pub mod sync;
pub mod verify;
pub mod watch;
