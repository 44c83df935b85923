//! The fixture camera roll (see docs/fixtures.md).
