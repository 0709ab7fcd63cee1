//! Sockets over io_uring for coring: TCP, UDP and Unix sockets.
//!
//! Every read, write, accept and connect is a completion op in the
//! current core's ring; nothing polls for readiness. Buffers are owned:
//! `stream.read(buf)` takes the buffer and gives it back with the result
//! (a [`BufResult`](coring_runtime::buf::BufResult)), so the kernel never
//! writes into memory a dropped future gave back.
//!
//! Sockets are `!Send`: each belongs to the core (thread) that made it.
//! For one listener per core, bind each core's own listener with
//! [`TcpListenerBuilder::reuse_port`].
//!
//! This crate holds no unsafe code; every kernel op lives in
//! `coring-runtime`'s `op` module.
//!
//! # Examples
//!
//! ```
//! use coring_net::{TcpListener, TcpStream};
//!
//! coring_runtime::start(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = coring_runtime::spawn(async move {
//!         let (stream, _peer) = listener.accept().await?;
//!         let (res, buf) = stream.read(Vec::with_capacity(64)).await;
//!         res?;
//!         let (res, _) = stream.write_all(buf).await;
//!         res
//!     });
//!     let client = TcpStream::connect(addr).await?;
//!     let (res, _) = client.write_all(b"hello".to_vec()).await;
//!     res?;
//!     let (res, buf) = client.read_exact(vec![0u8; 5]).await;
//!     res?;
//!     assert_eq!(buf, b"hello");
//!     server.await.expect("server task")?;
//!     Ok::<_, std::io::Error>(())
//! })
//! .expect("io_uring")
//! .expect("echo");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accept_loop;
mod addr;
#[cfg(feature = "compat")]
pub mod compat;
#[cfg(feature = "hyper")]
pub mod hyper_rt;
#[cfg(any(feature = "compat", feature = "hyper"))]
mod poll_io;
mod recv_stream;
mod stream_io;
mod tcp;
mod udp;
mod unix;

#[cfg(feature = "hyper")]
pub use hyper_rt::{AsSharedFd, HyperExecutor, HyperIo, HyperSleep, HyperTimer};
pub use recv_stream::RecvStream;
pub use stream_io::{ReadExact, WriteAll};
pub use tcp::DEFAULT_BACKLOG;
pub use tcp::{
    Incoming, OwnedReadHalf, OwnedWriteHalf, ReuniteError, TcpListener, TcpListenerBuilder,
    TcpStream,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
