//! `jfmon serve` as a child process, on a port it binds itself: started
//! with `--listen 127.0.0.1:0`, its bound address is read from the line it
//! prints on start ("… listening on http://127.0.0.1:PORT …"). No test picks
//! a free port, releases it and hopes it is still free when the process
//! binds it (another test, or anything else, could take it meanwhile).
//! A hub restarted on its old port ([`HubProcess::restart`]) is the one place
//! a port is reused: the test owned it a moment ago.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// How long a hub may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `jfmon serve` with the test environment (no user configuration) and
/// `args` (everything but `--listen`).
pub fn serve_command(database_url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jfmon"));
    c.arg("serve")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("XDG_CONFIG_HOME", "/nonexistent-jfmon-test");
    c
}

/// The address in serve's start line, if `line` is it.
pub fn listening_on(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on ")?.1;
    let rest = rest.split_once("://")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// A running `jfmon serve`, killed when dropped.
pub struct HubProcess {
    pub child: Child,
    pub port: u16,
    /// How it was started (for [`HubProcess::restart`]).
    command: Arc<dyn Fn() -> Command + Send + Sync>,
}

impl HubProcess {
    /// Start `command()` on a port of its own choosing.
    pub fn start(command: impl Fn() -> Command + Send + Sync + 'static) -> HubProcess {
        HubProcess::start_on(Arc::new(command), "127.0.0.1:0")
    }

    /// Start `command()` listening on `listen`.
    fn start_on(command: Arc<dyn Fn() -> Command + Send + Sync>, listen: &str) -> HubProcess {
        let mut child = command()
            .args(["--listen", listen])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start jfmon serve");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut said = Vec::new();
            let mut tx = Some(tx);
            // Read to the end: the pipe never fills, whatever it logs.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_on(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(Ok(addr));
                }
                if tx.is_some() {
                    said.push(line);
                }
            }
            if let Some(tx) = tx {
                let _ = tx.send(Err(said.join("\n")));
            }
        });
        let port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(addr)) => addr.port(),
            Ok(Err(said)) => panic!("jfmon serve ended without listening:\n{said}"),
            Err(_) => {
                let _ = child.kill();
                panic!("jfmon serve did not say where it listens");
            }
        };
        HubProcess {
            child,
            port,
            command,
        }
    }

    /// Kill it (no clean shutdown) and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kill it and start it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        *self = HubProcess::start_on(self.command.clone(), &format!("127.0.0.1:{}", self.port));
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port held bound but not listening: connecting to it is
/// refused, and nothing else can take it while the socket lives.
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let s = tokio::net::TcpSocket::new_v4().expect("socket");
    s.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let port = s.local_addr().expect("bound").port();
    (s, port)
}
