//! The matrix for people (text), browsers (one self-contained HTML file) and tools (JSON).

pub mod html;
pub mod json;
pub mod text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Html,
}

pub fn render(m: &crate::Matrix, format: Format) -> String {
    match format {
        Format::Text => text::render(m),
        Format::Json => json::render(m),
        Format::Html => html::render(m),
    }
}

/// Operations that appear in at least one result, in matrix order.
pub fn columns(m: &crate::Matrix) -> Vec<crate::Operation> {
    crate::Operation::ALL.into_iter().filter(|op| m.results.iter().any(|r| r.operation == *op)).collect()
}
