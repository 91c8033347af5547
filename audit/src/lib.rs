//! sluice-audit: the tamper-evident audit log.
