//! Exit statuses shared by every command.

/// Exit 0: everything asked for was done and checked.
pub const EXIT_OK: u8 = 0;
/// Exit 1: something failed or was found wrong; everything else was done.
pub const EXIT_PARTIAL: u8 = 1;
/// Exit 2: usage error, or nothing could be done.
pub const EXIT_FATAL: u8 = 2;
