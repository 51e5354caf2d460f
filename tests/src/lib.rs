//! End-to-end tests of Tipring live in `tests/tests/`; this library is empty.
