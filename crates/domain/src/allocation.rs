//! Child-optimal stable allocation of kindergarten places (see ../../bench/FORMAT.md).
