//! The segmented partition log.
