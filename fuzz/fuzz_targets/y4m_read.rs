//! Y4M reading (`assize anonymise --face IN.y4m`): any bytes must give pictures or an error,
//! never a panic, and never a picture larger than the size limit allows.
#![no_main]

use assize_media::y4m::{read_frame, read_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = std::io::Cursor::new(data);
    if let Ok(header) = read_header(&mut r, 512) {
        assert!(header.width > 0 && header.height > 0);
        assert!(header.width <= 512 && header.height <= 512);
        let mut picture = Vec::new();
        for index in 0..8 {
            match read_frame(&mut r, &header, index, &mut picture) {
                Ok(true) => assert_eq!(picture.len(), header.frame_len()),
                Ok(false) | Err(_) => break,
            }
        }
    }
});
