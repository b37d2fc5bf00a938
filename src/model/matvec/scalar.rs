//! The portable kernels, one loop per block type; they also define what the SIMD ones compute.

use super::{f16_at, q4k_scale_min, ActRow, Blocks, BLOCK};

/// One weight row dotted with one activation row.
pub(super) fn dot(blocks: Blocks, row: &[u8], x: &ActRow) -> f32 {
    match blocks {
        Blocks::Q4_1 => dot_q4_1(row, x),
        Blocks::Q5_0 => dot_q5_0(row, x),
        Blocks::Q8_0 => dot_q8_0(row, x),
        Blocks::Q4K => dot_q4k(row, x),
        Blocks::Q6K => dot_q6k(row, x),
    }
}

/// Integer dot of 32 weight values with activation block b.
fn idot(w: &[i32; BLOCK], x: &ActRow, b: usize) -> i32 {
    w.iter().zip(&x.q[b * BLOCK..(b + 1) * BLOCK]).map(|(&w, &x)| w * x as i32).sum()
}

/// The 32 quants of a Q4_1/Q5_0 nibble block (element j low nibble, j+16 high), before offsets.
pub(super) fn nibbles(qs: &[u8]) -> [i32; BLOCK] {
    std::array::from_fn(|j| if j < 16 { (qs[j] & 0x0f) as i32 } else { (qs[j - 16] >> 4) as i32 })
}

pub(super) fn q5_0_quants(blk: &[u8]) -> [i32; BLOCK] {
    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
    let low = nibbles(&blk[6..22]);
    std::array::from_fn(|j| low[j] | (((qh >> j) & 1) << 4) as i32)
}

/// The 256 quants of a Q6_K block (0..63) and the scale index of each.
pub(super) fn q6k_quants(blk: &[u8]) -> [i32; 256] {
    let (ql, qh) = (&blk[..128], &blk[128..192]);
    let mut q = [0i32; 256];
    for half in 0..2 {
        let (ql, qh, y) = (&ql[64 * half..], &qh[32 * half..], 128 * half);
        for l in 0..32 {
            q[y + l] = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32;
            q[y + l + 32] = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32;
            q[y + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32;
            q[y + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32;
        }
    }
    q
}

fn dot_q4_1(row: &[u8], x: &ActRow) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(20).enumerate() {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        acc += d * x.scales[b] * idot(&nibbles(&blk[4..]), x, b) as f32 + m * x.sums[b];
    }
    acc
}

fn dot_q5_0(row: &[u8], x: &ActRow) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(22).enumerate() {
        let d = f16_at(blk, 0);
        // d·Σ(q − 16)·x = d·dx·Σq·xq − 16·d·(dx·Σxq)
        acc += d * x.scales[b] * idot(&q5_0_quants(blk), x, b) as f32 - 16.0 * d * x.sums[b];
    }
    acc
}

fn dot_q8_0(row: &[u8], x: &ActRow) -> f32 {
    let mut acc = 0f32;
    for (b, blk) in row.chunks_exact(34).enumerate() {
        let d = f16_at(blk, 0);
        let w: [i32; BLOCK] = std::array::from_fn(|j| blk[2 + j] as i8 as i32);
        acc += d * x.scales[b] * idot(&w, x, b) as f32;
    }
    acc
}

fn dot_q4k(row: &[u8], x: &ActRow) -> f32 {
    let mut acc = 0f32;
    for (sb, blk) in row.chunks_exact(144).enumerate() {
        let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
        let (scales, qs) = (&blk[4..16], &blk[16..144]);
        for j in 0..4 {
            let chunk = &qs[32 * j..32 * (j + 1)];
            for (sub, shift) in [(2 * j, 0), (2 * j + 1, 4)] {
                let (sc, m) = q4k_scale_min(sub, scales);
                let w: [i32; BLOCK] = std::array::from_fn(|l| ((chunk[l] >> shift) & 0x0f) as i32);
                let b = sb * 8 + sub;
                acc += d * sc * x.scales[b] * idot(&w, x, b) as f32 - dmin * m * x.sums[b];
            }
        }
    }
    acc
}

fn dot_q6k(row: &[u8], x: &ActRow) -> f32 {
    let mut acc = 0f32;
    for (sb, blk) in row.chunks_exact(210).enumerate() {
        let q = q6k_quants(blk);
        let d = f16_at(blk, 208);
        for g in 0..8 {
            let b = sb * 8 + g;
            let xs = &x.q[b * BLOCK..(b + 1) * BLOCK];
            // Two scales per block of 32, one per 16 values.
            for h in 0..2 {
                let sc = blk[192 + 2 * g + h] as i8 as f32;
                let s: i32 = (0..16).map(|l| (q[g * BLOCK + 16 * h + l] - 32) * xs[16 * h + l] as i32).sum();
                acc += d * sc * x.scales[b] * s as f32;
            }
        }
    }
    acc
}

/// One row of blocks as f32 values.
pub(super) fn dequantize(blocks: Blocks, row: &[u8], out: &mut [f32]) {
    let n = blocks.values();
    for (blk, out) in row.chunks_exact(blocks.bytes()).zip(out.chunks_exact_mut(n)) {
        match blocks {
            Blocks::Q4_1 => {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                for (o, q) in out.iter_mut().zip(nibbles(&blk[4..])) {
                    *o = d * q as f32 + m;
                }
            }
            Blocks::Q5_0 => {
                let d = f16_at(blk, 0);
                for (o, q) in out.iter_mut().zip(q5_0_quants(blk)) {
                    *o = d * (q - 16) as f32;
                }
            }
            Blocks::Q8_0 => {
                let d = f16_at(blk, 0);
                for (o, &q) in out.iter_mut().zip(&blk[2..34]) {
                    *o = d * q as i8 as f32;
                }
            }
            Blocks::Q4K => {
                let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                let (scales, qs) = (&blk[4..16], &blk[16..144]);
                for (sub, o) in out.chunks_exact_mut(BLOCK).enumerate() {
                    let (sc, m) = q4k_scale_min(sub, scales);
                    let (d1, m1) = (d * sc, dmin * m);
                    let (chunk, shift) = (&qs[32 * (sub / 2)..32 * (sub / 2 + 1)], 4 * (sub % 2));
                    for (o, &byte) in o.iter_mut().zip(chunk) {
                        *o = d1 * ((byte >> shift) & 0x0f) as f32 - m1;
                    }
                }
            }
            Blocks::Q6K => {
                let q = q6k_quants(blk);
                let d = f16_at(blk, 208);
                for (i, o) in out.iter_mut().enumerate() {
                    *o = d * (blk[192 + i / 16] as i8 as f32) * (q[i] - 32) as f32;
                }
            }
        }
    }
}
