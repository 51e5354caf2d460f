//! The DAHDI device model (issue 5): being written.
