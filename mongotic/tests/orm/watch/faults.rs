//! The consumer under faults (written next).
