//! What a server sends, on arbitrary bytes: the server-sent event framing (split at a point the
//! input chooses, as a network splits it) and every event's completion chunk. Nothing may panic,
//! the framing must not depend on where the bytes were split, and no event may pass the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepscope::model::remote::sse::Framer;
use stepscope::model::remote::wire::parse_chunk;

const CAP: usize = 1 << 16;

fn events(parts: &[&[u8]]) -> Result<Vec<String>, String> {
    let mut f = Framer::new(CAP);
    let mut out = Vec::new();
    for p in parts {
        out.extend(f.push(p)?);
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else { return };
    let at = (cut as usize * rest.len()) / 255;
    let whole = events(&[rest]);
    let split = events(&[&rest[..at], &rest[at..]]);
    if let (Ok(a), Ok(b)) = (&whole, &split) {
        assert_eq!(a, b, "framing depends on where the stream was split");
    }
    for data in whole.iter().flatten() {
        assert!(data.len() <= CAP);
        let _ = parse_chunk(data);
    }
    // The body of a plain answer is one chunk.
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = parse_chunk(text);
    }
});
