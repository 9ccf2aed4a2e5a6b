//! Record batches (magic v2), records and their compression codecs.
