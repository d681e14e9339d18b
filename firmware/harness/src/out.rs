//! Lines to the host over semihosting, and the exit status. Numbers are formatted by hand
//! rather than with `core::fmt`, whose machinery would add kilobytes to the flash that the
//! benchmark reports as the runtime's.

use cortex_m_semihosting::{debug, hio};

/// A line being assembled; [`Line::send`] writes it to the host's stdout in one call.
pub struct Line {
    buf: [u8; 160],
    len: usize,
}

impl Line {
    pub fn new(text: &str) -> Self {
        let mut line = Line {
            buf: [0; 160],
            len: 0,
        };
        line.text(text);
        line
    }

    /// Appends one byte, flushing a full buffer first so that long text is never cut.
    #[inline(never)]
    fn push(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    #[inline(never)]
    pub fn text(&mut self, text: &str) -> &mut Self {
        for &b in text.as_bytes() {
            self.push(b);
        }
        self
    }

    /// Appends `n` in decimal. The digits come from 32-bit divisions by ten, 16 bits at a
    /// time below the high word: a 64-bit division would link a library routine of about a
    /// kilobyte.
    #[inline(never)]
    pub fn uint(&mut self, n: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let (mut hi, mut lo) = ((n >> 32) as u32, n as u32);
        loop {
            // (hi * 2^32 + lo) / 10: each partial dividend is below 10 * 2^16, so each
            // partial quotient fits its 16 bits.
            let (q_hi, r) = (hi / 10, hi % 10);
            let mid = (r << 16) | (lo >> 16);
            let (q_mid, r) = (mid / 10, mid % 10);
            let low = (r << 16) | (lo & 0xffff);
            let (q_low, r) = (low / 10, low % 10);
            (hi, lo) = (q_hi, (q_mid << 16) | q_low);
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + r as u8;
            }
            if (hi == 0 && lo == 0) || i == 0 {
                break;
            }
        }
        for &d in digits.get(i..).unwrap_or(&[]) {
            self.push(d);
        }
        self
    }

    #[inline(never)]
    pub fn hex32(&mut self, n: u32) -> &mut Self {
        self.text("0x");
        for shift in (0..8).rev() {
            let d = ((n >> (shift * 4)) & 0xf) as u8;
            self.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        self
    }

    /// ` key=` followed by the number.
    pub fn field(&mut self, key: &str, value: u64) -> &mut Self {
        self.text(" ").text(key).text("=").uint(value)
    }

    #[inline(never)]
    fn flush(&mut self) {
        if let Ok(mut stdout) = hio::hstdout() {
            let _ = stdout.write_all(self.buf.get(..self.len).unwrap_or(&[]));
        }
        self.len = 0;
    }

    /// Ends the line and writes it.
    pub fn send(&mut self) {
        self.text("\n");
        self.flush();
    }
}

/// Ends the emulation with success: QEMU exits with status 0.
pub fn exit_success() -> ! {
    debug::exit(debug::EXIT_SUCCESS);
    halt()
}

/// Prints `mote-bench: error: <what>` and ends the emulation with failure (QEMU exits 1).
pub fn fail(what: &str) -> ! {
    Line::new("mote-bench: error: ").text(what).send();
    exit_failure()
}

pub fn exit_failure() -> ! {
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

/// Where execution stops if the host ignored the exit request (no semihosting).
fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
