use bytes::BytesMut;

use super::*;
use crate::mysql::packet::{write_packets, PacketCodec};
use tokio_util::codec::Decoder;

fn packet(payload: &[u8]) -> Packet {
    let mut buf = BytesMut::new();
    write_packets(&mut buf, 1, payload);
    PacketCodec.decode(&mut buf).unwrap().unwrap()
}

fn column() -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "shop", "c", "customers", "mail", "email"] {
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p.extend_from_slice(&[0x0c, 45, 0, 0, 1, 0, 0, 253, 0, 0, 0, 0, 0]);
    p
}

const EOF: &[u8] = &[0xFE, 0, 0, 0x02, 0];
const EOF_MORE: &[u8] = &[0xFE, 0, 0, 0x0A, 0];

#[test]
fn a_text_result_set_with_eof_packets() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::TextResults);
    assert_eq!(t.on_packet(&packet(&[2])), Role::ColumnDef);
    assert_eq!(t.on_packet(&packet(&column())), Role::ColumnDef);
    assert_eq!(t.on_packet(&packet(&column())), Role::LastColumnDef);
    assert_eq!(t.on_packet(&packet(EOF)), Role::Other);
    assert_eq!(
        t.on_packet(&packet(&[1, b'a', 0xFB])),
        Role::Row { binary: false }
    );
    assert!(!t.is_idle());
    assert_eq!(t.on_packet(&packet(EOF)), Role::Other);
    assert!(t.is_idle());
}

#[test]
fn multiple_results_continue_until_the_last_terminator() {
    let mut t = ResponseTracker::new(true);
    t.begin(ResponseKind::TextResults);
    t.on_packet(&packet(&[1]));
    assert_eq!(t.on_packet(&packet(&column())), Role::LastColumnDef);
    assert_eq!(
        t.on_packet(&packet(&[1, b'x'])),
        Role::Row { binary: false }
    );
    // OK-as-EOF with SERVER_MORE_RESULTS_EXISTS.
    t.on_packet(&packet(&[0xFE, 0, 0, 0x0A, 0, 0, 0]));
    assert!(!t.is_idle());
    // The final OK of a CALL.
    t.on_packet(&packet(&[0x00, 0, 0, 0x02, 0, 0, 0]));
    assert!(t.is_idle());
}

#[test]
fn an_ok_with_more_results_then_an_error_ends_the_response() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::TextResults);
    t.on_packet(&packet(&[0x00, 1, 0, 0x0A, 0, 0, 0]));
    assert!(!t.is_idle());
    t.on_packet(&packet(&crate::mysql::packet::err_payload(
        1064, "42000", "syntax",
    )));
    assert!(t.is_idle());
    let _ = EOF_MORE;
}

#[test]
fn a_prepare_response_counts_its_definitions() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::Prepare);
    t.on_packet(&packet(&[0x00, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]));
    for _ in 0..2 {
        assert_eq!(t.on_packet(&packet(&column())), Role::Other);
    }
    t.on_packet(&packet(EOF));
    assert_eq!(t.on_packet(&packet(&column())), Role::ColumnDef);
    assert!(!t.is_idle());
    t.on_packet(&packet(EOF));
    assert!(t.is_idle());
}

#[test]
fn fetch_rows_end_at_the_terminator() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::FetchRows);
    assert_eq!(
        t.on_packet(&packet(&[0x00, 0, 1])),
        Role::Row { binary: true }
    );
    t.on_packet(&packet(&[0xFE, 0, 0, 0x82, 0]));
    assert!(t.is_idle());
}

#[test]
fn an_execute_that_opens_a_cursor_ends_after_the_metadata() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::CursorResults);
    t.on_packet(&packet(&[1]));
    t.on_packet(&packet(&column()));
    t.on_packet(&packet(&[0xFE, 0, 0, 0x42, 0]));
    assert!(t.is_idle());
}

#[test]
fn column_definitions_name_their_origin() {
    let c = column_def(&column(), false, false).unwrap();
    assert_eq!(c.name, "mail");
    assert_eq!(
        c.origin,
        ColumnOrigin::Named {
            schema: "shop".into(),
            table: "customers".into(),
            column: "email".into()
        }
    );
    assert_eq!(c.type_code, 253);
    assert!(column_def(&column()[..10], false, false).is_none());
}

#[test]
fn a_stored_programs_cursor_flag_does_not_hold_back_the_rows() {
    // `FOR rec IN (SELECT …) DO SELECT …; END FOR`: every result the loop sends carries the
    // loop's own "cursor exists" (0x40) with "more results" (0x08); its rows still follow.
    let eof = &[0xFE, 0, 0, 0x4A, 0];
    // A CALL executed with a cursor asked for opens none: its results still stream.
    for kind in [
        ResponseKind::TextResults,
        ResponseKind::BinaryResults,
        ResponseKind::CursorResults,
    ] {
        let mut t = ResponseTracker::new(false);
        t.begin(kind);
        t.on_packet(&packet(&[1]));
        assert_eq!(t.on_packet(&packet(&column())), Role::LastColumnDef);
        assert_eq!(t.on_packet(&packet(eof)), Role::Other);
        assert!(!t.is_idle(), "{kind:?}: the rows are still to come");
        let binary = kind != ResponseKind::TextResults;
        let row: &[u8] = if binary { &[0, 0, 1, b'x'] } else { &[0xFB] };
        assert_eq!(t.on_packet(&packet(row)), Role::Row { binary });
        t.on_packet(&packet(eof));
        assert!(!t.is_idle(), "{kind:?}: the loop's next result");
        t.on_packet(&packet(&[0x00, 0, 0, 0x02, 0, 0, 0]));
        assert!(t.is_idle());
    }
}

/// Found by fuzzing (`fuzz/regressions/mysql_session/empty-packet-for-columns-eof`): an empty
/// packet from the database where the EOF after the column definitions belongs panicked on
/// slicing past its first byte.
#[test]
fn an_empty_packet_in_place_of_the_columns_eof_is_no_panic() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::TextResults);
    t.on_packet(&packet(&[1]));
    assert_eq!(t.on_packet(&packet(&column())), Role::LastColumnDef);
    assert_eq!(t.on_packet(&packet(&[])), Role::Other);
    assert_eq!(
        t.on_packet(&packet(&[1, b'a'])),
        Role::Row { binary: false }
    );
    t.on_packet(&packet(EOF));
    assert!(t.is_idle());
}

/// A column definition as MariaDB sends it with extended metadata: the type name/format
/// block between `org_name` and the fixed-length fields.
fn extended_column(block: &[u8], column_type: u8) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "shop", "d", "docs", "body", "body"] {
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p.push(block.len() as u8);
    p.extend_from_slice(block);
    p.extend_from_slice(&[
        0x0c,
        45,
        0,
        0xFF,
        0xFF,
        0xFF,
        0xFF,
        column_type,
        0x90,
        0,
        0,
        0,
        0,
    ]);
    p
}

#[test]
fn extended_metadata_is_parsed_and_sets_the_masking_type() {
    let json = extended_column(&[1, 4, b'j', b's', b'o', b'n'], 252);
    let c = column_def(&json, false, true).unwrap();
    assert_eq!(
        c.origin,
        ColumnOrigin::Named {
            schema: "shop".into(),
            table: "docs".into(),
            column: "body".into()
        }
    );
    assert_eq!(c.type_code, 252);
    assert_eq!(c.type_name, Some("json"));
    assert_eq!(c.value_type.kind, masking::TypeKind::Json);
    let uuid = extended_column(&[0, 4, b'u', b'u', b'i', b'd'], 254);
    assert_eq!(
        column_def(&uuid, true, true).unwrap().value_type.kind,
        masking::TypeKind::Uuid
    );
    // An empty block (an ordinary column) keeps the wire's type.
    let plain = column_def(&extended_column(&[], 252), false, true).unwrap();
    assert_eq!(plain.value_type.kind, masking::TypeKind::Text);
    // Read without extended metadata, the block would be taken for the fixed fields: the
    // flag decides, and a malformed block is refused rather than guessed at.
    assert!(column_def(&extended_column(&[1, 9, b'j'], 252), false, true).is_none());
}

#[test]
fn a_column_count_no_server_can_announce_is_refused() {
    let mut t = ResponseTracker::new(false);
    t.begin(ResponseKind::TextResults);
    let most = [0xFE, 255, 255, 255, 255, 0, 0, 0, 0];
    assert_eq!(
        t.on_packet(&packet(&most)),
        Role::ColumnDef,
        "u32::MAX is possible"
    );
    t.begin(ResponseKind::TextResults);
    let one_more = [0xFE, 0, 0, 0, 0, 1, 0, 0, 0];
    assert_eq!(
        t.on_packet(&packet(&one_more)),
        Role::TooManyColumns(1 << 32)
    );
    t.begin(ResponseKind::BinaryResults);
    let largest = [0xFE, 255, 255, 255, 255, 255, 255, 255, 255];
    assert_eq!(
        t.on_packet(&packet(&largest)),
        Role::TooManyColumns(u64::MAX)
    );
    assert!(
        t.is_idle(),
        "nothing more of that response is read as columns or rows"
    );
}
