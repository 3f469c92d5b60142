//! CCITT fax coding, as TIFF stores it: Modified Huffman rows (compression 2, each row on a byte
//! boundary), T.4 / Group 3 (compression 3, rows after EOL codes, 1-D or 2-D) and T.6 / Group 4
//! (compression 4, every row coded against the one above). The code tables and the bit reader
//! are the `fax` crate's; its own decoders read neither 2-D Group 3 nor rows without EOLs.
//!
//! A row comes out as its changing elements: the columns where the colour changes, starting
//! from white, each below the width.

use fax::maps::{Mode, black, mode, white};
use fax::{BitReader, ByteReader};
use std::convert::Infallible;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coding {
    /// Compression 2: Modified Huffman, no EOLs, rows byte-aligned.
    ModifiedHuffman,
    /// Compression 3: rows introduced by EOL; with `two_d`, a tag bit after each EOL says
    /// whether the row is coded on its own (1) or against the row above (0).
    T4 { two_d: bool },
    /// Compression 4: every row against the one above, the first against a white row.
    T6,
}

/// The first row of a strip that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Damaged {
    pub row: u32,
}

/// Zero bytes read past the end of a strip, so that looking ahead at the last codes never
/// fails; they decode as nothing valid.
const PADDING: usize = 4;

/// Decodes the `rows` rows of one strip, `width` pixels wide, handing each row's changing
/// elements to `row`. A strip that ends early (RTC, EOFB, no more data) leaves its last rows
/// white, as libtiff does.
pub(super) fn decode_strip(
    data: &[u8],
    lsb_first: bool,
    width: u32,
    rows: u32,
    coding: Coding,
    mut row: impl FnMut(u32, &[u32]),
) -> Result<(), Damaged> {
    let bytes = data
        .iter()
        .map(move |b| Ok::<u8, Infallible>(if lsb_first { b.reverse_bits() } else { *b }))
        .chain(std::iter::repeat_n(Ok(0u8), PADDING));
    let inner = match ByteReader::new(bytes) {
        Ok(reader) => reader,
        Err(never) => match never {},
    };
    let mut bits = Bits { inner, used: 0, total: data.len() as u64 * 8 };
    let mut reference: Vec<u32> = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    for y in 0..rows {
        let damaged = Damaged { row: y };
        let more = match coding {
            Coding::ModifiedHuffman => {
                if y > 0 {
                    let rest = bits.bits_to_byte_boundary();
                    bits.consume(rest).map_err(|never| match never {})?;
                }
                !bits.exhausted() && {
                    one_dimensional(&mut bits, width, &mut current).map_err(|()| damaged)?;
                    true
                }
            }
            Coding::T4 { two_d } => t4_row(&mut bits, two_d, &reference, width, &mut current).map_err(|()| damaged)?,
            Coding::T6 => {
                !bits.exhausted()
                    && two_dimensional(&mut bits, &reference, width, &mut current).map_err(|()| damaged)?
            }
        };
        if !more {
            for rest in y..rows {
                row(rest, &[]);
            }
            return Ok(());
        }
        row(y, &current);
        std::mem::swap(&mut reference, &mut current);
    }
    Ok(())
}

/// The `fax` crate's reader, counting the bits taken so that the end of the real data is known.
struct Bits<R> {
    inner: ByteReader<R>,
    used: u64,
    total: u64,
}

impl<R: Iterator<Item = Result<u8, Infallible>>> Bits<R> {
    fn exhausted(&self) -> bool {
        self.used >= self.total
    }

    fn bit(&mut self) -> Result<u16, ()> {
        let bit = self.peek(1).ok_or(())?;
        self.consume(1).map_err(|never| match never {})?;
        Ok(bit)
    }
}

impl<R: Iterator<Item = Result<u8, Infallible>>> BitReader for Bits<R> {
    type Error = Infallible;

    fn peek(&self, bits: u8) -> Option<u16> {
        self.inner.peek(bits)
    }

    fn consume(&mut self, bits: u8) -> Result<(), Infallible> {
        self.used += u64::from(bits);
        self.inner.consume(bits)
    }

    fn bits_to_byte_boundary(&self) -> u8 {
        self.inner.bits_to_byte_boundary()
    }
}

const EOL: u16 = 1;

enum Eol {
    Found,
    /// The row starts at once (an encoder that writes no EOLs).
    Absent,
    /// Nothing but fill bits remain.
    End,
}

/// Takes an EOL and the fill bits before it, if the next bits are one.
fn eol<R: Iterator<Item = Result<u8, Infallible>>>(bits: &mut Bits<R>) -> Result<Eol, ()> {
    match bits.peek(12) {
        Some(EOL) => {
            bits.consume(12).map_err(|never| match never {})?;
            Ok(Eol::Found)
        }
        // Twelve zeros start no code: fill bits, then an EOL (or the end of the data).
        Some(0) => {
            while bits.peek(1) == Some(0) && !bits.exhausted() {
                bits.consume(1).map_err(|never| match never {})?;
            }
            if bits.exhausted() {
                return Ok(Eol::End);
            }
            bits.bit()?;
            Ok(Eol::Found)
        }
        Some(_) => Ok(Eol::Absent),
        None => Ok(Eol::End),
    }
}

/// One T.4 row; false at RTC or the end of the data.
fn t4_row<R: Iterator<Item = Result<u8, Infallible>>>(
    bits: &mut Bits<R>,
    two_d: bool,
    reference: &[u32],
    width: u32,
    current: &mut Vec<u32>,
) -> Result<bool, ()> {
    let found = match eol(bits)? {
        Eol::End => return Ok(false),
        Eol::Found => true,
        Eol::Absent => false,
    };
    if bits.exhausted() {
        return Ok(false);
    }
    let against_above = two_d && bits.bit()? == 0;
    // RTC: an EOL right after an EOL (and its tag bit).
    if found && matches!(bits.peek(12), Some(EOL | 0)) {
        return Ok(false);
    }
    if against_above {
        if !two_dimensional(bits, reference, width, current)? {
            return Err(());
        }
    } else {
        one_dimensional(bits, width, current)?;
    }
    Ok(true)
}

/// A row of alternating white and black runs.
fn one_dimensional(bits: &mut impl BitReader, width: u32, current: &mut Vec<u32>) -> Result<(), ()> {
    current.clear();
    let (mut a0, mut black) = (0u32, false);
    while a0 < width {
        a0 = a0.checked_add(run(bits, black, width)?).filter(|&a| a <= width).ok_or(())?;
        current.push(a0);
        black = !black;
    }
    current.retain(|&p| p < width);
    Ok(())
}

/// A row coded against `reference` (the row above); false at EOFB.
fn two_dimensional(
    bits: &mut impl BitReader,
    reference: &[u32],
    width: u32,
    current: &mut Vec<u32>,
) -> Result<bool, ()> {
    current.clear();
    let end = i64::from(width);
    // a0 starts on an imaginary white pixel before the first.
    let (mut a0, mut black) = (-1i64, false);
    let mut above = 0;
    while a0 < end {
        let coded = mode::decode(bits).ok_or(())?;
        while above < reference.len() && i64::from(reference[above]) <= a0 {
            above += 1;
        }
        // b1: the first change on the row above, right of a0, to the colour a0 is not; changes
        // at even positions are to black.
        let b1_at = if (above % 2 == 1) != black { above + 1 } else { above };
        let b1 = reference.get(b1_at).map_or(end, |&p| i64::from(p));
        let b2 = reference.get(b1_at + 1).map_or(end, |&p| i64::from(p));
        match coded {
            Mode::Pass => a0 = b2,
            Mode::Horizontal => {
                let start = a0.max(0);
                let a1 = start + i64::from(run(bits, black, width)?);
                let a2 = a1 + i64::from(run(bits, !black, width)?);
                if a2 > end {
                    return Err(());
                }
                current.extend([a1 as u32, a2 as u32]);
                a0 = a2;
            }
            Mode::Vertical(delta) => {
                let a1 = b1 + i64::from(delta);
                if a1 < a0.max(0) || a1 > end {
                    return Err(());
                }
                current.push(a1 as u32);
                a0 = a1;
                black = !black;
            }
            Mode::EOF if a0 < 0 => return Ok(false),
            Mode::EOF | Mode::Extension => return Err(()),
        }
    }
    current.retain(|&p| p < width);
    Ok(true)
}

/// One run: make-up codes, then a terminating code (below 64).
fn run(bits: &mut impl BitReader, black: bool, width: u32) -> Result<u32, ()> {
    let mut total = 0u32;
    loop {
        let n = if black { black::decode(bits) } else { white::decode(bits) }.ok_or(())?;
        total = total.checked_add(u32::from(n)).filter(|&t| t <= width).ok_or(())?;
        if n < 64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &[u8], width: u32, n: u32, coding: Coding) -> Result<Vec<Vec<u32>>, Damaged> {
        let mut out = Vec::new();
        decode_strip(data, false, width, n, coding, |_, changes| out.push(changes.to_vec()))?;
        Ok(out)
    }

    #[test]
    fn modified_huffman_rows_start_on_byte_boundaries() {
        // Width 8. Row 1: white 8 (10011). Row 2: white 0 (00110101), black 8 (000101).
        // Row 3: white 2 (0111), black 3 (10), white 3 (1000).
        let data = [0b1001_1000, 0b0011_0101, 0b0001_0100, 0b0111_1010, 0b0000_0000];
        assert_eq!(rows(&data, 8, 3, Coding::ModifiedHuffman), Ok(vec![vec![], vec![0], vec![2, 5]]));
        assert_eq!(rows(&data[..1], 8, 3, Coding::ModifiedHuffman), Ok(vec![vec![], vec![], vec![]]), "ran out: white");
        assert_eq!(rows(&[0, 0, 0], 8, 1, Coding::ModifiedHuffman), Err(Damaged { row: 0 }), "no code is all zeros");
    }

    #[test]
    fn group_4_rows_follow_the_row_above() {
        // Width 8. Row 1: horizontal (001), white 2 (0111), black 3 (10); then V0 (1) for b1 = 8:
        // changes at 2, 5. Row 2: V0, V0, V0 (the same changes). Then EOFB.
        let data = [0b0010_1111, 0b0111_1000, 0b0000_0000, 0b1000_0000, 0b0000_1000];
        let decoded = rows(&data, 8, 3, Coding::T6).unwrap();
        assert_eq!(decoded, vec![vec![2, 5], vec![2, 5], vec![]], "EOFB leaves the rest white");
        assert_eq!(rows(&[0b0000_0010, 0xff], 8, 1, Coding::T6), Err(Damaged { row: 0 }), "extensions are not read");
    }
}
