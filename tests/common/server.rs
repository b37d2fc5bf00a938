//! A real llama.cpp `llama-server` for the remote-model tests, and tiny hand-written HTTP
//! fixtures for the failures a real server will not produce on demand (a stream cut mid-event, a
//! server that never answers).
//!
//! The binary comes from `STEPSCOPE_LLAMA_SERVER` (`.ci/run` builds it from the llama-cpp-python
//! sdist with `scripts/llamacpp-build.sh` and sets it). Without it a test prints a visible skip,
//! unless `STEPSCOPE_REQUIRE_SHARED=1` (CI), where it fails.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LlamaServer {
    child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Kills the server with SIGKILL (no goodbye to its clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The llama-server binary, or `None` after a visible skip.
pub fn binary() -> Option<PathBuf> {
    match std::env::var_os("STEPSCOPE_LLAMA_SERVER").map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        other => {
            let why = match other {
                Some(p) => format!("STEPSCOPE_LLAMA_SERVER={} is not a file", p.display()),
                None => "STEPSCOPE_LLAMA_SERVER is not set".to_string(),
            };
            if super::required() {
                panic!("{why}, and STEPSCOPE_REQUIRE_SHARED=1 (build it with scripts/llamacpp-build.sh)");
            }
            let _ = writeln!(std::io::stderr(), "SKIP: {why}; the real llama-server test did not run");
            None
        }
    }
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts llama-server on `model` and waits until it answers `/health`.
pub fn start(model: &Path, extra: &[&str]) -> Option<LlamaServer> {
    let bin = binary()?;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("stepscope-llama-server-{port}.log"));
    let child = Command::new(&bin)
        .args(["-m", &model.to_string_lossy(), "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["-c", "4096", "-t", "1", "-np", "2"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut server = LlamaServer { child, url: format!("http://127.0.0.1:{port}"), port };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("llama-server exited ({status}); its log: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        if get(port, "/health").is_some_and(|(code, _)| code == 200) {
            return Some(server);
        }
        assert!(Instant::now() < deadline, "llama-server did not get ready in 120 s: {}", log.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A plain `GET` on loopback: (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

/// A plain `POST` of a JSON body on loopback: (status, body).
pub fn post_json(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

/// A fixture server: answers each connection with `respond(path, request body)`, the raw bytes
/// after the status line's headers are written by the fixture itself. Runs until the test ends.
pub fn fixture(respond: impl Fn(&str, &str, &mut TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let respond = respond.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                if let Some((path, body)) = read_request(&stream) {
                    respond(&path, &body, &mut stream);
                }
            });
        }
    });
    url
}

fn read_request(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, String::from_utf8_lossy(&body).into()))
}

/// Writes a complete JSON answer.
pub fn reply_json(stream: &mut TcpStream, code: u16, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Writes the head of an event stream; the fixture then writes `data: …\n\n` events itself.
pub fn start_events(stream: &mut TcpStream) {
    let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
}

/// `gguf` with every tensor dequantized to F32, metadata unchanged: both engines then compute
/// from the same f32 weights, without activation quantization, so their log-probs can be held
/// to a tight tolerance (on the Q4_1 file each engine's int8 activation rounding alone moves a
/// log-prob by up to ~0.1).
pub fn dequantized_copy(gguf: &Path, out: &Path) {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let mut f = std::fs::File::open(gguf).unwrap();
    let content = gguf_file::Content::read(&mut f).unwrap();
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| {
            let q = content.tensor(&mut f, name, &candle_core::Device::Cpu).unwrap();
            let dense = q.dequantize(&candle_core::Device::Cpu).unwrap();
            (name.clone(), QTensor::quantize(&dense, GgmlDType::F32).unwrap())
        })
        .collect();
    let md: Vec<(&str, &gguf_file::Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    gguf_file::write(&mut w, &md, &ts).unwrap();
}
