//! SIP test peers (work in progress).
