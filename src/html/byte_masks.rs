//! Where a byte is in a page, many bytes at a time: the quick tracker scan and the
//! tokenizer look for `<` and for quotes, which come every few bytes in HTML (a
//! 30 KB page holds some 1,600 `<`). `memchr` is built for long searches: asked once
//! per hit, its set-up cost some forty instructions a time here. A bit mask per
//! block, walked bit by bit, costs a few.
//!
//! - [`find`]: a byte, sixteen bytes at a time. On x86-64 a block's mask is three
//!   SSE2 instructions; SSE2 is part of the x86-64 baseline, so every CPU this runs
//!   on has it. Elsewhere the same mask is computed eight bytes at a time in a `u64`.
//! - [`openings`]: the `<` that can begin a tag of interest (the byte after it in a
//!   [`ByteSet`]), 64 bytes at a time with AVX2 where the CPU has it (checked at run
//!   time), so that most of a page's `<` (`</p>`, `<div`, `<h2`…) are never looked at
//!   one by one; elsewhere each `<` is asked of its next byte.
//!
//! The only `unsafe` here is those intrinsics, and what each rests on is written
//! beside it.

#![allow(unsafe_code)]

/// Bytes per block.
const BLOCK: usize = 16;

/// A bit per byte of the block of `bytes` at `at` (the bytes past their end count as
/// not `byte`): set where the byte is `byte`.
#[inline]
fn block_mask(bytes: &[u8], at: usize, byte: u8) -> u32 {
    if at + BLOCK <= bytes.len() {
        return full_block_mask(&bytes[at..at + BLOCK], byte);
    }
    let rest = &bytes[at.min(bytes.len())..];
    let mut padded = [0u8; BLOCK];
    padded[..rest.len()].copy_from_slice(rest);
    full_block_mask(&padded, byte) & ((1u32 << rest.len()) - 1)
}

/// [`block_mask`] of a whole block.
#[inline(always)]
fn full_block_mask(block: &[u8], byte: u8) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        assert!(block.len() >= BLOCK);
        // SAFETY: these intrinsics need SSE2 alone, which this code is compiled for
        // (the `cfg` above; every x86-64 CPU has it). The unaligned load reads the
        // sixteen bytes of `block`, which holds at least that many (the assert).
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))) as u32
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        word_mask(word(block, 0), byte) | word_mask(word(block, 8), byte) << 8
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
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The first `byte` in `bytes`, for searches that end within a few bytes (a quoted
/// attribute value, the text between two tags).
#[inline]
pub fn find(bytes: &[u8], byte: u8) -> Option<usize> {
    let mut at = 0;
    while at < bytes.len() {
        let mask = block_mask(bytes, at, byte);
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += BLOCK;
    }
    None
}

/// A set of bytes, as a table and as the two nibble tables that test sixteen or
/// thirty-two bytes at once (the "shufti" method: a byte is in the set when the
/// entries of its low and its high nibble share a bit; one bit per high nibble here,
/// so the test is exact for sets spread over at most eight high nibbles).
pub struct ByteSet {
    table: [bool; 256],
    low: [u8; 16],
    high: [u8; 16],
    /// A byte of the set, to pad the last step of [`openings`] with (0 when the set
    /// is empty: then no `<` is an opening anyway).
    member: u8,
}

impl ByteSet {
    /// The set of the bytes `table` marks.
    pub const fn new(table: [bool; 256]) -> ByteSet {
        let (mut low, mut high) = ([0u8; 16], [0u8; 16]);
        let mut buckets = 0;
        let mut member = 0;
        let mut byte = 0;
        while byte < 256 {
            if table[byte] {
                if member == 0 {
                    member = byte as u8;
                }
                let (lo, hi) = (byte & 0xf, byte >> 4);
                if high[hi] == 0 {
                    assert!(buckets < 8, "a ByteSet spans at most eight high nibbles");
                    high[hi] = 1 << buckets;
                    buckets += 1;
                }
                low[lo] |= high[hi];
            }
            byte += 1;
        }
        ByteSet {
            table,
            low,
            high,
            member,
        }
    }

    #[inline]
    pub fn contains(&self, byte: u8) -> bool {
        self.table[byte as usize]
    }
}

/// Bytes per step of [`openings`].
const STEP: usize = 64;

/// Every `<` of `bytes` followed by a byte of `next` (or by nothing: the last byte), in
/// order. A tag's name begins right after its `<`, so a scan that cares about a few
/// names asks only of the `<` that can begin one: on x86-64 CPUs with AVX2, 64 bytes
/// are tested at once for both; elsewhere each `<` found is asked of its next byte.
pub fn openings<'a>(bytes: &'a [u8], next: &'static ByteSet) -> Openings<'a> {
    Openings {
        bytes,
        next,
        block: 0,
        mask: 0,
        next_block: 0,
        wide: wide_available(),
    }
}

/// See [`openings`].
pub struct Openings<'a> {
    bytes: &'a [u8],
    next: &'static ByteSet,
    /// Where the step of `mask` starts.
    block: usize,
    /// The openings of that step not yet given.
    mask: u64,
    next_block: usize,
    /// AVX2 is there.
    wide: bool,
}

impl Iterator for Openings<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next_block >= self.bytes.len() {
                return None;
            }
            self.mask = self.step_mask(self.next_block);
            self.block = self.next_block;
            self.next_block += STEP;
        }
        let at = self.block + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

impl Openings<'_> {
    /// The openings among the [`STEP`] bytes at `at`.
    #[inline]
    fn step_mask(&self, at: usize) -> u64 {
        let bytes = self.bytes;
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // The step's bytes and the one after them.
            if at + STEP < bytes.len() {
                // SAFETY: `wide` says the CPU has AVX2; the step and the byte after it
                // are in `bytes`.
                return unsafe { wide::step_mask(&bytes[at..at + STEP + 1], self.next) };
            }
            // The last step: padded, with a byte of the set after the last byte, so
            // that a `<` there is given (its tag is cut).
            let rest = &bytes[at..];
            let mut padded = [0u8; STEP + 1];
            padded[..rest.len()].copy_from_slice(rest);
            padded[rest.len()] = self.next.member;
            // SAFETY: as above; `padded` holds a step and one byte.
            let mask = unsafe { wide::step_mask(&padded, self.next) };
            return mask & (u64::MAX >> (STEP - rest.len()));
        }
        let mut mask = 0u64;
        for quarter in 0..STEP / BLOCK {
            let from = at + quarter * BLOCK;
            if from >= bytes.len() {
                break;
            }
            mask |= u64::from(block_mask(bytes, from, b'<')) << (quarter * BLOCK);
        }
        let mut kept = mask;
        while mask != 0 {
            let bit = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if let Some(&after) = bytes.get(at + bit + 1) {
                if !self.next.contains(after) {
                    kept &= !(1u64 << bit);
                }
            }
        }
        kept
    }
}

/// Whether the CPU has AVX2 (checked once; the standard library caches it).
fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// AVX2 steps, compiled for AVX2 and called only where the CPU has it.
#[cfg(target_arch = "x86_64")]
mod wide {
    use super::{ByteSet, STEP};
    use std::arch::x86_64::*;

    /// The bits of a step (`bytes`: its [`STEP`] bytes and the next one) where a `<`
    /// is followed by a byte of `next`.
    ///
    /// # Safety
    ///
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn step_mask(bytes: &[u8], next: &ByteSet) -> u64 {
        assert!(bytes.len() > STEP);
        let p = bytes.as_ptr();
        // SAFETY: every load reads 32 bytes at `p + off` or `p + off + 1` with
        // `off + 33 <= STEP + 1 <= bytes.len()` (the assert); the tables are 16 bytes.
        unsafe {
            let low = _mm256_broadcastsi128_si256(_mm_loadu_si128(next.low.as_ptr().cast()));
            let high = _mm256_broadcastsi128_si256(_mm_loadu_si128(next.high.as_ptr().cast()));
            let nibble = _mm256_set1_epi8(0x0f);
            let lt = _mm256_set1_epi8(b'<' as i8);
            macro_rules! half {
                ($off:expr) => {{
                    let here = _mm256_loadu_si256(p.add($off).cast());
                    let after = _mm256_loadu_si256(p.add($off + 1).cast());
                    let lo = _mm256_shuffle_epi8(low, _mm256_and_si256(after, nibble));
                    let hi = _mm256_shuffle_epi8(
                        high,
                        _mm256_and_si256(_mm256_srli_epi16(after, 4), nibble),
                    );
                    let outside =
                        _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
                    let opening = _mm256_andnot_si256(outside, _mm256_cmpeq_epi8(here, lt));
                    _mm256_movemask_epi8(opening) as u32
                }};
            }
            u64::from(half!(0)) | u64::from(half!(32)) << 32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find_agrees_with_memchr(
            bytes in proptest::collection::vec(prop_oneof![Just(b'<'), Just(b'a'), Just(0u8), Just(0xbc), any::<u8>()], 0..80),
            byte in prop_oneof![Just(b'<'), Just(0u8), any::<u8>()],
        ) {
            prop_assert_eq!(find(&bytes, byte), memchr::memchr(byte, &bytes));
        }

        #[test]
        fn openings_are_the_lt_followed_by_a_byte_of_the_set(
            bytes in proptest::collection::vec(prop_oneof![Just(b'<'), Just(b'a'), Just(b'A'), Just(b'/'), Just(b's'), any::<u8>()], 0..300),
        ) {
            static SET: ByteSet = ByteSet::new({
                let mut t = [false; 256];
                let members = b"aefilnosAEFILNOS";
                let mut i = 0;
                while i < members.len() { t[members[i] as usize] = true; i += 1; }
                t
            });
            let expected: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i] == b'<' && bytes.get(i + 1).is_none_or(|&b| SET.contains(b)))
                .collect();
            prop_assert_eq!(openings(&bytes, &SET).collect::<Vec<_>>(), expected.clone());
            // The portable path, wherever this runs.
            let portable = Openings { bytes: &bytes, next: &SET, block: 0, mask: 0, next_block: 0, wide: false };
            prop_assert_eq!(portable.collect::<Vec<_>>(), expected);
        }

        #[test]
        fn the_word_mask_is_the_block_mask(bytes in proptest::array::uniform16(any::<u8>()), byte: u8) {
            let (lo, hi) = (word(&bytes, 0), word(&bytes, 8));
            prop_assert_eq!(word_mask(lo, byte) | word_mask(hi, byte) << 8, full_block_mask(&bytes, byte));
        }
    }
}
