//! FAX pages for the browser: a TIFF as fax gateways store received faxes (CCITT Group 3 1-D or
//! 2-D, Group 4, Modified Huffman, or uncompressed / PackBits black and white), read one page at
//! a time and drawn as a 1-bit PNG. Bytes in, bytes out: no I/O. The work is bounded before any
//! decoding starts ([`MAX_PAGES`], [`MAX_SIDE`], [`MAX_PIXELS`]), and damaged input is an error,
//! never a panic.

mod ccitt;
mod tiff;

use ccitt::Coding;

/// A document with more pages is refused.
pub(crate) const MAX_PAGES: usize = 200;
/// A page wider or taller than this is refused.
pub(crate) const MAX_SIDE: u32 = 10_000;
/// A page with more pixels than this is refused (a fine A4 fax page is 1728 × 2292, 4 million).
pub(crate) const MAX_PIXELS: u64 = 50_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PageError {
    #[error("TIFF ファイルではありません / the attachment is not a TIFF file")]
    NotTiff,
    #[error("TIFF ファイルが壊れています / the TIFF file is damaged: {0}")]
    Broken(&'static str),
    #[error("ページが多すぎます ({MAX_PAGES} ページまで表示できます) / more than {MAX_PAGES} pages")]
    TooManyPages,
    #[error(
        "{page} ページ目が大きすぎます ({width}×{height}、一辺 {MAX_SIDE}・{MAX_PIXELS} 画素まで) / page {page} is \
         {width}×{height}, larger than {MAX_SIDE} on a side or {MAX_PIXELS} pixels"
    )]
    TooLarge { page: usize, width: u32, height: u32 },
    #[error("{page} ページ目はありません (全 {pages} ページ) / there is no page {page} (the document has {pages})")]
    NoSuchPage { page: usize, pages: usize },
    #[error("{page} ページ目は表示できない形式です ({what}) / page {page} cannot be shown: {what}")]
    Unsupported { page: usize, what: &'static str },
    #[error("{page} ページ目の {row} 行目が壊れています / page {page} is damaged at row {row}")]
    Damaged { page: usize, row: u32 },
    #[error("PNG を作れませんでした / the page could not be made into a PNG")]
    Encode,
}

/// Whether the content is a TIFF, by its first bytes (whatever the sender called it).
pub(crate) fn is_tiff(bytes: &[u8]) -> bool {
    tiff::is_tiff(bytes)
}

pub(crate) fn page_count(bytes: &[u8]) -> Result<usize, PageError> {
    Ok(tiff::pages(bytes)?.len())
}

/// Page `number` (from 1) as a PNG.
pub(crate) fn page_png(bytes: &[u8], number: usize) -> Result<Vec<u8>, PageError> {
    png(&page_bitmap(bytes, number)?)
}

/// A page: `ink` holds one bit per pixel, rows of `stride` bytes, first pixel in the top bit,
/// 1 for black.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bitmap {
    width: u32,
    height: u32,
    stride: usize,
    ink: Vec<u8>,
}

impl Bitmap {
    fn white(width: u32, height: u32) -> Bitmap {
        let stride = width.div_ceil(8) as usize;
        Bitmap { width, height, stride, ink: vec![0; stride * height as usize] }
    }

    fn row_mut(&mut self, y: u32) -> &mut [u8] {
        let start = y as usize * self.stride;
        &mut self.ink[start..start + self.stride]
    }

    #[cfg(test)]
    fn black(&self, x: u32, y: u32) -> bool {
        self.ink[y as usize * self.stride + x as usize / 8] & (0x80 >> (x % 8)) != 0
    }
}

fn page_bitmap(bytes: &[u8], number: usize) -> Result<Bitmap, PageError> {
    let pages = tiff::pages(bytes)?;
    let page = number
        .checked_sub(1)
        .and_then(|i| pages.get(i))
        .ok_or(PageError::NoSuchPage { page: number, pages: pages.len() })?;
    let unsupported = |what| PageError::Unsupported { page: number, what };
    if page.bits_per_sample != 1 || page.samples_per_pixel != 1 {
        return Err(unsupported("colour or greyscale; only black-and-white pages are drawn"));
    }
    if page.tiled {
        return Err(unsupported("tiled"));
    }
    if page.photometric > 1 {
        return Err(unsupported("a palette or colour model that fax pages do not use"));
    }
    let coding = match page.compression {
        1 | 32773 => None,
        2 => Some(Coding::ModifiedHuffman),
        3 => Some(Coding::T4 { two_d: page.t4_options & 1 == 1 }),
        4 => Some(Coding::T6),
        _ => return Err(unsupported("a compression fax pages do not use")),
    };
    let mut bitmap = Bitmap::white(page.width, page.height);
    for (i, &(offset, len)) in page.strips.iter().enumerate() {
        let first = i as u32 * page.rows_per_strip;
        let rows = page.rows_per_strip.min(page.height - first);
        let data = &bytes[offset..offset + len];
        let damaged = |row| PageError::Damaged { page: number, row };
        match coding {
            Some(coding) => {
                let width = page.width;
                ccitt::decode_strip(data, page.lsb_first, width, rows, coding, |y, changes| {
                    paint(bitmap.row_mut(first + y), changes, width);
                })
                .map_err(|d| damaged(first + d.row + 1))?;
            }
            None => {
                let need = rows as usize * bitmap.stride;
                let raw =
                    if page.compression == 1 { data.get(..need).map(<[u8]>::to_vec) } else { unpack_bits(data, need) };
                let raw = raw.ok_or_else(|| damaged(first + 1))?;
                let start = first as usize * bitmap.stride;
                let ink = &mut bitmap.ink[start..start + need];
                for (out, byte) in ink.iter_mut().zip(raw) {
                    // Uncompressed bits are 1 for black when white is zero.
                    *out = if page.lsb_first { byte.reverse_bits() } else { byte };
                    if page.photometric == 1 {
                        *out = !*out;
                    }
                }
            }
        }
    }
    // Fax coding gives black runs as 1, read as white when the page says black is zero (libtiff).
    if coding.is_some() && page.photometric == 1 {
        bitmap.ink.iter_mut().for_each(|b| *b = !*b);
    }
    Ok(bitmap)
}

/// Sets the black runs of a row: from each even change to the next (or the end of the row).
fn paint(row: &mut [u8], changes: &[u32], width: u32) {
    for pair in changes.chunks(2) {
        let start = pair[0] as usize;
        let end = pair.get(1).copied().unwrap_or(width) as usize;
        if start >= end {
            continue;
        }
        let (first, last) = (start / 8, (end - 1) / 8);
        let head = 0xffu8 >> (start % 8);
        let tail = 0xffu8 << (7 - (end - 1) % 8);
        if first == last {
            row[first] |= head & tail;
        } else {
            row[first] |= head;
            row[first + 1..last].fill(0xff);
            row[last] |= tail;
        }
    }
}

/// PackBits, up to `need` bytes; `None` when the data ends first.
fn unpack_bits(data: &[u8], need: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(need);
    let mut at = 0;
    while out.len() < need {
        let n = *data.get(at)? as i8;
        at += 1;
        match n {
            0..=127 => {
                let len = n as usize + 1;
                out.extend_from_slice(data.get(at..at + len)?);
                at += len;
            }
            -127..=-1 => {
                let byte = *data.get(at)?;
                out.extend(std::iter::repeat_n(byte, (1 - n as isize) as usize));
                at += 1;
            }
            -128 => {}
        }
    }
    out.truncate(need);
    Some(out)
}

/// A 1-bit greyscale PNG (1 is white there).
fn png(bitmap: &Bitmap) -> Result<Vec<u8>, PageError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, bitmap.width, bitmap.height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().map_err(|_| PageError::Encode)?;
    let grey: Vec<u8> = bitmap.ink.iter().map(|b| !b).collect();
    writer.write_image_data(&grey).map_err(|_| PageError::Encode)?;
    writer.finish().map_err(|_| PageError::Encode)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `tests/data/fax/make.sh` with libtiff's encoders.
    const G4: &[u8] = include_bytes!("../../tests/data/fax/fax-g4.tif");
    const G3_1D: &[u8] = include_bytes!("../../tests/data/fax/fax-g3-1d.tif");
    const G3_2D: &[u8] = include_bytes!("../../tests/data/fax/fax-g3-2d.tif");
    const G3_2D_LSB: &[u8] = include_bytes!("../../tests/data/fax/fax-g3-2d-lsb.tif");
    const PACKBITS: &[u8] = include_bytes!("../../tests/data/fax/fax-packbits.tif");
    const UNCOMPRESSED: &[u8] = include_bytes!("../../tests/data/fax/fax-uncompressed.tif");

    /// A rectangle: x0, y0, x1, y1 (the ends excluded).
    type Block = (u32, u32, u32, u32);

    /// What `make.sh` drew on each page: width, height and the solid block.
    const PAGES: [(u32, u32, Block); 2] = [(1728, 400, (100, 40, 300, 80)), (1728, 240, (1000, 20, 1100, 60))];

    fn decoded_png(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Grayscale, png::BitDepth::One));
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn every_fax_coding_draws_the_same_page() {
        let reference = page_bitmap(UNCOMPRESSED, 1).unwrap();
        for (name, tiff) in
            [("G4", G4), ("G3 1-D", G3_1D), ("G3 2-D", G3_2D), ("G3 2-D, LSB first", G3_2D_LSB), ("PackBits", PACKBITS)]
        {
            assert_eq!(page_bitmap(tiff, 1).as_ref(), Ok(&reference), "{name}");
        }
        let (width, height, (x0, y0, x1, y1)) = PAGES[0];
        assert_eq!((reference.width, reference.height), (width, height));
        for (x, y, black) in [(0, 0, true), (x0, y0, true), (x1 - 1, y1 - 1, true), (x1, y1, false), (50, 60, false)] {
            assert_eq!(reference.black(x, y), black, "({x}, {y})");
        }
    }

    #[test]
    fn each_page_comes_out_as_a_png_of_its_size() {
        for (name, tiff) in [("G4", G4), ("G3 1-D", G3_1D)] {
            assert_eq!(page_count(tiff), Ok(2), "{name}");
            for (number, (width, height, (x0, y0, x1, _))) in PAGES.iter().enumerate() {
                let (w, h, grey) = decoded_png(&page_png(tiff, number + 1).unwrap());
                assert_eq!((w, h), (*width, *height), "{name} page {}", number + 1);
                let stride = width.div_ceil(8) as usize;
                let white = |x: u32, y: u32| grey[y as usize * stride + x as usize / 8] & (0x80 >> (x % 8)) != 0;
                assert!(!white(*x0, *y0) && !white(x1 - 1, *y0), "{name} page {}: the block is black", number + 1);
                assert!(white(x0 - 10, *y0), "{name} page {}: beside it white", number + 1);
                let black_pixels: u32 = grey.iter().map(|b| b.count_zeros()).sum();
                assert!(black_pixels > 8000, "{name} page {}: {black_pixels} black pixels", number + 1);
            }
            assert_eq!(page_png(tiff, 3), Err(PageError::NoSuchPage { page: 3, pages: 2 }));
            assert_eq!(page_png(tiff, 0), Err(PageError::NoSuchPage { page: 0, pages: 2 }));
        }
    }

    #[test]
    fn damaged_fax_data_is_an_error_not_a_picture() {
        // The strip's coded data overwritten with zeros from its middle on.
        let pages = tiff::pages(G4).unwrap();
        let (offset, len) = pages[0].strips[0];
        let mut garbled = G4.to_vec();
        garbled[offset + len / 2..offset + len].fill(0);
        assert!(
            matches!(page_png(&garbled, 1), Err(PageError::Damaged { page: 1, row }) if row > 1),
            "{:?}",
            page_png(&garbled, 1).err()
        );
        assert!(page_png(&garbled, 2).is_ok(), "page 2 is intact");

        // Cut off in the middle: the directories point past the end.
        let truncated = &G4[..G4.len() * 2 / 3];
        assert!(matches!(page_count(truncated), Err(PageError::Broken(_))), "{:?}", page_count(truncated));
        for cut in [0, 3, 8, 100, G3_2D.len() - 1] {
            assert!(page_png(&G3_2D[..cut], 1).is_err(), "cut at {cut}");
        }
        assert_eq!(page_count(b"GIF89a"), Err(PageError::NotTiff));
    }

    #[test]
    fn pages_are_painted_bit_by_bit() {
        let mut row = [0u8; 3];
        paint(&mut row, &[3, 5, 7, 17, 23], 24);
        assert_eq!(row, [0b0001_1001, 0b1111_1111, 0b1000_0001]);
        assert_eq!(unpack_bits(&[2, 1, 2, 3, 0xfe, 9], 6), Some(vec![1, 2, 3, 9, 9, 9]));
        assert_eq!(unpack_bits(&[2, 1, 2], 3), None);
    }
}
