//! Finding where one JSON array element ends, 64 bytes at a time.
//!
//! The re-framing hot loop: an element's bytes only matter for nesting depth, strings and escapes.
//! Each 64-byte block is classified at once (quotes, backslashes, brackets, commas and possible line
//! breaks as 64-bit masks; on x86_64 with AVX-512BW or AVX2 when the CPU has them, else SSE2),
//! escapes and string interiors are resolved with bit arithmetic (the technique of simdjson's stage
//! 1, the prefix XOR as one carry-less multiplication where the CPU has it), a block that cannot close
//! the element is settled by counting its brackets, and otherwise only its brackets outside strings
//! are visited one by one. A byte-at-a-time loop runs at about 1 GB/s on Immich assets; this runs
//! several times faster.

use super::json::SplitError;

/// Where the scan of one element stands between two chunks of the body.
#[derive(Debug, Default, Clone, Copy)]
pub struct ElementScan {
    depth: u32,
    in_string: bool,
    /// The next byte is escaped (the last block ended in an odd run of backslashes).
    escape_pending: bool,
    /// A block scanned since [`ElementScan::take_line_break`] last ran held a byte that may be a
    /// line break. Kept across element ends: the caller asks after the scan returns.
    line_break: bool,
}

/// The 64-bit masks of one block: bit `i` stands for byte `i`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    /// `{` and `[`.
    open: u64,
    /// `}` and `]`.
    close: u64,
    comma: u64,
    /// Bytes up to 0x0D: `\n` and `\r` among them (the other control bytes are rare in JSON, and
    /// one compare catches them all; a false alarm only costs a closer look).
    line_break: u64,
}

const BLOCK: usize = 64;

impl ElementScan {
    /// Scans `bytes`, all of which belong to the current element until it ends. Returns the index
    /// of the byte that ends it — a `,` or the array's `]` at depth 0, outside strings — or `None`
    /// when the element goes on past `bytes`. The scan state is reset when an element ends.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<Option<usize>, SplitError> {
        #[cfg(target_arch = "x86_64")]
        {
            // Each check reads a flag std caches after the first call.
            use std::arch::is_x86_feature_detected as has;
            let popcnt_clmul = has!("popcnt") && has!("pclmulqdq");
            if popcnt_clmul && has!("avx512bw") {
                // SAFETY: the CPU has AVX-512BW, POPCNT and PCLMULQDQ.
                return unsafe { self.scan_avx512(bytes) };
            }
            if popcnt_clmul && has!("avx2") {
                // SAFETY: the CPU has AVX2, POPCNT and PCLMULQDQ.
                return unsafe { self.scan_avx2(bytes) };
            }
        }
        self.scan_with(bytes, classify, prefix_xor)
    }

    /// [`ElementScan::scan`] compiled for AVX-512BW: a block is one register.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512bw,popcnt,pclmulqdq")]
    fn scan_avx512(&mut self, bytes: &[u8]) -> Result<Option<usize>, SplitError> {
        self.scan_with(bytes, |block| classify_avx512(block), |x| prefix_xor_clmul(x))
    }

    /// [`ElementScan::scan`] compiled for AVX2: a block is two registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt,pclmulqdq")]
    fn scan_avx2(&mut self, bytes: &[u8]) -> Result<Option<usize>, SplitError> {
        self.scan_with(bytes, |block| classify_avx2(block), |x| prefix_xor_clmul(x))
    }

    /// The block loop, inlined into each instruction-set variant with its classifier and its
    /// [`prefix_xor`] (compiled with `popcnt` there, `count_ones` is one instruction instead of a
    /// dozen; with `pclmulqdq`, so is the prefix XOR). The state lives in locals while it runs: kept
    /// in `self`, each block would wait on stores of the previous one.
    #[inline(always)]
    fn scan_with(
        &mut self,
        bytes: &[u8],
        classify: impl Fn(&[u8; BLOCK]) -> Masks,
        prefix_xor: impl Fn(u64) -> u64,
    ) -> Result<Option<usize>, SplitError> {
        let ElementScan { mut depth, mut in_string, mut escape_pending, mut line_break } = *self;
        let mut offset = 0;
        let end = loop {
            if offset >= bytes.len() {
                break None;
            }
            let n = BLOCK.min(bytes.len() - offset);
            let masks = match bytes[offset..].first_chunk::<BLOCK>() {
                Some(block) => classify(block),
                None => {
                    // Spaces are neutral: they set no bit.
                    let mut padded = [b' '; BLOCK];
                    padded[..n].copy_from_slice(&bytes[offset..]);
                    classify(&padded)
                }
            };
            line_break |= masks.line_break != 0;
            let escaped;
            (escaped, escape_pending) = escaped_bytes(masks.backslash, n, escape_pending);
            // Inside strings; flipped when the block starts inside one.
            let inside = prefix_xor(masks.quote & !escaped) ^ 0u64.wrapping_sub(u64::from(in_string));
            let opens = masks.open & !inside;
            let closes = masks.close & !inside;
            if depth > closes.count_ones() {
                // Deeper than this block can climb out of: no element ends here, and commas
                // inside the element do not matter. Most blocks of an Immich asset take this path.
                depth = depth + opens.count_ones() - closes.count_ones();
            } else {
                let at;
                (depth, at) = walk(depth, opens | closes, masks.comma & !inside, offset, bytes)?;
                if at.is_some() {
                    // Ready for the next element.
                    (depth, in_string, escape_pending) = (0, false, false);
                    break at;
                }
            }
            in_string = (inside >> (n - 1)) & 1 == 1;
            offset += n;
        };
        *self = ElementScan { depth, in_string, escape_pending, line_break };
        Ok(end)
    }

    /// Whether a block scanned since the last call may hold a line break (`\n` or `\r`): when not,
    /// the element's bytes need no second look before they go on one line.
    pub fn take_line_break(&mut self) -> bool {
        std::mem::take(&mut self.line_break)
    }
}

/// Visits a block's brackets in order (`brackets`, outside strings) from `depth`, looking for a
/// comma (in `commas`) while at depth 0 or the array's `]`. Returns the depth after the block and,
/// if the element ends in it, the end's index in `bytes`.
fn walk(
    mut depth: u32,
    mut brackets: u64,
    commas: u64,
    offset: usize,
    bytes: &[u8],
) -> Result<(u32, Option<usize>), SplitError> {
    // Bits after the last bracket visited.
    let mut after = u64::MAX;
    loop {
        if depth == 0 {
            // Bits before the next bracket (all of them when none is left).
            let before_next = (brackets & brackets.wrapping_neg()).wrapping_sub(1);
            let comma = commas & after & before_next;
            if comma != 0 {
                return Ok((0, Some(offset + comma.trailing_zeros() as usize)));
            }
        }
        if brackets == 0 {
            return Ok((depth, None));
        }
        let bit = brackets.trailing_zeros();
        brackets &= brackets - 1;
        after = u64::MAX.checked_shl(bit + 1).unwrap_or(0);
        let at = offset + bit as usize;
        match bytes[at] {
            b'{' | b'[' => depth += 1,
            _ if depth > 0 => depth -= 1,
            // The array's own `]`.
            b']' => return Ok((0, Some(at))),
            _ => return Err(SplitError("mismatched '}'".into())),
        }
    }
}

/// The bytes escaped by a backslash in a block of `n` bytes, and whether the next block's first
/// byte is (`pending` says whether this block's is): odd runs carry over (simdjson's branch-free
/// method).
fn escaped_bytes(backslash: u64, n: usize, pending: bool) -> (u64, bool) {
    const EVEN_BITS: u64 = 0x5555_5555_5555_5555;
    let pending = u64::from(pending);
    let backslash = backslash & !pending;
    let follows_escape = (backslash << 1) | pending;
    let odd_sequence_starts = backslash & !EVEN_BITS & !follows_escape;
    let (sequences_starting_on_even_bits, overflow) = odd_sequence_starts.overflowing_add(backslash);
    let escaped = (EVEN_BITS ^ (sequences_starting_on_even_bits << 1)) & follows_escape;
    let next_pending = if n == BLOCK { overflow } else { (escaped >> n) & 1 == 1 };
    (escaped, next_pending)
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`: set inside strings (from the opening
/// quote up to, not including, the closing one).
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// [`prefix_xor`] in one instruction: a carry-less multiplication by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::*;
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// One classifier body for the SSE2 and AVX2 register widths: the block is read as lanes of
/// `$width` bytes, each compared with the five bytes that matter, and each comparison's movemask
/// shifted into place.
#[cfg(target_arch = "x86_64")]
macro_rules! classify_lanes {
    ($block:expr, $width:literal as $movemask_bits:ty, $vector:ty,
     $load:ident, $set1:ident, $or:ident, $cmpeq:ident, $min:ident, $movemask:ident) => {{
        use std::arch::x86_64::*;
        let quote = $set1(b'"' as i8);
        let backslash = $set1(b'\\' as i8);
        let comma = $set1(b',' as i8);
        // `[` | 0x20 == `{` and `]` | 0x20 == `}`; no other byte maps onto either.
        let fold = $set1(0x20);
        let open = $set1(b'{' as i8);
        let close = $set1(b'}' as i8);
        let line_break = $set1(0x0D);
        let mut masks = Masks::default();
        for lane in 0..BLOCK / $width {
            // SAFETY: an unaligned load of `$width` bytes at a multiple of `$width` inside the
            // 64-byte block.
            let v = unsafe { $load($block.as_ptr().add(lane * $width).cast()) };
            let folded = $or(v, fold);
            let bits = |m: $vector| u64::from($movemask(m) as $movemask_bits) << (lane * $width);
            masks.quote |= bits($cmpeq(v, quote));
            masks.backslash |= bits($cmpeq(v, backslash));
            masks.comma |= bits($cmpeq(v, comma));
            masks.open |= bits($cmpeq(folded, open));
            masks.close |= bits($cmpeq(folded, close));
            // v <= 0x0D, unsigned: the minimum of the two is v itself.
            masks.line_break |= bits($cmpeq($min(v, line_break), v));
        }
        masks
    }};
}

/// The baseline classifier on x86_64: SSE2.
#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8; BLOCK]) -> Masks {
    // SAFETY: SSE2 is part of the x86_64 baseline.
    unsafe { classify_sse2(block) }
}

/// The SSE2 classifier: four 16-byte registers per block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn classify_sse2(block: &[u8; BLOCK]) -> Masks {
    classify_lanes!(
        block,
        16 as u16,
        __m128i,
        _mm_loadu_si128,
        _mm_set1_epi8,
        _mm_or_si128,
        _mm_cmpeq_epi8,
        _mm_min_epu8,
        _mm_movemask_epi8
    )
}

/// The AVX2 classifier: two 32-byte registers per block.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn classify_avx2(block: &[u8; BLOCK]) -> Masks {
    classify_lanes!(
        block,
        32 as u32,
        __m256i,
        _mm256_loadu_si256,
        _mm256_set1_epi8,
        _mm256_or_si256,
        _mm256_cmpeq_epi8,
        _mm256_min_epu8,
        _mm256_movemask_epi8
    )
}

/// The AVX-512BW classifier: the whole block in one register, comparisons straight to bit masks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
fn classify_avx512(block: &[u8; BLOCK]) -> Masks {
    use std::arch::x86_64::*;
    // SAFETY: an unaligned 64-byte load of a 64-byte array.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    let folded = _mm512_or_si512(v, _mm512_set1_epi8(0x20));
    Masks {
        quote: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'"' as i8)),
        backslash: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\\' as i8)),
        comma: _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b',' as i8)),
        open: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'{' as i8)),
        close: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'}' as i8)),
        line_break: _mm512_cmple_epu8_mask(v, _mm512_set1_epi8(0x0D)),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn classify(block: &[u8; BLOCK]) -> Masks {
    classify_bytewise(block)
}

/// The portable classifier (and the reference the SIMD one is tested against).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn classify_bytewise(block: &[u8; BLOCK]) -> Masks {
    let mut masks = Masks::default();
    for (i, b) in block.iter().enumerate() {
        let bit = 1u64 << i;
        match b {
            b'"' => masks.quote |= bit,
            b'\\' => masks.backslash |= bit,
            b'{' | b'[' => masks.open |= bit,
            b'}' | b']' => masks.close |= bit,
            b',' => masks.comma |= bit,
            0..=0x0D => masks.line_break |= bit,
            _ => {}
        }
    }
    masks
}

#[cfg(any(test, feature = "fuzzing"))]
/// The plain byte-at-a-time scanner the block scanner must agree with: where the element of
/// `bytes` ends.
pub fn reference_end(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escape) = (0u32, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escape {
                escape = false;
            } else if b == b'\\' {
                escape = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' => return Some(i),
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// One block loop.
#[cfg(any(test, feature = "fuzzing"))]
pub type Scanner = fn(&mut ElementScan, &[u8]) -> Result<Option<usize>, SplitError>;

/// Every block loop this CPU can run: the portable/SSE2 one, and AVX2 and AVX-512 if present.
#[cfg(any(test, feature = "fuzzing"))]
pub fn variants() -> Vec<(&'static str, Scanner)> {
    let mut all: Vec<(&'static str, Scanner)> = vec![("baseline", |s, b| s.scan_with(b, classify, prefix_xor))];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("pclmulqdq") {
            // SAFETY: the CPU has AVX2 (and with it POPCNT) and PCLMULQDQ.
            all.push(("avx2", |s, b| unsafe { s.scan_avx2(b) }));
        }
        if std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("pclmulqdq") {
            // SAFETY: the CPU has AVX-512BW (and with it POPCNT) and PCLMULQDQ.
            all.push(("avx512", |s, b| unsafe { s.scan_avx512(b) }));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `doc` fed in pieces of `piece` bytes; the end index within the whole document.
    fn scan_in_pieces(scanner: Scanner, doc: &[u8], piece: usize) -> Option<usize> {
        let mut scan = ElementScan::default();
        let mut base = 0;
        for part in doc.chunks(piece) {
            if let Some(at) = scanner(&mut scan, part).expect("valid") {
                return Some(base + at);
            }
            base += part.len();
        }
        None
    }

    #[test]
    fn agrees_with_the_bytewise_scanner_on_tricky_strings_at_every_split() {
        let long = "\\\\".repeat(40);
        let docs = [
            r#"{"a":"x\"y,]","b":[1,{"c":"\\"}]},tail"#.to_string(),
            format!(r#""{long}\",still inside" ,next"#),
            format!(r#"{{"k":"{}"}}]"#, "\\\\\\\"".repeat(30)),
            "12345]".to_string(),
            format!(r#"[[[{{"deep":"{}"}}]]],"#, "é".repeat(50)),
        ];
        for doc in &docs {
            let expected = reference_end(doc.as_bytes());
            assert!(expected.is_some(), "{doc}");
            for (name, scanner) in variants() {
                for piece in 1..=doc.len() {
                    assert_eq!(
                        scan_in_pieces(scanner, doc.as_bytes(), piece),
                        expected,
                        "{name}, piece {piece} of {doc}"
                    );
                }
            }
        }
    }

    /// Found by the fuzzer (fuzz/corpus/scanner/backslash-outside-a-string): a backslash outside
    /// any string, which JSON never has. The block scanner takes `\"` as an escaped quote there
    /// too (as simdjson's stage 1 does); every variant must still agree with every other.
    #[test]
    fn a_backslash_outside_a_string_is_resolved_alike_by_every_variant() {
        // The fuzzer's input; its first byte chose pieces of 6.
        let doc = &include_bytes!("../../fuzz/corpus/scanner/backslash-outside-a-string")[1..];
        let answers: Vec<Option<usize>> = variants().iter().map(|(_, v)| scan_in_pieces(*v, doc, 6)).collect();
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
        assert_eq!(reference_end(doc), Some(37), "the byte-at-a-time reader ignores that backslash");
    }

    #[test]
    fn agrees_with_the_bytewise_scanner_on_random_documents() {
        // Random tokens; backslashes only inside strings, as in any JSON.
        let outside: [&[u8]; 8] = [b"{", b"}", b"[", b"]", b",", b"a", b" ", b"\n"];
        let inside: [&[u8]; 8] = [b"a", b",", b"]", b"{", b"\\\"", b"\\\\", b" ", b"\\n"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut ended = 0;
        for _ in 0..3000 {
            let mut doc = Vec::new();
            for _ in 0..1 + next(60) {
                if next(4) == 0 {
                    doc.push(b'"');
                    for _ in 0..next(12) {
                        doc.extend_from_slice(inside[next(inside.len())]);
                    }
                    doc.push(b'"');
                } else {
                    doc.extend_from_slice(outside[next(outside.len())]);
                }
            }
            let expected = reference_end(&doc);
            // A stray '}' at depth 0 is an error for the block scanner; the reference skips it.
            let outcome = ElementScan::default().scan(&doc);
            if let Ok(found) = outcome {
                assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(&doc));
                ended += usize::from(found.is_some());
            }
            for (name, scanner) in variants() {
                assert_eq!(scanner(&mut ElementScan::default(), &doc), outcome, "{name}");
                if outcome.is_ok() {
                    for piece in [1, 2, 7, 63, 64, 65, 127] {
                        assert_eq!(scan_in_pieces(scanner, &doc, piece), expected, "{name}, piece {piece}");
                    }
                }
            }
        }
        assert!(ended > 1000, "only {ended} documents had an element end");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_carry_less_prefix_xor_matches_the_shifted_one() {
        if !std::arch::is_x86_feature_detected!("pclmulqdq") {
            return;
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for value in [x, x & 0xff, !0, 0, 1 << 63] {
                // SAFETY: the CPU has PCLMULQDQ.
                assert_eq!(unsafe { prefix_xor_clmul(value) }, prefix_xor(value), "{value:#x}");
            }
        }
    }

    #[test]
    fn simd_classification_matches_the_bytewise_one() {
        let mut block = [0u8; BLOCK];
        for start in 0..4u8 {
            for (i, b) in block.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(37).wrapping_add(start * 64);
            }
            let expected = classify_bytewise(&block);
            assert_eq!(classify(&block), expected);
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    assert_eq!(unsafe { classify_avx2(&block) }, expected);
                }
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU has AVX-512BW.
                    assert_eq!(unsafe { classify_avx512(&block) }, expected);
                }
            }
        }
    }
}
