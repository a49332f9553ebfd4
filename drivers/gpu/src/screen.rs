//! The tile status screen and its rendering into a B8G8R8X8 framebuffer: a background, a
//! title bar with the title text, and [`ROWS`] striped rows of text, drawn with the public
//! domain 8x8 bitmap font of the `font8x8` crate at twice its size (16x16 pixels a
//! character).

use font8x8::legacy::BASIC_LEGACY;
use heapless::String;
use tileos_protocol::display::MAX_TEXT;

/// Rows of text below the title bar.
pub const ROWS: usize = 16;
/// Pixels per font pixel.
pub const SCALE: usize = 2;
/// Pixels of one character cell (square).
pub const CELL: usize = 8 * SCALE;
/// Height of the title bar.
pub const TITLE_HEIGHT: usize = 32;
/// Top of the first row.
pub const ROW_TOP: usize = 40;
/// Height of a row.
pub const ROW_HEIGHT: usize = 20;
/// Left margin of text.
pub const MARGIN: usize = 8;
/// Smallest framebuffer that shows every row.
pub const MIN_WIDTH: usize = 320;
/// Smallest framebuffer height that shows every row.
pub const MIN_HEIGHT: usize = ROW_TOP + ROWS * ROW_HEIGHT;

/// Colours as B8G8R8X8 pixels (`0x00RRGGBB`).
pub mod colour {
    /// Screen background (dark slate).
    pub const BACKGROUND: u32 = 0x00_1E_24_30;
    /// Every other row (a little lighter than the background).
    pub const STRIPE: u32 = 0x00_28_30_40;
    /// Title bar (blue).
    pub const TITLE_BAR: u32 = 0x00_1F_6F_C0;
    /// Title text (white).
    pub const TITLE_TEXT: u32 = 0x00_FF_FF_FF;
    /// Row text (light green).
    pub const ROW_TEXT: u32 = 0x00_A0_E8_A0;
}

/// A framebuffer of `width` by `height` pixels, row after row without padding.
pub struct Canvas<'a> {
    pixels: &'a mut [u32],
    width: usize,
    height: usize,
}

impl<'a> Canvas<'a> {
    /// The canvas over `pixels`, or `None` if it holds fewer than `width * height`.
    pub fn new(pixels: &'a mut [u32], width: usize, height: usize) -> Option<Canvas<'a>> {
        (width.checked_mul(height)? <= pixels.len()).then_some(Canvas { pixels, width, height })
    }

    /// The pixel at (`x`, `y`) (`None` outside the canvas).
    pub fn pixel(&self, x: usize, y: usize) -> Option<u32> {
        (x < self.width && y < self.height).then(|| self.pixels[y * self.width + x])
    }

    /// Fills the rectangle at (`x`, `y`) of `width` by `height`, clipped to the canvas.
    pub fn fill(&mut self, x: usize, y: usize, width: usize, height: usize, colour: u32) {
        let (right, bottom) = ((x + width).min(self.width), (y + height).min(self.height));
        for row in y.min(bottom)..bottom {
            self.pixels[row * self.width + x.min(right)..row * self.width + right].fill(colour);
        }
    }

    /// Draws `text` with its top-left corner at (`x`, `y`) in `colour` (transparent
    /// background), one [`CELL`] per character, clipped to the canvas. Characters outside
    /// printable ASCII are drawn as `?`.
    pub fn text(&mut self, x: usize, y: usize, text: &str, colour: u32) {
        for (index, character) in text.chars().enumerate() {
            let code = if character.is_ascii_graphic() || character == ' ' { character as usize } else { '?' as usize };
            let left = x + index * CELL;
            if left >= self.width {
                break;
            }
            for (glyph_row, bits) in BASIC_LEGACY[code].iter().enumerate() {
                for column in (0..8).filter(|column| bits & (1 << column) != 0) {
                    self.fill(left + column * SCALE, y + glyph_row * SCALE, SCALE, SCALE, colour);
                }
            }
        }
    }
}

/// Why a screen change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenError {
    /// The row is not below [`ROWS`].
    RowOutOfRange,
}

/// What the status screen shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Screen {
    title: String<MAX_TEXT>,
    lines: [String<MAX_TEXT>; ROWS],
}

impl Screen {
    /// A screen with `title` and no rows (the title is cut to [`MAX_TEXT`] bytes).
    pub fn new(title: &str) -> Screen {
        let mut screen = Screen::default();
        screen.set_title(title);
        screen
    }

    /// Replaces the title.
    pub fn set_title(&mut self, title: &str) {
        self.title = truncated(title);
    }

    /// Replaces row `row` (0 = top).
    pub fn set_line(&mut self, row: usize, text: &str) -> Result<(), ScreenError> {
        *self.lines.get_mut(row).ok_or(ScreenError::RowOutOfRange)? = truncated(text);
        Ok(())
    }

    /// Row `row`'s text (empty if not set or out of range).
    pub fn line(&self, row: usize) -> &str {
        self.lines.get(row).map_or("", |line| line.as_str())
    }

    /// Draws the whole screen.
    pub fn render(&self, canvas: &mut Canvas) {
        let width = canvas.width;
        canvas.fill(0, 0, width, canvas.height, colour::BACKGROUND);
        canvas.fill(0, 0, width, TITLE_HEIGHT, colour::TITLE_BAR);
        canvas.text(MARGIN, (TITLE_HEIGHT - CELL) / 2, &self.title, colour::TITLE_TEXT);
        for (row, line) in self.lines.iter().enumerate() {
            let top = ROW_TOP + row * ROW_HEIGHT;
            if row % 2 == 1 {
                canvas.fill(0, top, width, ROW_HEIGHT, colour::STRIPE);
            }
            canvas.text(MARGIN, top + (ROW_HEIGHT - CELL) / 2, line, colour::ROW_TEXT);
        }
    }
}

/// `text` cut to at most [`MAX_TEXT`] bytes at a character boundary.
fn truncated(text: &str) -> String<MAX_TEXT> {
    let mut out = String::new();
    for character in text.chars() {
        if out.push(character).is_err() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas_of(pixels: &mut [u32], width: usize, height: usize) -> Canvas<'_> {
        Canvas::new(pixels, width, height).unwrap()
    }

    #[test]
    fn canvas_needs_enough_pixels_and_clips_fills() {
        let mut pixels = vec![0u32; 12];
        assert!(Canvas::new(&mut pixels, 4, 4).is_none());
        let mut canvas = canvas_of(&mut pixels, 4, 3);
        canvas.fill(2, 1, 10, 10, 7);
        assert_eq!(pixels, [0, 0, 0, 0, 0, 0, 7, 7, 0, 0, 7, 7]);
    }

    #[test]
    fn glyphs_come_out_scaled_and_left_to_right() {
        // 'T' in font8x8 starts with row 0x3F: columns 0..6 set, bit 0 leftmost.
        assert_eq!(BASIC_LEGACY['T' as usize][0], 0x3F);
        let mut pixels = vec![0u32; 40 * 16];
        let mut canvas = canvas_of(&mut pixels, 40, 16);
        canvas.text(0, 0, "T", 9);
        let top: Vec<u32> = (0..16).map(|x| canvas.pixel(x, 0).unwrap()).collect();
        assert_eq!(top, [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0]);
        assert_eq!(canvas.pixel(0, 1), Some(9)); // doubled vertically too
        // Non-ASCII becomes '?', and text past the right edge is cut, not wrapped.
        let mut other = vec![0u32; 40 * 16];
        let mut question = canvas_of(&mut other, 40, 16);
        question.text(0, 0, "?", 9);
        let mut third = vec![0u32; 40 * 16];
        let mut accented = canvas_of(&mut third, 40, 16);
        accented.text(0, 0, "é and more text", 9);
        assert_eq!(
            &third[..16 * 40].iter().enumerate().filter(|(i, _)| i % 40 < 16).map(|(_, p)| *p).collect::<Vec<_>>(),
            &other[..16 * 40].iter().enumerate().filter(|(i, _)| i % 40 < 16).map(|(_, p)| *p).collect::<Vec<_>>()
        );
    }

    #[test]
    fn screen_draws_background_title_bar_stripes_and_text() {
        let (width, height) = (640, 480);
        let mut pixels = vec![0u32; width * height];
        let mut screen = Screen::new("tile gpu-test");
        screen.set_line(0, "console   running").unwrap();
        screen.set_line(1, "gpu       running").unwrap();
        assert_eq!(screen.set_line(ROWS, "x"), Err(ScreenError::RowOutOfRange));
        let mut canvas = canvas_of(&mut pixels, width, height);
        screen.render(&mut canvas);
        assert_eq!(canvas.pixel(width - 1, 0), Some(colour::TITLE_BAR));
        assert_eq!(canvas.pixel(width - 1, TITLE_HEIGHT), Some(colour::BACKGROUND));
        assert_eq!(canvas.pixel(width - 1, ROW_TOP + ROW_HEIGHT), Some(colour::STRIPE));
        assert_eq!(canvas.pixel(width - 1, height - 1), Some(colour::BACKGROUND));
        let count = |colour: u32, rows: core::ops::Range<usize>| {
            rows.flat_map(|y| (0..width).map(move |x| (x, y))).filter(|&(x, y)| pixels[y * width + x] == colour).count()
        };
        assert!(count(colour::TITLE_TEXT, 0..TITLE_HEIGHT) > 100, "the title is drawn in the bar");
        assert!(count(colour::ROW_TEXT, ROW_TOP..ROW_TOP + 2 * ROW_HEIGHT) > 200, "both rows have text");
        assert_eq!(count(colour::ROW_TEXT, ROW_TOP + 2 * ROW_HEIGHT..height), 0, "empty rows stay empty");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let mut screen = Screen::new("");
        let long = "é".repeat(MAX_TEXT);
        screen.set_line(3, &long).unwrap();
        assert_eq!(screen.line(3).len(), MAX_TEXT);
        assert_eq!(screen.line(3).chars().count(), MAX_TEXT / 2);
        assert_eq!(screen.line(ROWS + 1), "");
    }
}
