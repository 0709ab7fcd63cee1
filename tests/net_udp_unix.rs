//! UDP and Unix sockets through coring: datagrams with addresses,
//! scatter/gather messages, Unix streams and datagrams on paths and on
//! abstract names.

mod support;
use coring::net::{UdpSocket, UnixDatagram, UnixListener, UnixStream};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::PathBuf;

/// Runs `f` on a fresh runtime, failing the test after 10 s.
fn run<F: std::future::Future>(f: F) -> F::Output {
    support::run(10, f)
}

/// A fresh path under the temp dir (removed when dropped).
struct TmpPath(PathBuf);

impl TmpPath {
    fn new(tag: &str) -> TmpPath {
        let p = std::env::temp_dir().join(format!(
            "coring-net-{tag}-{}-{:?}.sock",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let _ = std::fs::remove_file(&p);
        TmpPath(p)
    }
}

impl Drop for TmpPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn abstract_name(tag: &str) -> UnixAddr {
    let name = format!("coring-test-{tag}-{}", std::process::id());
    UnixAddr::from_abstract_name(name.as_bytes()).expect("abstract name")
}

#[test]
fn udp_send_to_recv_from_and_connected() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").expect("a");
        let b = UdpSocket::bind("127.0.0.1:0").expect("b");
        let (a_addr, b_addr) = (a.local_addr().expect("a"), b.local_addr().expect("b"));
        let (res, _) = a.send_to(b"hello".to_vec(), b_addr).await;
        assert_eq!(res.expect("send_to"), 5);
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = res.expect("recv_from");
        assert_eq!((&buf[..n], from), (&b"hello"[..], a_addr));

        a.connect(b_addr).expect("connect");
        assert_eq!(a.peer_addr().expect("peer"), b_addr);
        let (res, _) = a.send(b"again".to_vec()).await;
        res.expect("send");
        let (res, buf) = b.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.expect("recv")], b"again");

        // A datagram longer than the buffer is cut, and the next one is
        // whole: one receive, one datagram.
        let (res, _) = a.send(vec![1u8; 100]).await;
        res.expect("send");
        let (res, _) = a.send(vec![2u8; 3]).await;
        res.expect("send");
        let (res, buf) = b.recv(Vec::with_capacity(10)).await;
        assert_eq!(res.expect("recv"), 10);
        assert_eq!(buf, vec![1u8; 10]);
        let (res, buf) = b.recv(Vec::with_capacity(10)).await;
        assert_eq!(&buf[..res.expect("recv")], &[2u8; 3]);
    });
}

#[test]
fn udp_sendmsg_gathers_and_recvmsg_scatters() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").expect("a");
        let b = UdpSocket::bind("127.0.0.1:0").expect("b");
        let to = b.local_addr().expect("b");
        let (res, bufs) = a
            .sendmsg(vec![b"abc".to_vec(), b"defgh".to_vec()], Some(to))
            .await;
        assert_eq!(res.expect("sendmsg"), 8);
        assert_eq!(bufs.len(), 2);
        let (res, bufs) = b
            .recvmsg(vec![Vec::with_capacity(2), Vec::with_capacity(16)])
            .await;
        let (n, from) = res.expect("recvmsg");
        assert_eq!(n, 8);
        assert_eq!(from.as_socket(), Some(a.local_addr().expect("a")));
        assert_eq!(bufs[0], b"ab");
        assert_eq!(bufs[1], b"cdefgh");
    });
}

#[test]
fn udp_v6_when_available() {
    run(async {
        let Ok(a) = UdpSocket::bind("[::1]:0") else {
            eprintln!("no IPv6 loopback here");
            return;
        };
        let b = UdpSocket::bind("[::1]:0").expect("b");
        let (res, _) = a.send_to(b"six".to_vec(), b.local_addr().expect("b")).await;
        res.expect("send_to");
        let (res, buf) = b.recv_from(Vec::with_capacity(8)).await;
        let (n, from) = res.expect("recv_from");
        assert_eq!(&buf[..n], b"six");
        assert!(from.is_ipv6());
    });
}

#[test]
fn unix_stream_on_a_path_and_an_abstract_name() {
    run(async {
        let path = TmpPath::new("stream");
        let l = UnixListener::bind(&path.0).expect("bind");
        assert_eq!(
            l.local_addr().expect("addr").as_pathname(),
            Some(path.0.as_path())
        );
        let c = UnixStream::connect(&path.0).await.expect("connect");
        let (s, _) = l.accept().await.expect("accept");
        let (res, _) = c.write_all(b"over a path".to_vec()).await;
        res.expect("write");
        let (res, buf) = s.read_exact(vec![0u8; 11]).await;
        res.expect("read");
        assert_eq!(buf, b"over a path");

        let name = abstract_name("stream");
        let l = UnixListener::bind_addr(&name).expect("bind abstract");
        let mut incoming = l.incoming();
        let c = UnixStream::connect_addr(&name).await.expect("connect");
        let s = incoming.accept().await.expect("accept");
        assert_eq!(
            s.local_addr().expect("addr").as_abstract_name(),
            name.as_abstract_name()
        );
        let (res, _) = s.write_all(b"abstract".to_vec()).await;
        res.expect("write");
        let (res, buf) = c.read_exact(vec![0u8; 8]).await;
        res.expect("read");
        assert_eq!(buf, b"abstract");
        drop(s);
        let (res, _) = c.read(Vec::with_capacity(4)).await;
        assert_eq!(res.expect("eof"), 0);
    });
}

#[test]
fn unix_connect_errors() {
    run(async {
        let missing = TmpPath::new("missing");
        let err = UnixStream::connect(&missing.0)
            .await
            .expect_err("no socket");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        let long = "x".repeat(200);
        let err = UnixStream::connect(&long).await.expect_err("too long");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn unix_datagrams_with_addresses() {
    run(async {
        let (a, b) = UnixDatagram::pair().expect("pair");
        let (res, _) = a.send(b"p".to_vec()).await;
        res.expect("send");
        let (res, buf) = b.recv(Vec::with_capacity(4)).await;
        assert_eq!(&buf[..res.expect("recv")], b"p");

        let path = TmpPath::new("dgram");
        let server = UnixDatagram::bind(&path.0).expect("bind");
        let named = UnixDatagram::bind_addr(&abstract_name("dgram")).expect("bind");
        let unbound = UnixDatagram::unbound().expect("unbound");
        let (res, _) = named.send_to(b"from a name".to_vec(), &path.0).await;
        res.expect("send_to");
        let (res, buf) = server.recv_from(Vec::with_capacity(32)).await;
        let (n, from) = res.expect("recv_from");
        assert_eq!(&buf[..n], b"from a name");
        assert_eq!(
            from.as_abstract_name(),
            abstract_name("dgram").as_abstract_name()
        );
        let (res, _) = unbound.send_to(b"anon".to_vec(), &path.0).await;
        res.expect("send_to");
        let (res, _) = server.recv_from(Vec::with_capacity(32)).await;
        let (_, from) = res.expect("recv_from");
        assert!(from.is_unnamed(), "{from:?}");
        // Reply to the named socket by its abstract address.
        let (res, _) = server
            .send_to_addr(b"back".to_vec(), &abstract_name("dgram"))
            .await;
        res.expect("send_to_addr");
        let (res, buf) = named.recv(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..res.expect("recv")], b"back");
        // Connected datagram socket.
        unbound.connect(&path.0).await.expect("connect");
        let (res, _) = unbound.send(b"c".to_vec()).await;
        res.expect("send");
        let (res, buf) = server.recv(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..res.expect("recv")], b"c");
    });
}
