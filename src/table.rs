//! Help for the crate's const tables (etcd's error table, bugs, crash points,
//! perturbations): each entry is one row, and the list of every entry is
//! read off the table, so that no entry can have a row missing.

/// One column of the const table `$table` as an array, in row order
/// (`$filler`: any value of the column's type, overwritten).
macro_rules! column {
    ($table:ident . $field:tt, $filler:expr) => {{
        let mut column = [$filler; $table.len()];
        let mut i = 0;
        while i < $table.len() {
            column[i] = $table[i].$field;
            i += 1;
        }
        column
    }};
}

pub(crate) use column;
