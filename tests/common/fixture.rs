//! A small HTTP/1.1 server for tests, bound to a loopback address, answering each request
//! through a routing function and recording what it was asked (paths, and each request's
//! method, headers and body).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One canned response.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A `content-length` to claim instead of the body's (to send a truncated body).
    pub claimed_length: Option<usize>,
    /// Wait this long before answering.
    pub delay: Option<std::time::Duration>,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            claimed_length: None,
            delay: None,
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 302,
            headers: vec![("location".into(), location.into())],
            body: Vec::new(),
            claimed_length: None,
            delay: None,
        }
    }

    /// A body with a content type.
    pub fn content(content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body,
            claimed_length: None,
            delay: None,
        }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request method, e.g. `GET` or `PUT`.
    pub method: String,
    pub path: String,
    /// Header names lowercased, values trimmed, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body, as long as its `content-length` says (empty without one).
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running server; it stops accepting when dropped with the test process.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    received: Arc<Mutex<Vec<Received>>>,
    load: Arc<Load>,
}

/// Concurrency and timing of the requests a server answered.
#[derive(Default)]
struct Load {
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    arrivals: Mutex<Vec<std::time::Instant>>,
}

impl Server {
    /// Serves on `ip` (e.g. "127.0.0.2") at a free port.
    pub fn start(ip: &str, route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((ip, 0)).expect("bind fixture server");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let load = Arc::new(Load::default());
        let seen = requests.clone();
        let heard = received.clone();
        let counted = load.clone();
        let route = Arc::new(route);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let route = route.clone();
                let seen = seen.clone();
                let heard = heard.clone();
                let load = counted.clone();
                std::thread::spawn(move || serve(stream, &*route, &seen, &heard, &load));
            }
        });
        Server {
            addr,
            requests,
            received,
            load,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://IP:PORT`, as a grant pattern.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Every request with its headers, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The most requests this server was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.load
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most requests that arrived within any `window`.
    /// Time from the first request's arrival to the last's (zero for fewer than two).
    pub fn span(&self) -> std::time::Duration {
        let arrivals = self.load.arrivals.lock().unwrap();
        match (arrivals.iter().min(), arrivals.iter().max()) {
            (Some(first), Some(last)) => *last - *first,
            _ => std::time::Duration::ZERO,
        }
    }

    pub fn max_in_window(&self, window: std::time::Duration) -> usize {
        let mut arrivals = self.load.arrivals.lock().unwrap().clone();
        arrivals.sort();
        let mut best = 0;
        let mut start = 0;
        for end in 0..arrivals.len() {
            while arrivals[end] - arrivals[start] >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }
}

fn serve(
    stream: TcpStream,
    route: &dyn Fn(&str) -> Reply,
    seen: &Mutex<Vec<String>>,
    heard: &Mutex<Vec<Received>>,
    load: &Load,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
            }
        }
    }
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let path = words.next().unwrap_or("/").to_string();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if length > 0 {
        use std::io::Read;
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
        if reader.read_exact(&mut body).is_err() {
            body.clear();
        }
    }
    seen.lock().unwrap().push(path.clone());
    heard.lock().unwrap().push(Received {
        method,
        path: path.clone(),
        headers,
        body,
    });
    load.arrivals
        .lock()
        .unwrap()
        .push(std::time::Instant::now());
    let now = load.in_flight.fetch_add(1, SeqCst) + 1;
    load.max_in_flight.fetch_max(now, SeqCst);
    let reply = route(&path);
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        reply.status,
        reply.claimed_length.unwrap_or(reply.body.len())
    );
    if let Some(delay) = reply.delay {
        std::thread::sleep(delay);
    }
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
    load.in_flight.fetch_sub(1, SeqCst);
}
