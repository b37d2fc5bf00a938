//! AVX2 kernels: one weight block is unpacked to 32 bytes in a register once and dotted with
//! up to N activation rows (maddubs: unsigned × signed bytes into pairs of i16, madd into i32;
//! where the CPU has AVX-512 VNNI, one vpdpbusd on the same 256-bit registers instead).
//! Each token keeps two accumulators (even and odd blocks) so one row is not a single chain of
//! dependent FMAs; a token's operations are the same whatever N is.

/// Asks for the cache lines of the tile block about 4 KiB past `p` (4 k-quant tile blocks of
/// `bytes` each, or 16 of the 32-value types): decode streams every weight from memory once per
/// token. A hint: an address past the end is never read.
#[inline]
pub(super) fn prefetch_ahead(p: *const u8, bytes: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let next = p.wrapping_add(if bytes >= 1024 { 4 } else { 16 } * bytes);
    for off in (0..bytes).step_by(64) {
        // SAFETY: SSE is part of x86-64; a prefetch does not fault on any address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(off) as *const i8) };
    }
}

/// The kernels, compiled once per instruction set: `$vnni` picks the integer dot.
macro_rules! kernels {
    ($name:ident, $features:literal, $vnni:literal) => {
        pub(super) mod $name {
            use std::arch::x86_64::*;

            use super::super::tiled::{self, ROWS};
            use super::super::{q4k_scale_min, ActRow, Blocks, BLOCK};
            use super::prefetch_ahead;

            /// # Safety
            /// The CPU has AVX2, FMA and F16C; `row` holds whole blocks and each `xs` row as many values.
            #[target_feature(enable = $features)]
            pub(in crate::model::matvec) unsafe fn dot<const N: usize>(
                blocks: Blocks,
                row: &[u8],
                xs: &[ActRow; N],
            ) -> [f32; N] {
                match blocks {
                    Blocks::Q4_1 => small::<N, Q4_1>(row, xs),
                    Blocks::Q5_0 => small::<N, Q5_0>(row, xs),
                    Blocks::Q8_0 => small::<N, Q8_0>(row, xs),
                    Blocks::Q4K => q4k::<N>(row, xs),
                    Blocks::Q6K => q6k::<N>(row, xs),
                }
            }

            /// # Safety
            /// As `dot`; `tiles` holds whole tile super-blocks of `blocks` (Q4_K or Q6_K).
            #[target_feature(enable = $features)]
            pub(in crate::model::matvec) unsafe fn dot_tile<const N: usize>(
                blocks: Blocks,
                tiles: &[u8],
                xs: &[ActRow; N],
            ) -> [[f32; ROWS]; N] {
                let acc = match blocks {
                    Blocks::Q4K => tile_q4k::<N>(tiles, xs),
                    Blocks::Q6K => tile_q6k::<N>(tiles, xs),
                    small => tile_small::<N>(small, tiles, xs),
                };
                std::array::from_fn(|i| {
                    let mut out = [0f32; ROWS];
                    _mm256_storeu_ps(out.as_mut_ptr(), _mm256_add_ps(acc[i][0], acc[i][1]));
                    out
                })
            }

            /// Σ over 4-value groups of q·x, 8 rows at once: `w[g]` holds group g of each row
            /// (unsigned bytes), x's 4 bytes of group g are broadcast to every row. Without VNNI,
            /// FOLD groups' maddubs pairs are added as i16 before one widening madd: exact while
            /// FOLD · 2 · max(w) · 127 stays below 2¹⁵ (nibbles: 8; 5-bit: 4; 6-bit: 2), so the
            /// integer sum, and every bit after it, is the same as widening each group.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn tile_isum<const G: usize, const FOLD: usize>(w: &[__m256i; G], x: *const i8) -> __m256i {
                let xv = |g: usize| _mm256_set1_epi32((x.add(4 * g) as *const i32).read_unaligned());
                let mut s = [_mm256_setzero_si256(); 2];
                if $vnni {
                    for g in 0..G {
                        s[g % 2] = _mm256_dpbusd_epi32(s[g % 2], w[g], xv(g));
                    }
                } else {
                    for (k, g) in (0..G).step_by(FOLD).enumerate() {
                        let mut pairs = _mm256_maddubs_epi16(w[g], xv(g));
                        for f in 1..FOLD {
                            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(w[g + f], xv(g + f)));
                        }
                        s[k % 2] = _mm256_add_epi32(s[k % 2], _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
                    }
                }
                _mm256_add_epi32(s[0], s[1])
            }

            /// The 8 groups of one sub-block's low nibbles (4 registers of nibble pairs).
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn tile_nibbles(p: *const u8) -> [__m256i; 8] {
                let low = _mm256_set1_epi8(0x0f);
                let mut w = [_mm256_setzero_si256(); 8];
                for pair in 0..4 {
                    let v = _mm256_loadu_si256(p.add(32 * pair) as *const __m256i);
                    w[2 * pair] = _mm256_and_si256(v, low);
                    w[2 * pair + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                }
                w
            }

            /// 8 bytes → 8 f32 lanes (unsigned or signed bytes).
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn bytes_ps(p: *const u8, signed: bool) -> __m256 {
                let b = _mm_loadl_epi64(p as *const __m128i);
                _mm256_cvtepi32_ps(if signed { _mm256_cvtepi8_epi32(b) } else { _mm256_cvtepu8_epi32(b) })
            }

            /// f16 scales of 8 rows → 8 f32 lanes.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn halves_ps(p: *const u8) -> __m256 {
                _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
            }

            /// Q4_1, Q5_0 and Q8_0 tiles (one block of 32 per tile block).
            #[target_feature(enable = $features)]
            unsafe fn tile_small<const N: usize>(blocks: Blocks, tiles: &[u8], xs: &[ActRow; N]) -> [[__m256; 2]; N] {
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                let tb = tiled::tile_bytes(blocks);
                let one = _mm256_set1_epi8(1);
                for (b, tile) in tiles.chunks_exact(tb).enumerate() {
                    let p = tile.as_ptr();
                    prefetch_ahead(p, tb);
                    let d = halves_ps(p);
                    let k = b % 2;
                    match blocks {
                        Blocks::Q4_1 => {
                            let (m, w) = (halves_ps(p.add(16)), tile_nibbles(p.add(32)));
                            for i in 0..N {
                                let s = tile_isum::<8, 8>(&w, xs[i].q.as_ptr().add(b * BLOCK));
                                let t = _mm256_mul_ps(_mm256_cvtepi32_ps(s), d);
                                let a = _mm256_fmadd_ps(t, _mm256_set1_ps(*xs[i].scales.get_unchecked(b)), acc[i][k]);
                                acc[i][k] = _mm256_fmadd_ps(m, _mm256_set1_ps(*xs[i].sums.get_unchecked(b)), a);
                            }
                        }
                        Blocks::Q5_0 => {
                            let mut w = tile_nibbles(p.add(16));
                            let hv = _mm256_loadu_si256(p.add(144) as *const __m256i);
                            for (g, w) in w.iter_mut().enumerate() {
                                let bit = _mm256_and_si256(_mm256_srl_epi16(hv, _mm_cvtsi32_si128(g as i32)), one);
                                *w = _mm256_or_si256(*w, _mm256_slli_epi16(bit, 4));
                            }
                            for i in 0..N {
                                let s = tile_isum::<8, 4>(&w, xs[i].q.as_ptr().add(b * BLOCK));
                                let hs = xs[i].half_sums.get_unchecked(2 * b..2 * b + 2);
                                let s = _mm256_sub_epi32(s, _mm256_set1_epi32(16 * (hs[0] + hs[1])));
                                let t = _mm256_mul_ps(_mm256_cvtepi32_ps(s), d);
                                acc[i][k] =
                                    _mm256_fmadd_ps(t, _mm256_set1_ps(*xs[i].scales.get_unchecked(b)), acc[i][k]);
                            }
                        }
                        _ => {
                            let w: [__m256i; 8] =
                                std::array::from_fn(|g| _mm256_loadu_si256(p.add(16 + 32 * g) as *const __m256i));
                            // VNNI: the weights shifted to unsigned (w + 128), the shift taken back
                            // through the block's sum. AVX2: |w| against x with w's sign (maddubs
                            // would saturate on w + 128). Both give the exact integer sum.
                            let flip = _mm256_set1_epi8(-128);
                            let wu: [__m256i; 8] = std::array::from_fn(|g| _mm256_xor_si256(w[g], flip));
                            let aw: [__m256i; 8] = std::array::from_fn(|g| _mm256_sign_epi8(w[g], w[g]));
                            for i in 0..N {
                                let x = xs[i].q.as_ptr().add(b * BLOCK);
                                let s = if $vnni {
                                    let hs = xs[i].half_sums.get_unchecked(2 * b..2 * b + 2);
                                    _mm256_sub_epi32(
                                        tile_isum::<8, 1>(&wu, x),
                                        _mm256_set1_epi32(128 * (hs[0] + hs[1])),
                                    )
                                } else {
                                    let mut s = _mm256_setzero_si256();
                                    for g in 0..8 {
                                        let xv = _mm256_set1_epi32((x.add(4 * g) as *const i32).read_unaligned());
                                        let prod = _mm256_maddubs_epi16(aw[g], _mm256_sign_epi8(xv, w[g]));
                                        s = _mm256_add_epi32(s, _mm256_madd_epi16(prod, _mm256_set1_epi16(1)));
                                    }
                                    s
                                };
                                let t = _mm256_mul_ps(_mm256_cvtepi32_ps(s), d);
                                acc[i][k] =
                                    _mm256_fmadd_ps(t, _mm256_set1_ps(*xs[i].scales.get_unchecked(b)), acc[i][k]);
                            }
                        }
                    }
                }
                acc
            }

            #[target_feature(enable = $features)]
            unsafe fn tile_q4k<const N: usize>(tiles: &[u8], xs: &[ActRow; N]) -> [[__m256; 2]; N] {
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                for (sb, tile) in tiles.chunks_exact(tiled::Q4K_BYTES).enumerate() {
                    let p = tile.as_ptr();
                    prefetch_ahead(p, tiled::Q4K_BYTES);
                    let (d, dmin) = (_mm256_loadu_ps(p as *const f32), _mm256_loadu_ps(p.add(32) as *const f32));
                    for j in 0..8 {
                        let dsc = _mm256_mul_ps(d, bytes_ps(p.add(64 + 8 * j), false));
                        let dmn = _mm256_mul_ps(dmin, bytes_ps(p.add(128 + 8 * j), false));
                        let w = tile_nibbles(p.add(192 + 128 * j));
                        let b = sb * 8 + j;
                        for i in 0..N {
                            let s = tile_isum::<8, 8>(&w, xs[i].q.as_ptr().add(b * BLOCK));
                            let t = _mm256_mul_ps(_mm256_cvtepi32_ps(s), dsc);
                            let a = _mm256_fmadd_ps(t, _mm256_set1_ps(*xs[i].scales.get_unchecked(b)), acc[i][j % 2]);
                            acc[i][j % 2] = _mm256_fnmadd_ps(dmn, _mm256_set1_ps(*xs[i].sums.get_unchecked(b)), a);
                        }
                    }
                }
                acc
            }

            #[target_feature(enable = $features)]
            unsafe fn tile_q6k<const N: usize>(tiles: &[u8], xs: &[ActRow; N]) -> [[__m256; 2]; N] {
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                let three = _mm256_set1_epi8(0x03);
                for (sb, tile) in tiles.chunks_exact(tiled::Q6K_BYTES).enumerate() {
                    let p = tile.as_ptr();
                    prefetch_ahead(p, tiled::Q6K_BYTES);
                    let d = _mm256_loadu_ps(p as *const f32);
                    for j in 0..8 {
                        let mut w = tile_nibbles(p.add(160 + 128 * j));
                        for h in 0..2 {
                            let hv = _mm256_loadu_si256(p.add(1184 + 64 * j + 32 * h) as *const __m256i);
                            let hs = [hv, _mm256_srli_epi16(hv, 2), _mm256_srli_epi16(hv, 4), _mm256_srli_epi16(hv, 6)];
                            for (g, hg) in hs.into_iter().enumerate() {
                                let high = _mm256_slli_epi16(_mm256_and_si256(hg, three), 4);
                                w[4 * h + g] = _mm256_or_si256(w[4 * h + g], high);
                            }
                        }
                        let halves = [[w[0], w[1], w[2], w[3]], [w[4], w[5], w[6], w[7]]];
                        let b = sb * 8 + j;
                        for h in 0..2 {
                            let dsc = _mm256_mul_ps(d, bytes_ps(p.add(32 + 8 * (2 * j + h)), true));
                            for i in 0..N {
                                let x = xs[i].q.as_ptr().add(b * BLOCK + 16 * h);
                                let s = tile_isum::<4, 2>(&halves[h], x);
                                let off = _mm256_set1_epi32(32 * *xs[i].half_sums.get_unchecked(2 * b + h));
                                let t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s, off)), dsc);
                                acc[i][h] =
                                    _mm256_fmadd_ps(t, _mm256_set1_ps(*xs[i].scales.get_unchecked(b)), acc[i][h]);
                            }
                        }
                    }
                }
                acc
            }

            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn hsum(v: __m256) -> f32 {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_movehdup_ps(s));
                _mm_cvtss_f32(s)
            }

            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn f16(p: *const u8) -> f32 {
                let bits = (p as *const u16).read_unaligned();
                _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
            }

            /// 16 packed bytes → 32 nibbles: element j the low nibble of byte j, j+16 the high one.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn nibbles32(p: *const u8) -> __m256i {
                let packed = _mm_loadu_si128(p as *const __m128i);
                _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0f))
            }

            /// Σ w·x over 32 bytes as 8 i32 lanes (lanes 0–3 from bytes 0–15), w unsigned ≤ 127.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn udot(w: __m256i, x: *const i8) -> __m256i {
                let xv = _mm256_loadu_si256(x as *const __m256i);
                if $vnni {
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xv)
                } else {
                    _mm256_madd_epi16(_mm256_maddubs_epi16(w, xv), _mm256_set1_epi16(1))
                }
            }

            /// Σ w·x for signed w (|w| ≤ 127): maddubs wants one unsigned side, so |w| and x with w's sign.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn sdot(w: __m256i, x: *const i8) -> __m256i {
                let xv = _mm256_loadu_si256(x as *const __m256i);
                let (aw, sx) = (_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
                if $vnni {
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx)
                } else {
                    _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1))
                }
            }

            /// A block type of 32 values: how to unpack one block, and what it adds per token.
            trait Small {
                const BYTES: usize;
                /// The block's quants as bytes, whether they are signed, its scale, and the factor of the
                /// activation block's sum (the min or offset term).
                unsafe fn unpack(p: *const u8) -> (__m256i, bool, f32, f32);
            }

            struct Q4_1;
            struct Q5_0;
            struct Q8_0;

            impl Small for Q4_1 {
                const BYTES: usize = 20;
                #[target_feature(enable = $features)]
                #[inline]
                unsafe fn unpack(p: *const u8) -> (__m256i, bool, f32, f32) {
                    (nibbles32(p.add(4)), false, f16(p), f16(p.add(2)))
                }
            }

            impl Small for Q5_0 {
                const BYTES: usize = 22;
                #[target_feature(enable = $features)]
                #[inline]
                unsafe fn unpack(p: *const u8) -> (__m256i, bool, f32, f32) {
                    let qh = (p.add(2) as *const u32).read_unaligned();
                    // Byte i of the register gets bit i of qh: spread byte i/8 of qh to byte i, keep bit i%8.
                    let spread = _mm256_shuffle_epi8(
                        _mm256_set1_epi32(qh as i32),
                        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0),
                    );
                    let bit = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
                    let high =
                        _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
                    let q = _mm256_or_si256(nibbles32(p.add(6)), high);
                    let d = f16(p);
                    // d·(q − 16): the offset goes through the activation block's sum.
                    (q, false, d, -16.0 * d)
                }
            }

            impl Small for Q8_0 {
                const BYTES: usize = 34;
                #[target_feature(enable = $features)]
                #[inline]
                unsafe fn unpack(p: *const u8) -> (__m256i, bool, f32, f32) {
                    (_mm256_loadu_si256(p.add(2) as *const __m256i), true, f16(p), 0.0)
                }
            }

            /// One block of a small type into accumulator k of every token.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn step<const N: usize, T: Small>(
                p: *const u8,
                b: usize,
                xs: &[ActRow; N],
                acc: &mut [[__m256; 2]; N],
                extra: &mut [[f32; 2]; N],
                k: usize,
            ) {
                let (w, signed, d, m) = T::unpack(p);
                for i in 0..N {
                    let x = xs[i].q.as_ptr().add(b * BLOCK);
                    let dot = if signed { sdot(w, x) } else { udot(w, x) };
                    let scale = _mm256_set1_ps(d * *xs[i].scales.get_unchecked(b));
                    acc[i][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i][k]);
                    extra[i][k] += m * *xs[i].sums.get_unchecked(b);
                }
            }

            #[target_feature(enable = $features)]
            unsafe fn small<const N: usize, T: Small>(row: &[u8], xs: &[ActRow; N]) -> [f32; N] {
                let n = row.len() / T::BYTES;
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                let mut extra = [[0f32; 2]; N];
                let rp = row.as_ptr();
                let mut b = 0;
                while b + 1 < n {
                    step::<N, T>(rp.add(b * T::BYTES), b, xs, &mut acc, &mut extra, 0);
                    step::<N, T>(rp.add((b + 1) * T::BYTES), b + 1, xs, &mut acc, &mut extra, 1);
                    b += 2;
                }
                if b < n {
                    step::<N, T>(rp.add(b * T::BYTES), b, xs, &mut acc, &mut extra, 0);
                }
                std::array::from_fn(|i| hsum(_mm256_add_ps(acc[i][0], acc[i][1])) + (extra[i][0] + extra[i][1]))
            }

            #[target_feature(enable = $features)]
            unsafe fn q4k<const N: usize>(row: &[u8], xs: &[ActRow; N]) -> [f32; N] {
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                let mut mins = [0f32; N];
                let low = _mm256_set1_epi8(0x0f);
                for (sb, blk) in row.chunks_exact(144).enumerate() {
                    let p = blk.as_ptr();
                    let (d, dmin) = (f16(p), f16(p.add(2)));
                    let scales = &blk[4..16];
                    for j in 0..4 {
                        let packed = _mm256_loadu_si256(p.add(16 + 32 * j) as *const __m256i);
                        let halves =
                            [_mm256_and_si256(packed, low), _mm256_and_si256(_mm256_srli_epi16(packed, 4), low)];
                        for (k, w) in halves.into_iter().enumerate() {
                            let (sc, m) = q4k_scale_min(2 * j + k, scales);
                            let b = sb * 8 + 2 * j + k;
                            for i in 0..N {
                                let dot = udot(w, xs[i].q.as_ptr().add(b * BLOCK));
                                let scale = _mm256_set1_ps(d * sc * *xs[i].scales.get_unchecked(b));
                                acc[i][k] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i][k]);
                                mins[i] += dmin * m * *xs[i].sums.get_unchecked(b);
                            }
                        }
                    }
                }
                std::array::from_fn(|i| hsum(_mm256_add_ps(acc[i][0], acc[i][1])) - mins[i])
            }

            #[target_feature(enable = $features)]
            unsafe fn q6k<const N: usize>(row: &[u8], xs: &[ActRow; N]) -> [f32; N] {
                let mut acc = [[_mm256_setzero_ps(); 2]; N];
                let low = _mm256_set1_epi8(0x0f);
                let three = _mm256_set1_epi8(0x03);
                let offset = _mm256_set1_epi8(32);
                for (sb, blk) in row.chunks_exact(210).enumerate() {
                    let p = blk.as_ptr();
                    let d = f16(p.add(208));
                    for half in 0..2 {
                        let ql0 = _mm256_loadu_si256(p.add(64 * half) as *const __m256i);
                        let ql1 = _mm256_loadu_si256(p.add(64 * half + 32) as *const __m256i);
                        let qh = _mm256_loadu_si256(p.add(128 + 32 * half) as *const __m256i);
                        // ((qh >> shift) & 3) << 4 per byte (the mask keeps bits from crossing bytes).
                        let h0 = _mm256_slli_epi16(_mm256_and_si256(qh, three), 4);
                        let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4);
                        let h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4);
                        let h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4);
                        let groups = [
                            _mm256_or_si256(_mm256_and_si256(ql0, low), h0),
                            _mm256_or_si256(_mm256_and_si256(ql1, low), h1),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low), h2),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low), h3),
                        ];
                        for (g, q) in groups.into_iter().enumerate() {
                            let w = _mm256_sub_epi8(q, offset);
                            let gi = 4 * half + g;
                            let b = sb * 8 + gi;
                            let (s0, s1) = (blk[192 + 2 * gi] as i8 as f32, blk[192 + 2 * gi + 1] as i8 as f32);
                            for i in 0..N {
                                let dot = sdot(w, xs[i].q.as_ptr().add(b * BLOCK));
                                let dx = d * *xs[i].scales.get_unchecked(b);
                                // Lanes 0–3 hold values 0–15 (first scale), lanes 4–7 values 16–31.
                                let scale = _mm256_set_m128(_mm_set1_ps(dx * s1), _mm_set1_ps(dx * s0));
                                acc[i][g & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i][g & 1]);
                            }
                        }
                    }
                }
                std::array::from_fn(|i| hsum(_mm256_add_ps(acc[i][0], acc[i][1])))
            }
        }
    };
}

kernels!(avx2, "avx2,fma,f16c", false);
kernels!(vnni, "avx2,fma,f16c,avx512vnni,avx512vl", true);
