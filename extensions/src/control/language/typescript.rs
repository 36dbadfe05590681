//! The `typescript` language: TypeScript whose types are stripped by oxc (parse, semantic analysis,
//! the TypeScript transform, code generation) when the spec is compiled; the JavaScript that remains
//! runs as the `javascript` language does. Nothing is type-checked: types are only removed. Syntax
//! errors are compile errors of the `code` field with their line and column in the TypeScript.

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_codegen::Codegen;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

use super::CompileError;

/// The JavaScript of `code` with its types removed.
pub(super) fn strip_types(code: &str) -> Result<String, CompileError> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, code, SourceType::ts()).parse();
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return Err(describe(code, "SyntaxError", &parsed.diagnostics));
    }
    let mut program = parsed.program;
    let semantic = SemanticBuilder::new().build(&program);
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions::default();
    let transformed = Transformer::new(&allocator, Path::new("snippet.ts"), &options)
        .build_with_scoping(scoping, &mut program);
    if !transformed.diagnostics.is_empty() {
        return Err(describe(code, "TypeScript", &transformed.diagnostics));
    }
    Ok(Codegen::new().build(&program).code)
}

/// The first diagnostic as a sentence, with its line and column in `code`.
fn describe(code: &str, what: &str, diagnostics: &[oxc_diagnostics::OxcDiagnostic]) -> CompileError {
    let Some(first) = diagnostics.first() else {
        return CompileError::Code(format!("{what}: the TypeScript could not be parsed"));
    };
    let mut text = format!("{what}: {}", first.message);
    if let Some(label) = first.labels.first() {
        let (line, column) = line_column(code, label.offset() as usize);
        text.push_str(&format!(" (at line {line}, column {column})"));
    }
    if diagnostics.len() > 1 {
        text.push_str(&format!(" (and {} more)", diagnostics.len() - 1));
    }
    CompileError::Code(text)
}

/// 1-based line and column (in characters) of byte `offset` in `code`.
fn line_column(code: &str, offset: usize) -> (usize, usize) {
    let before = &code[..code.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// `str::floor_char_boundary` for the toolchains that lack it.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, i: usize) -> usize {
        let mut i = i.min(self.len());
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}
