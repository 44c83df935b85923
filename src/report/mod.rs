//! Reports of the operations' outcomes for people: the self-contained HTML
//! page (`--report FILE.html`). The short text summaries are the outcomes'
//! own `human()`.

pub mod html;
