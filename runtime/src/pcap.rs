//! Capture of the inner IPv4 packets to a pcap file.
//!
//! The file uses the classic pcap format (not pcapng) with link type
//! `LINKTYPE_RAW` (101): each record is a bare IPv4 packet, exactly the
//! bytes carried in one UDP datagram. Wireshark and tshark decode it as
//! IPv4 and TCP; `tcpdump -r` reads it too.
//!
//! Timestamps have microsecond resolution. Packets longer than the snapshot
//! length (65 535, the IPv4 maximum) are cut, recording the original length.
//!
//! Nothing here panics.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapHeader;
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// The snapshot length: the longest packet stored whole.
pub const SNAPLEN: u32 = 65_535;

/// The link type of the records: raw IP, whose version nibble says IPv4.
pub const LINK_TYPE: DataLink = DataLink::RAW;

/// Writes IPv4 packets to a pcap stream.
///
/// The file header comes from `pcap-file`; the 16-byte record headers are
/// written here (in native byte order, as the file header declares) so that
/// the underlying writer stays reachable for [`flush`](Self::flush), which
/// `pcap_file::pcap::PcapWriter` does not offer.
pub struct PcapWriter<W: Write> {
    writer: W,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (or truncates) the file at `path` and writes the pcap header.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        PcapWriter::new(BufWriter::new(File::create(path)?))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header to `writer`.
    pub fn new(mut writer: W) -> io::Result<Self> {
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: LINK_TYPE,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::native(),
            ..PcapHeader::default()
        };
        header.write_to(&mut writer).map_err(into_io)?;
        Ok(PcapWriter { writer })
    }

    /// Writes one IPv4 `packet` captured at `timestamp` (time since the
    /// UNIX epoch, or any origin a simulation likes).
    ///
    /// Fails if the writer does, or, writing nothing, if the timestamp is
    /// past the year 2106 (pcap stores seconds in 32 bits).
    pub fn write(&mut self, timestamp: Duration, packet: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(timestamp.as_secs()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap timestamp does not fit in 32 bits of seconds",
            )
        })?;
        let captured = &packet[..packet.len().min(SNAPLEN as usize)];
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_ne_bytes());
        record[4..8].copy_from_slice(&timestamp.subsec_micros().to_ne_bytes());
        // At most SNAPLEN, so the cast cannot truncate.
        record[8..12].copy_from_slice(&(captured.len() as u32).to_ne_bytes());
        record[12..16].copy_from_slice(&orig_len.to_ne_bytes());
        self.writer.write_all(&record)?;
        self.writer.write_all(captured)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// Unwraps the underlying writer, without flushing it.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<W: Write> std::fmt::Debug for PcapWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapWriter").finish_non_exhaustive()
    }
}

/// Converts a pcap-file error into an I/O error.
fn into_io(err: PcapError) -> io::Error {
    match err {
        PcapError::IoError(err) => err,
        other => io::Error::new(io::ErrorKind::InvalidInput, other),
    }
}

/// Reads a capture back with tshark, checksum validation on, if tshark is
/// installed: `Ok(None)` when it is not, `Ok(Some(n))` when every one of
/// the `n` packets decodes as TCP over IPv4 with good IP and TCP
/// checksums, and an error naming the first packet that does not. Tests
/// reach it as `testing::check_with_tshark`.
pub(crate) fn check_with_tshark(path: &std::path::Path) -> Result<Option<usize>, String> {
    use std::process::Command;
    if Command::new("tshark").arg("--version").output().is_err() {
        return Ok(None);
    }
    let out = Command::new("tshark")
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-r",
        ])
        .arg(path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
        ])
        .output()
        .map_err(|e| format!("tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!("tshark: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if !cols[0].starts_with("raw:ip:tcp") || cols[0].contains("malformed") {
            return Err(format!(
                "packet {}: not well-formed TCP over IPv4: {line}",
                i + 1
            ));
        }
        // tshark's checksum status: 0 bad, 1 good, 2 unverified.
        if cols.get(1..) != Some(&["1", "1"][..]) {
            return Err(format!("packet {}: checksum not good: {line}", i + 1));
        }
        n += 1;
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, Flags, SeqNum, TcpRepr};
    use pcap_file::pcap::PcapReader;
    use std::net::Ipv4Addr;
    use std::process::Command;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A handshake, a data segment and a FIN.
    fn packets() -> Vec<Vec<u8>> {
        let syn = TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: SeqNum(1000),
            flags: Flags::SYN,
            window: 65_535,
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((1, 0)),
            ..TcpRepr::default()
        };
        let syn_ack = TcpRepr {
            src_port: 80,
            dst_port: 1234,
            seq: SeqNum(5000),
            ack: Some(SeqNum(1001)),
            timestamps: Some((9, 1)),
            ..syn
        };
        let data = TcpRepr {
            flags: Flags::PSH,
            seq: SeqNum(1001),
            ack: Some(SeqNum(5001)),
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamps: Some((2, 9)),
            payload: b"GET / HTTP/1.0\r\n\r\n",
            ..syn
        };
        let fin = TcpRepr {
            flags: Flags::FIN,
            seq: SeqNum(1019),
            payload: &[],
            ..data
        };
        vec![
            wire::emit_vec(A, B, &syn),
            wire::emit_vec(B, A, &syn_ack),
            wire::emit_vec(A, B, &data),
            wire::emit_vec(A, B, &fin),
        ]
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("fsm-runtime-{}-{name}", std::process::id()))
    }

    fn write_file(path: &Path) {
        let mut writer = PcapWriter::create(path).unwrap();
        for (i, packet) in packets().iter().enumerate() {
            let ts = Duration::new(1_700_000_000, 1_000 * i as u32);
            writer.write(ts, packet).unwrap();
        }
        writer.flush().unwrap();
    }

    #[test]
    fn records_read_back_with_pcap_file() {
        let path = temp_path("readback.pcap");
        write_file(&path);
        let mut reader = PcapReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.header().datalink, LINK_TYPE);
        let mut count = 0;
        while let Some(record) = reader.next_packet() {
            let record = record.unwrap();
            assert_eq!(record.data.as_ref(), packets()[count]);
            assert_eq!(
                record.timestamp,
                Duration::new(1_700_000_000, 1_000 * count as u32)
            );
            count += 1;
        }
        assert_eq!(count, 4);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn refuses_timestamp_past_2106() {
        let mut writer = PcapWriter::new(Vec::new()).unwrap();
        let err = writer
            .write(Duration::from_secs(1 << 32), &[0x45])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(writer.into_inner().len(), 24);
    }

    #[test]
    fn tshark_decodes_tcp_with_good_checksums() {
        let path = temp_path("tshark.pcap");
        write_file(&path);
        let output = Command::new("tshark")
            .args([
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
                "-V",
                "-r",
            ])
            .arg(&path)
            .output();
        std::fs::remove_file(&path).unwrap();
        let output = match output {
            Ok(output) => output,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                crate::testing::skip("tshark not found");
                return;
            }
            Err(err) => panic!("running tshark: {err}"),
        };
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains("Malformed"), "{text}");
        assert!(!text.contains("Bad"), "{text}");
        assert_eq!(
            text.matches("Transmission Control Protocol, Src Port")
                .count(),
            4,
            "{text}"
        );
        // One good IPv4 and one good TCP checksum per packet.
        assert_eq!(
            text.matches("[Header checksum status: Good]").count(),
            4,
            "{text}"
        );
        assert_eq!(text.matches("[Checksum Status: Good]").count(), 4, "{text}");
    }
}
