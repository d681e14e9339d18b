//! The device-specific part of the vector table, sized to the board's 92 external interrupts
//! (QEMU's `num-irq` for `mps2-an505`). Without its `device` feature, cortex-m-rt provides a
//! table with room for every interrupt the architecture allows (480 on ARMv8-M Mainline, 1,920
//! bytes of flash). Every entry is cortex-m-rt's `DefaultHandler`; nothing here enables an
//! interrupt.

extern "C" {
    fn DefaultHandler();
}

#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 92] = [DefaultHandler; 92];
