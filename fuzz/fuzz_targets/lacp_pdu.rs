//! LACPDU and Marker PDU decoder (`bondxdp::lacp::pdu`): any received Slow Protocols frame.
//!
//! Invariants: decoding never panics; a frame that decodes re-encodes to a frame that decodes
//! to the same PDU, and that frame agrees with the input on every byte the decoder reads.
#![no_main]

use bondxdp::lacp::pdu::{FRAME_LEN, SlowPdu};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let Ok(pdu) = SlowPdu::decode(frame) else {
        return;
    };
    let src: [u8; 6] = frame[6..12].try_into().unwrap();
    let encoded = pdu.encode(src);
    assert_eq!(
        SlowPdu::decode(&encoded),
        Ok(pdu),
        "decode(encode(pdu)) != pdu"
    );
    // Byte for byte, apart from the version (anything above 1 reads as 1) and the reserved
    // bytes the decoder ignores.
    assert_eq!(&encoded[..15], &frame[..15], "header or subtype changed");
    let used = match pdu {
        SlowPdu::Lacp(_) => 14 + 60,
        SlowPdu::Marker(_) => 14 + 20,
    };
    for i in 16..used.min(FRAME_LEN) {
        let reserved =
            matches!(pdu, SlowPdu::Lacp(_)) && matches!(i - 14, 19..=21 | 39..=41 | 46..=57);
        let reserved = reserved || (matches!(pdu, SlowPdu::Marker(_)) && matches!(i - 14, 16 | 17));
        if !reserved {
            assert_eq!(encoded[i], frame[i], "byte {i} not kept by decode/encode");
        }
    }
});
