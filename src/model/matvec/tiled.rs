//! Weight blocks repacked into tiles of 8 rows, so one 256-bit register holds the
//! same 4 columns of 8 rows: one integer dot (vpdpbusd, or maddubs + madd) against 4 broadcast
//! activation bytes gives 8 rows' partial sums at once, and the scales are applied to 8 rows per
//! instruction. The per-row kernels spend most of their time on one row's scale arithmetic and its
//! horizontal sum; here both are shared by a tile.
//!
//! The tiles hold what the blocks hold, nothing more: the 32-value types keep their f16 scales
//! and their exact size; the k-quants unpack their 6-bit scales to bytes and widen d and dmin to
//! f32 (Q4_K 4.75 bits per weight against the file's 4.5, Q6_K 6.63 against 6.56). The GGUF
//! blocks are not kept beside them.
//!
//! Layout, per tile of 8 rows and per block of 32 columns (rows r, byte i of a group of 4):
//! - Q4_1: d[8] f16, m[8] f16, four 32-byte nibble pairs: byte 32p+4r+i = q[8p+i] | q[8p+4+i] << 4.
//! - Q5_0: d[8] f16, the low nibbles as Q4_1 lays them out, then 32 bytes of high bits: bit g of
//!   byte 4r+i = bit 4 of q[4g+i].
//! - Q8_0: d[8] f16, then per group g of 4 values 32 bytes: byte 32g+4r+i = q[4g+i] (signed).
//!
//! Per tile of 8 rows and per super-block of 256 columns:
//! - Q4_K: d[8] f32, dmin[8] f32, scale[8 sub-blocks][8] u8, min[8][8] u8, then per sub-block of 32
//!   four 32-byte pairs: byte 4r+i of pair p = q[32j+8p+i] | q[32j+8p+4+i] << 4.
//! - Q6_K: d[8] f32, scale[16 halves of 16][8] i8, then per sub-block of 32 the low nibbles as Q4_K
//!   lays them out (128 bytes), then two 32-byte vectors of high bit pairs: byte 4r+i of vector h
//!   = Σ_g hi(q[32j+16h+4g+i]) << 2g.
//!
//! The scalar `dot` below defines the arithmetic (the order of every f32 operation); the SIMD
//! versions in simd.rs give the same bits.

use super::scalar::{nibbles, q5_0_quants, q6k_quants};
use super::{f16_at, q4k_scale_min, ActRow, Blocks, BLOCK};

/// Rows in one tile.
pub const ROWS: usize = 8;

pub(super) const Q4_1_BYTES: usize = 16 + 16 + 128;
pub(super) const Q5_0_BYTES: usize = 16 + 128 + 32;
pub(super) const Q8_0_BYTES: usize = 16 + 256;
pub(super) const Q4K_BYTES: usize = 32 + 32 + 64 + 64 + 1024;
pub(super) const Q6K_BYTES: usize = 32 + 128 + 1024 + 512;

/// Bytes of one tile block (8 rows × the type's values) of this type.
pub(super) fn tile_bytes(blocks: Blocks) -> usize {
    match blocks {
        Blocks::Q4_1 => Q4_1_BYTES,
        Blocks::Q5_0 => Q5_0_BYTES,
        Blocks::Q8_0 => Q8_0_BYTES,
        Blocks::Q4K => Q4K_BYTES,
        Blocks::Q6K => Q6K_BYTES,
    }
}

/// Row-major GGUF blocks of (rows, cols) → tiles, tile-major then super-block.
pub(super) fn pack(blocks: Blocks, data: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let nsb = cols / blocks.values();
    let tb = tile_bytes(blocks);
    let mut out = vec![0u8; rows / ROWS * nsb * tb];
    for t in 0..rows / ROWS {
        for sb in 0..nsb {
            let dst = &mut out[(t * nsb + sb) * tb..(t * nsb + sb + 1) * tb];
            let block = |r: usize| {
                let at = ((t * ROWS + r) * nsb + sb) * blocks.bytes();
                &data[at..at + blocks.bytes()]
            };
            match blocks {
                Blocks::Q4_1 | Blocks::Q5_0 | Blocks::Q8_0 => pack_small(blocks, block, dst),
                Blocks::Q4K => pack_q4k(block, dst),
                Blocks::Q6K => pack_q6k(block, dst),
            }
        }
    }
    out
}

fn put_f32(dst: &mut [u8], at: usize, v: f32) {
    dst[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn get_f32(src: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([src[at], src[at + 1], src[at + 2], src[at + 3]])
}

/// The 256 quants (0..15) of a Q4_K block.
fn q4k_quants(blk: &[u8]) -> [u8; 256] {
    let qs = &blk[16..144];
    std::array::from_fn(|v| {
        let (sub, l) = (v / 32, v % 32);
        (qs[32 * (sub / 2) + l] >> (4 * (sub % 2))) & 0x0f
    })
}

/// Nibble pairs of one sub-block of 8 rows: 4 vectors of 32 bytes (see the module comment).
fn put_nibbles(q: &[[u8; 256]; ROWS], j: usize, dst: &mut [u8]) {
    for p in 0..4 {
        for r in 0..ROWS {
            for i in 0..4 {
                let v = 32 * j + 8 * p + i;
                dst[32 * p + 4 * r + i] = (q[r][v] & 0x0f) | ((q[r][v + 4] & 0x0f) << 4);
            }
        }
    }
}

fn pack_small<'a>(blocks: Blocks, block: impl Fn(usize) -> &'a [u8], dst: &mut [u8]) {
    let mut q = [[0u8; 256]; ROWS];
    for (r, q) in q.iter_mut().enumerate() {
        let blk = block(r);
        dst[2 * r..2 * r + 2].copy_from_slice(&blk[..2]);
        let values = match blocks {
            Blocks::Q4_1 => {
                dst[16 + 2 * r..18 + 2 * r].copy_from_slice(&blk[2..4]);
                nibbles(&blk[4..20])
            }
            Blocks::Q5_0 => q5_0_quants(blk),
            _ => std::array::from_fn(|j| blk[2 + j] as i8 as i32),
        };
        for (q, v) in q.iter_mut().zip(values) {
            *q = v as u8;
        }
    }
    match blocks {
        Blocks::Q4_1 => put_nibbles(&q, 0, &mut dst[32..160]),
        Blocks::Q5_0 => {
            put_nibbles(&q, 0, &mut dst[16..144]);
            for r in 0..ROWS {
                for i in 0..4 {
                    dst[144 + 4 * r + i] = (0..8).fold(0u8, |acc, g| acc | (((q[r][4 * g + i] >> 4) & 1) << g));
                }
            }
        }
        _ => {
            for g in 0..8 {
                for r in 0..ROWS {
                    for i in 0..4 {
                        dst[16 + 32 * g + 4 * r + i] = q[r][4 * g + i];
                    }
                }
            }
        }
    }
}

fn pack_q4k<'a>(block: impl Fn(usize) -> &'a [u8], dst: &mut [u8]) {
    let q: [[u8; 256]; ROWS] = std::array::from_fn(|r| q4k_quants(block(r)));
    for r in 0..ROWS {
        let blk = block(r);
        put_f32(dst, 4 * r, f16_at(blk, 0));
        put_f32(dst, 32 + 4 * r, f16_at(blk, 2));
        for j in 0..8 {
            let (sc, m) = q4k_scale_min(j, &blk[4..16]);
            dst[64 + 8 * j + r] = sc as u8;
            dst[128 + 8 * j + r] = m as u8;
        }
    }
    for j in 0..8 {
        put_nibbles(&q, j, &mut dst[192 + 128 * j..192 + 128 * (j + 1)]);
    }
}

fn pack_q6k<'a>(block: impl Fn(usize) -> &'a [u8], dst: &mut [u8]) {
    let q: [[u8; 256]; ROWS] = std::array::from_fn(|r| q6k_quants(block(r)).map(|v| v as u8));
    for r in 0..ROWS {
        let blk = block(r);
        put_f32(dst, 4 * r, f16_at(blk, 208));
        for h in 0..16 {
            dst[32 + 8 * h + r] = blk[192 + h];
        }
    }
    for j in 0..8 {
        put_nibbles(&q, j, &mut dst[160 + 128 * j..160 + 128 * (j + 1)]);
        for h in 0..2 {
            for r in 0..ROWS {
                for i in 0..4 {
                    let byte = (0..4).fold(0u8, |acc, g| acc | ((q[r][32 * j + 16 * h + 4 * g + i] >> 4) << (2 * g)));
                    dst[1184 + 64 * j + 32 * h + 4 * r + i] = byte;
                }
            }
        }
    }
}

/// Quant v of row r from one tile block (Q8_0's signed, the others from 0).
fn quant(blocks: Blocks, tile: &[u8], r: usize, v: usize) -> i32 {
    let (j, w) = (v / 32, v % 32);
    let (p, hi, i) = (w / 8, (w % 8) / 4, w % 4);
    let nibble = |base: usize| ((tile[base + 128 * j + 32 * p + 4 * r + i] >> (4 * hi)) & 0x0f) as i32;
    match blocks {
        Blocks::Q4_1 => nibble(32),
        Blocks::Q5_0 => nibble(16) | ((((tile[144 + 4 * r + i] >> (w / 4)) & 1) as i32) << 4),
        Blocks::Q8_0 => tile[16 + 32 * (w / 4) + 4 * r + i] as i8 as i32,
        Blocks::Q4K => nibble(192),
        Blocks::Q6K => {
            let (h, g) = (w / 16, (w % 16) / 4);
            nibble(160) | ((((tile[1184 + 64 * j + 32 * h + 4 * r + i] >> (2 * g)) & 3) as i32) << 4)
        }
    }
}

/// Row r (0..8) of a row of tile super-blocks as f32 values.
pub(super) fn dequantize(blocks: Blocks, tiles: &[u8], r: usize, out: &mut [f32]) {
    let n = blocks.values();
    for (tile, out) in tiles.chunks_exact(tile_bytes(blocks)).zip(out.chunks_exact_mut(n)) {
        for (v, o) in out.iter_mut().enumerate() {
            let q = quant(blocks, tile, r, v);
            let j = v / BLOCK;
            *o = match blocks {
                Blocks::Q4_1 => f16_at(tile, 2 * r) * q as f32 + f16_at(tile, 16 + 2 * r),
                Blocks::Q5_0 => f16_at(tile, 2 * r) * (q - 16) as f32,
                Blocks::Q8_0 => f16_at(tile, 2 * r) * q as f32,
                Blocks::Q4K => {
                    let dmn = get_f32(tile, 32 + 4 * r) * tile[128 + 8 * j + r] as f32;
                    get_f32(tile, 4 * r) * tile[64 + 8 * j + r] as f32 * q as f32 - dmn
                }
                Blocks::Q6K => get_f32(tile, 4 * r) * (tile[32 + 8 * (v / 16) + r] as i8 as f32) * (q - 32) as f32,
            };
        }
    }
}

/// Σq·x over 4-value groups `groups` of sub-block j (integers: any order gives the same sum).
fn isum(blocks: Blocks, tile: &[u8], r: usize, j: usize, x: &[i8], groups: std::ops::Range<usize>) -> i32 {
    groups.flat_map(|g| (0..4).map(move |i| 4 * g + i)).map(|w| quant(blocks, tile, r, 32 * j + w) * x[w] as i32).sum()
}

/// The 8 rows of one tile row (all super-blocks) dotted with one activation row.
pub(super) fn dot(blocks: Blocks, tiles: &[u8], x: &ActRow) -> [f32; ROWS] {
    let tb = tile_bytes(blocks);
    std::array::from_fn(|r| {
        // Two accumulators, as the SIMD kernels keep (one per parity of sub-block or half).
        let mut acc = [0f32; 2];
        if blocks.values() == BLOCK {
            for (b, tile) in tiles.chunks_exact(tb).enumerate() {
                let (d, s) = (f16_at(tile, 2 * r), isum(blocks, tile, r, 0, &x.q[b * BLOCK..(b + 1) * BLOCK], 0..8));
                let a = &mut acc[b % 2];
                *a = match blocks {
                    Blocks::Q4_1 => {
                        f16_at(tile, 16 + 2 * r).mul_add(x.sums[b], (s as f32 * d).mul_add(x.scales[b], *a))
                    }
                    Blocks::Q5_0 => {
                        let s = s - 16 * (x.half_sums[2 * b] + x.half_sums[2 * b + 1]);
                        (s as f32 * d).mul_add(x.scales[b], *a)
                    }
                    _ => (s as f32 * d).mul_add(x.scales[b], *a),
                };
            }
            return acc[0] + acc[1];
        }
        for (sb, tile) in tiles.chunks_exact(tb).enumerate() {
            let d = get_f32(tile, 4 * r);
            for j in 0..8 {
                let b = sb * 8 + j;
                let xq = &x.q[b * BLOCK..(b + 1) * BLOCK];
                match blocks {
                    Blocks::Q4K => {
                        let dsc = d * tile[64 + 8 * j + r] as f32;
                        let dmn = get_f32(tile, 32 + 4 * r) * tile[128 + 8 * j + r] as f32;
                        let t = isum(blocks, tile, r, j, xq, 0..8) as f32 * dsc;
                        let a = t.mul_add(x.scales[b], acc[j % 2]);
                        acc[j % 2] = (-dmn).mul_add(x.sums[b], a);
                    }
                    _ => {
                        for h in 0..2 {
                            let dsc = d * tile[32 + 8 * (2 * j + h) + r] as i8 as f32;
                            let s = isum(blocks, tile, r, j, xq, 4 * h..4 * h + 4) - 32 * x.half_sums[2 * b + h];
                            acc[h] = (s as f32 * dsc).mul_add(x.scales[b], acc[h]);
                        }
                    }
                }
            }
        }
        acc[0] + acc[1]
    })
}
