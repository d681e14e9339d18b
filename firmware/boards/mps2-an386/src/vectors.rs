//! The device-specific part of the vector table, sized to the board's 32 external interrupts
//! (QEMU's `num-irq` for `mps2-an386`). Without its `device` feature, cortex-m-rt provides a
//! table with room for every interrupt the architecture allows (240 on ARMv7-M, 960 bytes of
//! flash). Every entry is cortex-m-rt's `DefaultHandler`; nothing here enables an interrupt.

extern "C" {
    fn DefaultHandler();
}

#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];
