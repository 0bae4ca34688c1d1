//! Model-based tests of the whole module: the store against a reference
//! model, on random sequences of requests.

mod model;
mod prop;
