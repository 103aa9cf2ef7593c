//! Service definitions: regulations as data, their channels, steps and regional variants.
