//! The structure of a TIFF file, as much as drawing its black-and-white pages needs: the chain
//! of image directories and, for each page, its size, coding and where its strips are. Every
//! offset is checked against the file, the chain may not loop, and the page count and sizes are
//! bounded before anything is decoded.

use super::{MAX_PAGES, MAX_PIXELS, MAX_SIDE, PageError};
use std::collections::HashSet;

/// One page (image file directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Page {
    pub width: u32,
    pub height: u32,
    pub compression: u16,
    /// 0: white is zero (faxes), 1: black is zero.
    pub photometric: u16,
    pub bits_per_sample: u32,
    pub samples_per_pixel: u32,
    /// FillOrder 2: the first pixel is each byte's lowest bit.
    pub lsb_first: bool,
    /// T4Options (G3): bit 0 set means 2-D coding.
    pub t4_options: u32,
    pub tiled: bool,
    pub rows_per_strip: u32,
    /// Byte ranges of the strips, each inside the file.
    pub strips: Vec<(usize, usize)>,
}

/// Tags read; anything else is passed over.
const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const BITS_PER_SAMPLE: u16 = 258;
const COMPRESSION: u16 = 259;
const PHOTOMETRIC: u16 = 262;
const FILL_ORDER: u16 = 266;
const STRIP_OFFSETS: u16 = 273;
const SAMPLES_PER_PIXEL: u16 = 277;
const ROWS_PER_STRIP: u16 = 278;
const STRIP_BYTE_COUNTS: u16 = 279;
const T4_OPTIONS: u16 = 292;
const TILE_WIDTH: u16 = 322;

/// More entries than any real directory has; a larger count is damage.
const MAX_ENTRIES: usize = 4096;

pub(super) fn is_tiff(bytes: &[u8]) -> bool {
    matches!(bytes.get(..4), Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+"))
}

/// Every page of the file, in order.
pub(super) fn pages(bytes: &[u8]) -> Result<Vec<Page>, PageError> {
    let little = match bytes.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        Some(b"II+\0" | b"MM\0+") => return Err(PageError::Unsupported { page: 1, what: "BigTIFF" }),
        _ => return Err(PageError::NotTiff),
    };
    let file = File { bytes, little };
    let mut pages = Vec::new();
    let mut seen = HashSet::new();
    let mut next = file.u32(4)? as usize;
    while next != 0 {
        if pages.len() == MAX_PAGES {
            return Err(PageError::TooManyPages);
        }
        if !seen.insert(next) {
            return Err(PageError::Broken("the chain of pages loops"));
        }
        let (page, following) = file.directory(next, pages.len() + 1)?;
        pages.push(page);
        next = following;
    }
    if pages.is_empty() {
        return Err(PageError::Broken("no pages"));
    }
    Ok(pages)
}

struct File<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl File<'_> {
    fn slice(&self, at: usize, len: usize) -> Result<&[u8], PageError> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or(PageError::Broken("an offset points past the end of the file"))
    }

    fn u16(&self, at: usize) -> Result<u16, PageError> {
        let b: [u8; 2] = self.slice(at, 2)?.try_into().expect("two bytes");
        Ok(if self.little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    }

    fn u32(&self, at: usize) -> Result<u32, PageError> {
        let b: [u8; 4] = self.slice(at, 4)?.try_into().expect("four bytes");
        Ok(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    /// The values of the entry at `entry` (BYTE, SHORT or LONG; others are not needed here).
    fn values(&self, entry: usize) -> Result<Vec<u32>, PageError> {
        let kind = self.u16(entry + 2)?;
        let count = self.u32(entry + 4)? as usize;
        let size = match kind {
            1 => 1,
            3 => 2,
            4 => 4,
            _ => return Err(PageError::Broken("a tag has a type that is not a whole number")),
        };
        // No page of the allowed size has more strips than rows.
        if count == 0 || count > MAX_SIDE as usize {
            return Err(PageError::Broken("a tag has too many or no values"));
        }
        let at = if count * size <= 4 { entry + 8 } else { self.u32(entry + 8)? as usize };
        self.slice(at, count * size)?;
        (0..count)
            .map(|i| match size {
                1 => Ok(u32::from(self.bytes[at + i])),
                2 => self.u16(at + 2 * i).map(u32::from),
                _ => self.u32(at + 4 * i),
            })
            .collect()
    }

    /// The page whose directory starts at `at`, and where the next one starts (0: none).
    fn directory(&self, at: usize, number: usize) -> Result<(Page, usize), PageError> {
        let entries = self.u16(at)? as usize;
        if entries == 0 || entries > MAX_ENTRIES {
            return Err(PageError::Broken("a page directory is empty or too long"));
        }
        let mut tags = std::collections::HashMap::new();
        for i in 0..entries {
            let entry = at + 2 + 12 * i;
            let tag = self.u16(entry)?;
            if matches!(
                tag,
                IMAGE_WIDTH
                    | IMAGE_LENGTH
                    | BITS_PER_SAMPLE
                    | COMPRESSION
                    | PHOTOMETRIC
                    | FILL_ORDER
                    | STRIP_OFFSETS
                    | SAMPLES_PER_PIXEL
                    | ROWS_PER_STRIP
                    | STRIP_BYTE_COUNTS
                    | T4_OPTIONS
            ) {
                tags.insert(tag, self.values(entry)?);
            } else if tag == TILE_WIDTH {
                tags.insert(tag, Vec::new());
            }
        }
        let next = self.u32(at + 2 + 12 * entries)? as usize;
        let one = |tag: u16, default: Option<u32>| -> Result<u32, PageError> {
            match (tags.get(&tag).and_then(|v| v.first()), default) {
                (Some(v), _) => Ok(*v),
                (None, Some(d)) => Ok(d),
                (None, None) => Err(PageError::Broken("a page lacks its width, height or strips")),
            }
        };
        let (width, height) = (one(IMAGE_WIDTH, None)?, one(IMAGE_LENGTH, None)?);
        if width == 0 || height == 0 {
            return Err(PageError::Broken("a page has no pixels"));
        }
        if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(PageError::TooLarge { page: number, width, height });
        }
        let rows_per_strip = one(ROWS_PER_STRIP, Some(u32::MAX))?.clamp(1, height);
        let needed = height.div_ceil(rows_per_strip) as usize;
        let offsets = tags.get(&STRIP_OFFSETS).ok_or(PageError::Broken("a page has no strips"))?;
        let counts = tags.get(&STRIP_BYTE_COUNTS).ok_or(PageError::Broken("a page has no strip sizes"))?;
        if offsets.len() < needed || counts.len() < needed {
            return Err(PageError::Broken("a page has fewer strips than its rows need"));
        }
        let strips = offsets
            .iter()
            .zip(counts)
            .take(needed)
            .map(|(&offset, &count)| {
                self.slice(offset as usize, count as usize)
                    .map_err(|_| PageError::Broken("a strip lies past the end of the file (truncated?)"))?;
                Ok((offset as usize, count as usize))
            })
            .collect::<Result<_, PageError>>()?;
        let bits = tags.get(&BITS_PER_SAMPLE).map_or(1, |v| v.iter().copied().max().unwrap_or(1));
        let page = Page {
            width,
            height,
            compression: one(COMPRESSION, Some(1))? as u16,
            photometric: one(PHOTOMETRIC, Some(0))? as u16,
            bits_per_sample: bits,
            samples_per_pixel: one(SAMPLES_PER_PIXEL, Some(1))?,
            lsb_first: one(FILL_ORDER, Some(1))? == 2,
            t4_options: one(T4_OPTIONS, Some(0))?,
            tiled: tags.contains_key(&TILE_WIDTH),
            rows_per_strip,
            strips,
        };
        Ok((page, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF whose one page says `width` × `height`, its strip at `strip`.
    fn one_page(width: u32, height: u32, strip: (u32, u32)) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        let entries: [(u16, u16, u32); 5] = [
            (IMAGE_WIDTH, 4, width),
            (IMAGE_LENGTH, 4, height),
            (COMPRESSION, 3, 4),
            (STRIP_OFFSETS, 4, strip.0),
            (STRIP_BYTE_COUNTS, 4, strip.1),
        ];
        b.extend((entries.len() as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(kind.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.extend([0u8; 16]);
        b
    }

    #[test]
    fn pages_are_bounded_and_checked_against_the_file() {
        let len = one_page(8, 8, (0, 0)).len() as u32;
        let table: [(Vec<u8>, Result<usize, PageError>); 8] = [
            (one_page(1728, 2200, (len - 16, 16)), Ok(1)),
            (
                one_page(1728, 2200, (len - 16, 17)),
                Err(PageError::Broken("a strip lies past the end of the file (truncated?)")),
            ),
            (
                one_page(1728, 2200, (u32::MAX, 2)),
                Err(PageError::Broken("a strip lies past the end of the file (truncated?)")),
            ),
            (one_page(10_001, 10, (len - 16, 16)), Err(PageError::TooLarge { page: 1, width: 10_001, height: 10 })),
            (
                one_page(10_000, 5_001, (len - 16, 16)),
                Err(PageError::TooLarge { page: 1, width: 10_000, height: 5_001 }),
            ),
            (one_page(0, 10, (len - 16, 16)), Err(PageError::Broken("a page has no pixels"))),
            (b"%PDF-1.4".to_vec(), Err(PageError::NotTiff)),
            (b"II*\0\xff\xff\xff\x7f".to_vec(), Err(PageError::Broken("an offset points past the end of the file"))),
        ];
        for (i, (bytes, want)) in table.into_iter().enumerate() {
            assert_eq!(pages(&bytes).map(|p| p.len()), want, "case {i}");
        }
    }

    #[test]
    fn a_chain_of_pages_that_loops_or_never_ends_is_refused() {
        let mut looped = one_page(8, 8, (0, 1));
        let next_at = 8 + 2 + 12 * 5;
        looped[next_at..next_at + 4].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(pages(&looped), Err(PageError::Broken("the chain of pages loops")));

        // MAX_PAGES + 1 directories, each pointing at the next.
        let mut many = b"II*\0".to_vec();
        many.extend(8u32.to_le_bytes());
        let size = 2 + 12 * 4 + 4;
        for i in 0..=MAX_PAGES {
            let next = if i == MAX_PAGES { 0 } else { 8 + size * (i + 1) };
            many.extend(4u16.to_le_bytes());
            for (tag, value) in [(IMAGE_WIDTH, 8u32), (IMAGE_LENGTH, 1), (STRIP_OFFSETS, 0), (STRIP_BYTE_COUNTS, 0)] {
                many.extend(tag.to_le_bytes());
                many.extend(4u16.to_le_bytes());
                many.extend(1u32.to_le_bytes());
                many.extend(value.to_le_bytes());
            }
            many.extend((next as u32).to_le_bytes());
        }
        assert_eq!(pages(&many), Err(PageError::TooManyPages));
    }
}
