//! A loopback TCP proxy in front of a server that can lose a command's request or its reply,
//! for testing what a client does when the network fails mid-command, or delay every request,
//! for measuring what a client does over a network with latency.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Wire protocol message header: messageLength, requestID, responseTo, opCode (int32 each,
/// little-endian).
const HEADER_LEN: usize = 16;

/// The opCode of OP_MSG, which carries every command of a modern driver.
const OP_MSG: i32 = 2013;

/// OP_MSG flagBits bit 0: a CRC-32C checksum follows the sections.
const CHECKSUM_PRESENT: u32 = 1;

/// Larger than any message a server accepts (48 MB) with room to spare; a longer length
/// means the stream is not the wire protocol, and the connection is closed rather than
/// buffering it.
const MAX_MESSAGE_LEN: usize = 64 * 1024 * 1024;

/// A TCP proxy on a loopback port in front of a server on another loopback port, which
/// forwards the MongoDB wire protocol message by message and can be told to fail a named
/// command:
///
/// - [`lose_reply`](Self::lose_reply): the command reaches the server and is applied, but
///   its reply is dropped and the connection closed, as when the network fails after a
///   write. The client cannot tell whether the write happened.
/// - [`drop_request`](Self::drop_request): the connection is closed instead of forwarding
///   the command, so the server never sees it.
///
/// It can also hold every request for a while before forwarding it
/// ([`set_delay`](Self::set_delay)), so each round trip through it costs that much more: a
/// network's latency on loopback.
///
/// A command is matched by the name of its OP_MSG body's first key (`insert`, `update`,
/// `find`, `commitTransaction`, …), so the driver's own `hello`s on its monitoring
/// connections pass untouched unless named. Faults can be armed at any time from any thread;
/// each is spent by one matching message.
///
/// The proxy runs on a thread of its own with its own tokio runtime, so it serves blocking
/// and async tests alike. Dropping it closes its port and every connection through it.
///
/// ```no_run
/// use mongotic_test_server::{DedicatedServer, FaultProxy, Topology};
///
/// # fn main() -> Result<(), String> {
/// let server = DedicatedServer::start(Topology::ReplicaSet)?;
/// let proxy = FaultProxy::start(server.port())?;
/// proxy.lose_reply("insert", 1);
/// // A client on `proxy.uri()` (with retry_writes(false)) now gets a network error for its
/// // next insert, though the document was inserted.
/// assert_eq!(proxy.injected(), 0);
/// # Ok(())
/// # }
/// ```
pub struct FaultProxy {
    port: u16,
    faults: Arc<Faults>,
    /// Dropped (or sent) to stop the proxy.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards every connection to
    /// `127.0.0.1:upstream_port`. Returns once it is listening.
    pub fn start(upstream_port: u16) -> Result<FaultProxy, String> {
        // Bound here rather than on the proxy's thread so the port is known, and taken,
        // before this returns.
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|err| format!("cannot listen on a loopback port: {err}"))?;
        let port = listener.local_addr().map_err(|err| format!("cannot read the proxy's port: {err}"))?.port();
        listener.set_nonblocking(true).map_err(|err| format!("cannot make the proxy's socket nonblocking: {err}"))?;

        let faults = Arc::new(Faults::default());
        let (stop, stopped) = oneshot::channel();
        let (started_sender, started) = mpsc::channel();
        let thread_faults = faults.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                // The runtime is built, used and dropped on this thread only: dropping a
                // runtime on a caller's async thread would panic.
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = started_sender.send(Err(format!("cannot build the proxy's runtime: {err}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            let _ = started_sender.send(Err(format!("cannot register the proxy's socket: {err}")));
                            return;
                        }
                    };
                    let _ = started_sender.send(Ok(()));
                    serve(listener, upstream_port, thread_faults, stopped).await;
                });
                // Dropping the runtime here drops every relay task and with them every
                // connection through the proxy.
            })
            .map_err(|err| format!("cannot start the proxy's thread: {err}"))?;

        match started.recv() {
            Ok(Ok(())) => Ok(FaultProxy { port, faults, stop: Some(stop), thread: Some(thread) }),
            Ok(Err(message)) => {
                let _ = thread.join();
                Err(message)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the proxy's thread ended before it started".to_string())
            }
        }
    }

    /// The loopback port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection string through the proxy,
    /// `mongodb://127.0.0.1:PORT/?directConnection=true`. Direct, because the server
    /// advertises its own address, which a discovering client would connect to instead.
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// The next `times` messages running `command` are forwarded to the server, which
    /// applies them, but each one's reply is withheld and the connection (both sides) is
    /// closed instead.
    pub fn lose_reply(&self, command: &str, times: usize) {
        self.faults.arm(FaultKind::LoseReply, command, times);
    }

    /// The next `times` messages running `command` are not forwarded: the client's
    /// connection is closed instead, so the server never sees them.
    pub fn drop_request(&self, command: &str, times: usize) {
        self.faults.arm(FaultKind::DropRequest, command, times);
    }

    /// How many faults have fired since the proxy started (counted when the command is
    /// matched; [`reset`](Self::reset) does not clear it).
    pub fn injected(&self) -> usize {
        self.faults.injected.load(Ordering::SeqCst)
    }

    /// Disarms every fault not fired yet.
    pub fn reset(&self) {
        self.faults.armed().clear();
    }

    /// Holds every request read from now on for `delay` before forwarding it, so every round
    /// trip through the proxy takes at least `delay` longer (as over a network whose round trip
    /// is `delay`). `Duration::ZERO` forwards at once again. Replies are not held, so a server
    /// that sends several replies to one request (exhaust cursors, streamed `hello`s) sends
    /// them as fast as it would.
    ///
    /// The wait is a thread's sleep, not tokio's millisecond timer, so sub-millisecond delays
    /// hold: a 1 ms delay costs about 1.1 ms.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mongotic_test_server::{DedicatedServer, FaultProxy, Topology};
    ///
    /// # fn main() -> Result<(), String> {
    /// let server = DedicatedServer::start(Topology::ReplicaSet)?;
    /// let proxy = FaultProxy::start(server.port())?;
    /// proxy.set_delay(Duration::from_millis(1)); // a same-region cloud database
    /// assert_eq!(proxy.delay(), Duration::from_millis(1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_delay(&self, delay: Duration) {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.faults.delay_nanos.store(nanos, Ordering::SeqCst);
    }

    /// The delay each request is held for (see [`set_delay`](Self::set_delay)); zero until
    /// one is set.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use mongotic_test_server::{DedicatedServer, FaultProxy, Topology};
    ///
    /// # fn main() -> Result<(), String> {
    /// let server = DedicatedServer::start(Topology::Standalone)?;
    /// let proxy = FaultProxy::start(server.port())?;
    /// assert_eq!(proxy.delay(), Duration::ZERO);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delay(&self) -> Duration {
        self.faults.delay()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy").field("port", &self.port).field("injected", &self.injected()).finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    LoseReply,
    DropRequest,
}

struct Armed {
    kind: FaultKind,
    command: String,
    remaining: usize,
}

/// The faults armed and the delay set, shared between the proxy's owner and its connections.
#[derive(Default)]
struct Faults {
    armed: Mutex<Vec<Armed>>,
    injected: AtomicUsize,
    /// How long each request is held, in nanoseconds.
    delay_nanos: AtomicU64,
}

impl Faults {
    fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay_nanos.load(Ordering::SeqCst))
    }

    fn armed(&self) -> MutexGuard<'_, Vec<Armed>> {
        // Nothing holding the lock can panic half-way, so a poisoned list is still sound.
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arm(&self, kind: FaultKind, command: &str, times: usize) {
        if times > 0 {
            self.armed().push(Armed { kind, command: command.to_string(), remaining: times });
        }
    }

    /// Spends the first fault armed for `command`, if any.
    fn take(&self, command: &str) -> Option<FaultKind> {
        let mut armed = self.armed();
        let index = armed.iter().position(|fault| fault.command == command)?;
        let kind = armed[index].kind;
        armed[index].remaining -= 1;
        if armed[index].remaining == 0 {
            armed.remove(index);
        }
        self.injected.fetch_add(1, Ordering::SeqCst);
        Some(kind)
    }
}

async fn serve(listener: TcpListener, upstream_port: u16, faults: Arc<Faults>, mut stopped: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            // Sent or dropped: either way the owner is done with the proxy.
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    tokio::spawn(relay(client, upstream_port, faults.clone()));
                }
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Forwards one client connection to the server until either side closes or a fault
/// closes both.
async fn relay(client: TcpStream, upstream_port: u16, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream_port)).await else {
        // Dropping the client's connection is what a dead server looks like.
        return;
    };
    // Messages are forwarded whole, one write each: without this, Nagle's algorithm and
    // delayed acknowledgements add tens of milliseconds to every round trip.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The requestIDs whose replies are to be lost.
    let lost = Mutex::new(HashSet::new());
    // Whichever direction ends first ends the connection: the streams are dropped on return,
    // which closes both sockets.
    tokio::select! {
        _ = requests(&mut client_read, &mut server_write, &faults, &lost) => {}
        _ = replies(&mut server_read, &mut client_write, &lost) => {}
    }
}

/// Client to server.
async fn requests(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    faults: &Faults,
    lost: &Mutex<HashSet<i32>>,
) -> std::io::Result<()> {
    while let Some(message) = read_message(from).await? {
        hold(faults.delay()).await;
        match command_name(&message).and_then(|command| faults.take(command)) {
            Some(FaultKind::DropRequest) => return Ok(()),
            Some(FaultKind::LoseReply) => {
                // Recorded before forwarding, so the reply cannot get past unrecognised.
                lost.lock().unwrap_or_else(PoisonError::into_inner).insert(header_field(&message, 4));
                to.write_all(&message).await?;
            }
            None => to.write_all(&message).await?,
        }
    }
    Ok(())
}

/// Server to client.
async fn replies(from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, lost: &Mutex<HashSet<i32>>) -> std::io::Result<()> {
    while let Some(message) = read_message(from).await? {
        // Read in full first: the server has answered, so it has applied the command.
        if lost.lock().unwrap_or_else(PoisonError::into_inner).contains(&header_field(&message, 8)) {
            return Ok(());
        }
        to.write_all(&message).await?;
    }
    Ok(())
}

/// Waits `delay` on a blocking thread: tokio's timer counts whole milliseconds, which would
/// turn a 1 ms delay into 1 to 2 ms.
async fn hold(delay: Duration) {
    if !delay.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
    }
}

/// One whole wire protocol message, header included; `None` when the stream ends between
/// messages.
async fn read_message(from: &mut OwnedReadHalf) -> std::io::Result<Option<Vec<u8>>> {
    let mut header = [0u8; HEADER_LEN];
    // The first byte alone, to tell a clean end between messages from one mid-message.
    if from.read(&mut header[..1]).await? == 0 {
        return Ok(None);
    }
    from.read_exact(&mut header[1..]).await?;
    let length = usize::try_from(header_field(&header, 0)).unwrap_or(0);
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&length) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a wire protocol message"));
    }
    let mut message = vec![0u8; length];
    message[..HEADER_LEN].copy_from_slice(&header);
    from.read_exact(&mut message[HEADER_LEN..]).await?;
    Ok(Some(message))
}

/// The int32 at `offset` of a message at least `offset + 4` bytes long (the header's
/// fields: 0 length, 4 requestID, 8 responseTo, 12 opCode).
fn header_field(message: &[u8], offset: usize) -> i32 {
    read_i32(message, offset).unwrap_or(0)
}

fn read_i32(bytes: &[u8], offset: usize) -> Option<i32> {
    let field = bytes.get(offset..offset.checked_add(4)?)?;
    Some(i32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

/// The command an OP_MSG runs: the first key of its body, the section of kind 0. `None`
/// for other opCodes (compressed or legacy messages pass through unmatched) and anything
/// malformed.
fn command_name(message: &[u8]) -> Option<&str> {
    if read_i32(message, 12)? != OP_MSG {
        return None;
    }
    let flags = read_i32(message, HEADER_LEN)? as u32;
    let end = if flags & CHECKSUM_PRESENT != 0 { message.len().checked_sub(4)? } else { message.len() };
    let sections = message.get(..end)?;
    // Sections follow the 4-byte flagBits; drivers put the body first, but the protocol
    // allows document sequences (kind 1) before it.
    let mut at = HEADER_LEN + 4;
    while at < sections.len() {
        let kind = sections[at];
        at += 1;
        match kind {
            0 => {
                // A BSON document: int32 length, then elements of type byte, cstring key,
                // value. A type byte of 0 ends the document: an empty body names nothing.
                let body = sections.get(at..)?;
                if *body.get(4)? == 0 {
                    return None;
                }
                let key = body.get(5..)?;
                let nul = key.iter().position(|&byte| byte == 0)?;
                return std::str::from_utf8(&key[..nul]).ok();
            }
            1 => {
                // A document sequence: its int32 size counts itself.
                let size = usize::try_from(read_i32(sections, at)?).ok()?;
                if size < 4 {
                    return None;
                }
                at = at.checked_add(size)?;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OP_MSG with the given sections after flagBits.
    fn op_msg(flags: u32, sections: &[u8]) -> Vec<u8> {
        let length = (HEADER_LEN + 4 + sections.len()) as i32;
        let mut message = Vec::new();
        for field in [length, 7, 0, OP_MSG] {
            message.extend_from_slice(&field.to_le_bytes());
        }
        message.extend_from_slice(&flags.to_le_bytes());
        message.extend_from_slice(sections);
        message
    }

    /// A kind-0 section whose body is `{key: 1}` (int32 value).
    fn body(key: &str) -> Vec<u8> {
        let mut document = vec![0x10];
        document.extend_from_slice(key.as_bytes());
        document.push(0);
        document.extend_from_slice(&1i32.to_le_bytes());
        document.push(0);
        let mut section = vec![0];
        section.extend_from_slice(&((document.len() + 4) as i32).to_le_bytes());
        section.extend_from_slice(&document);
        section
    }

    #[test]
    fn command_name_is_the_first_key_of_the_body() {
        assert_eq!(command_name(&op_msg(0, &body("insert"))), Some("insert"));
    }

    #[test]
    fn command_name_skips_document_sequences_before_the_body() {
        let mut sections = vec![1];
        sections.extend_from_slice(&9i32.to_le_bytes());
        sections.extend_from_slice(b"docs\0");
        sections.extend_from_slice(&body("update"));
        assert_eq!(command_name(&op_msg(0, &sections)), Some("update"));
    }

    #[test]
    fn command_name_ignores_the_checksum() {
        let mut sections = body("find");
        sections.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(command_name(&op_msg(CHECKSUM_PRESENT, &sections)), Some("find"));
    }

    #[test]
    fn command_name_is_none_for_other_messages() {
        let mut legacy = op_msg(0, &body("insert"));
        legacy[12..16].copy_from_slice(&2004i32.to_le_bytes());
        assert_eq!(command_name(&legacy), None);
        assert_eq!(command_name(&op_msg(0, &[0, 5, 0, 0, 0, 0])), None);
        assert_eq!(command_name(&op_msg(0, &[0, 5, 0])), None);
        assert_eq!(command_name(&op_msg(0, &[])), None);
        assert_eq!(command_name(&[0; 8]), None);
    }

    #[test]
    fn faults_fire_once_per_message_and_only_for_their_command() {
        let faults = Faults::default();
        faults.arm(FaultKind::LoseReply, "insert", 2);
        faults.arm(FaultKind::DropRequest, "find", 1);
        assert_eq!(faults.take("hello"), None);
        assert_eq!(faults.take("insert"), Some(FaultKind::LoseReply));
        assert_eq!(faults.take("find"), Some(FaultKind::DropRequest));
        assert_eq!(faults.take("find"), None);
        assert_eq!(faults.take("insert"), Some(FaultKind::LoseReply));
        assert_eq!(faults.take("insert"), None);
        assert_eq!(faults.injected.load(Ordering::SeqCst), 3);
    }
}
