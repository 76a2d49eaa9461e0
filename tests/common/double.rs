//! The LLM provider test double (`baton-double`, host/double) as tests use it: a loopback
//! server speaking the OpenAI and Anthropic shapes, started per test, and the wrapper
//! scripts that stand in for the gemini, claude and codex CLIs.
//!
//! ```ignore
//! let double = Double::start(&["--rpm", "50"]);
//! // settings: {"base-url": double.url}
//! let requests = double.requests(); // [{"at_ms", "api", "key", "model", "mode", "status", ...}]
//! let bin = double_clis(project.path().join("bin"), "ok", Some(&record));
//! ```
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The double's executable.
pub const DOUBLE: &str = env!("CARGO_BIN_EXE_baton-double");

/// A running `baton-double serve`; killed when dropped.
pub struct Double {
    child: Child,
    /// The base URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Double {
    /// Starts `baton-double serve ARGS` and waits for its base URL.
    pub fn start(args: &[&str]) -> Double {
        let mut child = Command::new(DOUBLE)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start baton-double");
        let stdout = child.stdout.take().expect("double stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the double's address");
        assert!(line.starts_with("http://"), "the double said {line:?}");
        Double {
            child,
            url: line.trim().to_string(),
        }
    }

    /// `host:port` of the server.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Every request the double received, oldest first.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let (status, _, body) = http(self.addr(), "GET", "/double/requests", &[], b"");
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body)
            .expect("records")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the default mode and/or the script (`{"mode": "rpm", "script": ["auth"]}`).
    pub fn control(&self, body: serde_json::Value) {
        let (status, _, answer) = http(
            self.addr(),
            "POST",
            "/double/mode",
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the wrapper scripts `DIR/gemini`, `DIR/claude`, `DIR/codex` in `mode`, appending
/// a record per run to `record` when given; returns DIR.
pub fn double_clis(dir: &Path, mode: &str, record: Option<&Path>) -> PathBuf {
    let mut command = Command::new(DOUBLE);
    command.arg("install").arg(dir).args(["--mode", mode]);
    if let Some(record) = record {
        command.arg("--record").arg(record);
    }
    let output = command.output().expect("run baton-double install");
    assert!(
        output.status.success(),
        "install failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir.to_path_buf()
}

/// One HTTP/1.1 exchange with `connection: close`: status, lowercase headers, body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to the double");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    // A cut answer ends the connection early; what arrived is what the test inspects.
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

/// The value of header `name` in `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
