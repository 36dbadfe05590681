//! End-to-end test helpers: start the real `weir` binary, read its `listening NAMESPACE/NODE ADDR`
//! lines, stop it by PID; and a small HTTP/1.1 client over `TcpStream` (status, headers, body, with
//! chunked bodies decoded and read as they arrive).

pub mod http;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Polls `f` until it returns `Some`, for at most `within` (a deadline that only guards against a
/// hang; tests never assert on time).
pub fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `weir` binary built by `cargo build` (the test script builds it first).
pub fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug").join("weir");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p weir` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running `weir` process.
pub struct Weir {
    child: Child,
    lines: Receiver<String>,
    listening: HashMap<String, SocketAddr>,
    pub output: Vec<String>,
}

impl Weir {
    /// Starts `weir ARGS` in the workspace root with stdout piped. A `start` that sets neither
    /// `--system-addr` nor `--no-system` gets `--system-addr 127.0.0.1:0`, so tests running at once
    /// never compete for the default system port.
    pub fn start(args: &[&str]) -> Weir {
        let mut args: Vec<&str> = args.to_vec();
        if args.first() == Some(&"start")
            && !args
                .iter()
                .any(|a| a.starts_with("--system-addr") || *a == "--no-system")
        {
            args.extend(["--system-addr", "127.0.0.1:0"]);
        }
        let mut child = Command::new(binary())
            .args(&args)
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start weir");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Weir {
            child,
            lines,
            listening: HashMap::new(),
            output: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `listening NAMESPACE/NODE ADDR` and returns ADDR.
    pub fn listening(&mut self, node: &str, within: Duration) -> SocketAddr {
        let deadline = Instant::now() + within;
        loop {
            if let Some(a) = self.listening.get(node) {
                return *a;
            }
            self.next_line(&format!("listening {node}"), deadline, within);
        }
    }

    /// Waits for a line of output that `wanted` accepts (lines already read count too) and returns it.
    pub fn line(&mut self, wanted: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let mut seen = 0;
        loop {
            if let Some(l) = self.output[seen..].iter().find(|l| wanted(l)) {
                return l.clone();
            }
            seen = self.output.len();
            self.next_line("the awaited line", deadline, within);
        }
    }

    /// Reads one more line of output into `output`, noting `listening` lines; panics at the deadline
    /// or when weir exits, naming `what` was awaited.
    fn next_line(&mut self, what: &str, deadline: Instant, within: Duration) {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("listening ") {
                    let mut parts = rest.split_whitespace();
                    if let (Some(name), Some(addr)) = (parts.next(), parts.next()) {
                        if let Ok(addr) = addr.parse() {
                            self.listening.insert(name.to_string(), addr);
                        }
                    }
                }
                self.output.push(line);
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no `{what}` within {within:?}; output: {:?}", self.output)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!(
                    "weir exited ({status:?}) before `{what}`; output: {:?}",
                    self.output
                )
            }
        }
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }

    /// Waits for the process to exit by itself; returns its exit code.
    pub fn wait(mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a finished `weir` command printed.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `weir ARGS` to completion in the workspace root, feeding `stdin` when given.
pub fn run(args: &[&str], stdin: Option<&str>) -> Finished {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(root())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weir");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let out = child.wait_with_output().expect("wait for weir");
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh SQLite store URL under a temporary folder of this test run.
pub fn sqlite_store() -> String {
    let db = temp_file("placeholder", "").with_file_name("weir.db");
    format!("sqlite://{}", db.display())
}

/// A file under a fresh temporary folder of this test run.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-test-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Two specs for job tests: `double` (CEL, `self * 2`) → `label` (JavaScript, `{answer: n}`, throws
/// above 100).
pub const CHAIN: &str = r#"
- kind: snippet
  name: double
  language: cel
  code: self * 2
  ports:
    out:
      - name: label
        port: in
- kind: snippet
  name: label
  language: javascript
  code: |
    export default function (n) {
      if (n > 100) throw new Error("too big: " + n);
      return { answer: n };
    }
"#;
