//! The Republic of Kazakhstan working-day calendar and term arithmetic.
