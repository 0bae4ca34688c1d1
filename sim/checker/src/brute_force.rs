//! The definition of linearizability, with no cleverness, for tests to
//! hold the search to.

use crate::search::{Model, Timed};

/// Whether some order of all of `ops` respects real time and the model,
/// by trying every order.
pub fn linearizable<M: Model>(model: &M, ops: &[Timed<M::Op>]) -> bool {
    fn extend<M: Model>(
        model: &M,
        ops: &[Timed<M::Op>],
        done: &mut [bool],
        state: &mut [M::State],
    ) -> bool {
        if done.iter().all(|&d| d) {
            return true;
        }
        for i in 0..ops.len() {
            let blocked = (0..ops.len()).any(|j| !done[j] && ops[j].ret < ops[i].call);
            let part = model.part(&ops[i].op);
            let Some(after) = (!done[i] && !blocked)
                .then(|| model.step(&state[part], &ops[i].op))
                .flatten()
            else {
                continue;
            };
            let before = std::mem::replace(&mut state[part], after);
            done[i] = true;
            let found = extend(model, ops, done, state);
            done[i] = false;
            state[part] = before;
            if found {
                return true;
            }
        }
        false
    }
    let mut state = vec![model.init(); model.parts()];
    extend(model, ops, &mut vec![false; ops.len()], &mut state)
}
