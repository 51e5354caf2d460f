//! Board profiles (issue 5): being written.
