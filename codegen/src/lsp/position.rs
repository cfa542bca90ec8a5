//! Byte offsets (what the parser and the checker speak) to LSP positions
//! (line and UTF-16 code unit, what editors speak) and back. Out-of-range
//! positions are clamped, never a panic: an editor may ask about a line
//! that a newer edit removed.

use lsp_types::{Position, Range};

use crate::syntax::Span;

/// Where the lines of one text start.
#[derive(Clone, Debug)]
pub struct LineMap {
    /// Byte offset of each line's first character; the first is 0.
    starts: Vec<usize>,
}

impl LineMap {
    /// Indexes the lines of `source`.
    pub fn new(source: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineMap { starts }
    }

    /// The LSP position of byte `offset` in `source` (the text this map was
    /// built from). An offset inside a character counts as its start.
    pub fn position(&self, source: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts[line];
        let character = source[start..offset].encode_utf16().count();
        Position::new(to_u32(line), to_u32(character))
    }

    /// The LSP range of a byte span.
    pub fn range(&self, source: &str, span: &Span) -> Range {
        Range::new(
            self.position(source, span.start),
            self.position(source, span.end.max(span.start)),
        )
    }

    /// The byte offset of an LSP position. A line past the end answers the
    /// end of the text; a character past the end of its line answers the
    /// end of the line; a position between the two halves of a surrogate
    /// pair answers the character's start.
    pub fn offset(&self, source: &str, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return source.len();
        };
        let line = &source[start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut units = 0;
        for (i, c) in line.char_indices() {
            let next = units + c.len_utf16();
            if next > position.character as usize {
                return start + i;
            }
            units = next;
        }
        start + line.len()
    }
}

/// The largest character boundary at or before `offset`.
fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units_after_chinese_text_and_circled_digits() {
        let src = "state A \"a\" zh \"不存在\" X\n// ①-⑦ then 𝄞 Y\nZ";
        let map = LineMap::new(src);
        let x = src.find('X').unwrap();
        assert_eq!(map.position(src, x), Position::new(0, 21));
        let y = src.find('Y').unwrap();
        // `①` and `⑦` are one unit each, `𝄞` (outside the BMP) is two.
        assert_eq!(map.position(src, y), Position::new(1, 15));
        for offset in [0, x, y, src.len()] {
            assert_eq!(map.offset(src, map.position(src, offset)), offset);
        }
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let src = "ab\r\ncd";
        let map = LineMap::new(src);
        assert_eq!(map.offset(src, Position::new(0, 99)), 2);
        assert_eq!(map.offset(src, Position::new(1, 99)), src.len());
        assert_eq!(map.offset(src, Position::new(7, 0)), src.len());
        assert_eq!(map.position(src, 999), Position::new(1, 2));
    }

    #[test]
    fn an_offset_inside_a_character_counts_as_its_start() {
        let src = "不X";
        let map = LineMap::new(src);
        assert_eq!(map.position(src, 1), Position::new(0, 0));
        // Half of a surrogate pair.
        let src = "𝄞X";
        assert_eq!(LineMap::new(src).offset(src, Position::new(0, 1)), 0);
    }
}
