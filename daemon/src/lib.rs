//! tipringd library
