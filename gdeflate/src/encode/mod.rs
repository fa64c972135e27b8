//! GDeflate encoder (feature `alloc`): tile-stream container and 32-lane
//! bitstream writer, levels 1..12 like the reference.
