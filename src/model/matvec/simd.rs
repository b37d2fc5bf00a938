//! AVX2 kernels: one weight block is unpacked to 32 bytes in a register once and dotted with
//! up to N activation rows (maddubs: unsigned × signed bytes into pairs of i16, madd into i32;
//! where the CPU has AVX-512 VNNI, one vpdpbusd on the same 256-bit registers instead).
//! Each token keeps two accumulators (even and odd blocks) so one row is not a single chain of
//! dependent FMAs; a token's operations are the same whatever N is.

/// The kernels, compiled once per instruction set: `$vnni` picks the integer dot.
macro_rules! kernels {
    ($name:ident, $features:literal, $vnni:literal) => {
        pub(super) mod $name {
            use std::arch::x86_64::*;

            use super::super::{q4k_scale_min, ActRow, Blocks, BLOCK};

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
