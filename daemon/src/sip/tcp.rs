//! SIP over TCP for the adapter (RFC 3261 §18.3): the listener shares the UDP port, each
//! connection runs a reader task that frames messages by `Content-Length` and a writer task
//! fed by a queue, and messages for a peer reuse the connection that peer has (the one its
//! request came on), else open one.
//!
//! The core stays sans-IO: framed messages reach it through [`Input`], and its TCP
//! transmits come back here through [`Conns::send`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tipring_sip::frame::{Framed, Limits, Prepared, StreamFramer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What the connections tell the adapter.
#[derive(Debug)]
pub(super) enum Input {
    /// A whole message from `peer`.
    Message(SocketAddr, Prepared),
    /// The connection with `peer` (number `id`) is gone.
    Closed(SocketAddr, u64),
    /// No connection to `peer` (number `id`) could be opened: what was queued for it is lost.
    Failed(SocketAddr, u64),
}

/// The open connections, by peer address.
#[derive(Debug)]
pub(super) struct Conns {
    writers: HashMap<SocketAddr, (u64, UnboundedSender<Vec<u8>>)>,
    input: UnboundedSender<Input>,
    limits: Limits,
    next_id: u64,
}

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Conns {
    /// No connections yet; framed messages go to `input`.
    pub(super) fn new(input: UnboundedSender<Input>, limits: Limits) -> Conns {
        Conns {
            writers: HashMap::new(),
            input,
            limits,
            next_id: 1,
        }
    }

    /// Takes a connection the listener accepted.
    pub(super) fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let id = self.id();
        let (tx, rx) = unbounded_channel();
        self.writers.insert(peer, (id, tx.clone()));
        run(stream, peer, id, tx, rx, self.input.clone(), self.limits);
    }

    /// Sends `bytes` to `to` on its connection, opening one when there is none.
    pub(super) fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if let Some((_, tx)) = self.writers.get(&to)
            && tx.send(bytes.clone()).is_ok()
        {
            return;
        }
        let id = self.id();
        let (tx, rx) = unbounded_channel();
        let _ = tx.send(bytes);
        self.writers.insert(to, (id, tx.clone()));
        let (input, limits) = (self.input.clone(), self.limits);
        tokio::spawn(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                Ok(Ok(stream)) => run(stream, to, id, tx, rx, input, limits),
                Ok(Err(e)) => {
                    tracing::info!("SIP: TCP connection to {to} failed: {e}");
                    let _ = input.send(Input::Failed(to, id));
                }
                Err(_) => {
                    tracing::info!("SIP: TCP connection to {to} timed out");
                    let _ = input.send(Input::Failed(to, id));
                }
            }
        });
    }

    /// Forgets a connection that ended (unless another replaced it).
    pub(super) fn closed(&mut self, peer: SocketAddr, id: u64) {
        if self.writers.get(&peer).is_some_and(|(i, _)| *i == id) {
            self.writers.remove(&peer);
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Runs a connection's reader and writer.
fn run(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    tx: UnboundedSender<Vec<u8>>,
    mut rx: UnboundedReceiver<Vec<u8>>,
    input: UnboundedSender<Input>,
    limits: Limits,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if let Err(e) = wr.write_all(&b).await {
                tracing::debug!("SIP: TCP write to {peer}: {e}");
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut framer = StreamFramer::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => framer.push(&buf[..n]),
                Err(e) => {
                    tracing::debug!("SIP: TCP read from {peer}: {e}");
                    break;
                }
            }
            loop {
                match framer.pop(&limits) {
                    Ok(Some(Framed::Message(p))) => {
                        if input.send(Input::Message(peer, p)).is_err() {
                            return;
                        }
                    }
                    // RFC 5626 §3.5.1: a CRLF CRLF ping gets a CRLF pong.
                    Ok(Some(Framed::Ping)) => {
                        let _ = tx.send(b"\r\n".to_vec());
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // Where the next message starts is unknown: the stream is done.
                        tracing::info!("SIP: closing the TCP connection from {peer}: {e}");
                        let _ = input.send(Input::Closed(peer, id));
                        return;
                    }
                }
            }
        }
        let _ = input.send(Input::Closed(peer, id));
    });
}
