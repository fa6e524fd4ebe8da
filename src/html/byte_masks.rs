//! Where a byte is in a page, sixteen bytes at a time: the quick tracker scan and the
//! tokenizer look for `<` and for quotes, which come every few bytes in HTML (a
//! 30 KB page holds some 1,600 `<`). `memchr` is built for long searches: asked once
//! per hit, its set-up cost some forty instructions a time here. A bit mask per
//! block, walked bit by bit, costs a few.
//!
//! On x86-64 a block's mask is three SSE2 instructions; SSE2 is part of the x86-64
//! baseline, so every CPU this runs on has it (the only `unsafe` here, and what it
//! rests on). Elsewhere, the same mask is computed eight bytes at a time in a `u64`.

#![allow(unsafe_code)]

/// Bytes per block.
const BLOCK: usize = 16;

/// A bit per byte of a block (two little-endian words): set where the byte is
/// `byte`.
#[inline]
fn block_mask((lo, hi): (u64, u64), byte: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
        // SAFETY: these intrinsics need SSE2 alone, which this code is compiled for
        // (the `cfg` above; every x86-64 CPU has it). They touch no memory.
        unsafe {
            let v = _mm_set_epi64x(hi as i64, lo as i64);
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))) as u32
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        word_mask(lo, byte) | word_mask(hi, byte) << 8
    }
}

/// A bit per byte of a word (bit `i` for byte `i`), set where the byte is `byte`.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn word_mask(word: u64, byte: u8) -> u32 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = word ^ (u64::from(byte) * 0x0101_0101_0101_0101);
    // The high bit of each byte of `zero` is set exactly where `x` is zero.
    let zero = !(((x & LOW7) + LOW7) | x | LOW7);
    let mut mask = 0;
    for i in 0..8 {
        mask |= (((zero >> (i * 8 + 7)) & 1) as u32) << i;
    }
    mask
}

/// The eight bytes of `bytes` at `at` as a little-endian word.
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The block of `bytes` at `at` (zero-padded past their end), and a mask of the
/// bits that are inside `bytes`.
#[inline]
fn block_at(bytes: &[u8], at: usize) -> ((u64, u64), u32) {
    if at + BLOCK <= bytes.len() {
        return ((word(bytes, at), word(bytes, at + 8)), 0xffff);
    }
    let rest = &bytes[at.min(bytes.len())..];
    let mut padded = [0u8; BLOCK];
    padded[..rest.len()].copy_from_slice(rest);
    (
        (word(&padded, 0), word(&padded, 8)),
        (1u32 << rest.len()) - 1,
    )
}

/// The first `byte` in `bytes`, for searches that end within a few bytes (a quoted
/// attribute value, the text between two tags).
#[inline]
pub fn find(bytes: &[u8], byte: u8) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() {
        let (block, inside) = block_at(bytes, at);
        let mask = block_mask(block, byte) & inside;
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += BLOCK;
    }
    None
}

/// Every `byte` in `bytes`, in order: [`memchr::memchr_iter`] for bytes that come
/// every few bytes.
pub fn positions(bytes: &[u8], byte: u8) -> Positions<'_> {
    Positions {
        bytes,
        byte,
        block: 0,
        mask: 0,
        next_block: 0,
    }
}

/// See [`positions`].
pub struct Positions<'a> {
    bytes: &'a [u8],
    byte: u8,
    /// Where the block of `mask` starts.
    block: usize,
    /// The hits of that block not yet given.
    mask: u32,
    next_block: usize,
}

impl Iterator for Positions<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next_block >= self.bytes.len() {
                return None;
            }
            let (block, inside) = block_at(self.bytes, self.next_block);
            self.mask = block_mask(block, self.byte) & inside;
            self.block = self.next_block;
            self.next_block += BLOCK;
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn positions_and_find_agree_with_memchr(
            bytes in proptest::collection::vec(prop_oneof![Just(b'<'), Just(b'a'), Just(0u8), Just(0xbc), any::<u8>()], 0..80),
            byte in prop_oneof![Just(b'<'), Just(0u8), any::<u8>()],
        ) {
            let expected: Vec<usize> = memchr::memchr_iter(byte, &bytes).collect();
            prop_assert_eq!(positions(&bytes, byte).collect::<Vec<_>>(), expected);
            prop_assert_eq!(find(&bytes, byte), memchr::memchr(byte, &bytes));
        }

        #[test]
        fn the_word_mask_is_the_block_mask(bytes in proptest::array::uniform16(any::<u8>()), byte: u8) {
            let (lo, hi) = (word(&bytes, 0), word(&bytes, 8));
            prop_assert_eq!(word_mask(lo, byte) | word_mask(hi, byte) << 8, block_mask((lo, hi), byte));
        }
    }
}
