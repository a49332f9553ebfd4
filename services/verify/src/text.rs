//! Answer comparison: two answers are the same when they are equal after trimming,
//! collapsing runs of whitespace to one space and folding ASCII case. Allocation-free.

/// The normalised characters of an answer, one at a time.
fn normalised(s: &str) -> impl Iterator<Item = char> + '_ {
    let mut prev_space = false;
    s.trim().chars().filter_map(move |c| {
        if c.is_whitespace() {
            if prev_space {
                return None;
            }
            prev_space = true;
            Some(' ')
        } else {
            prev_space = false;
            Some(c.to_ascii_lowercase())
        }
    })
}

/// Whether two answers are the same after normalisation.
pub fn same_answer(a: &str, b: &str) -> bool {
    normalised(a).eq(normalised(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert!(same_answer("  Paris  ", "paris"));
        assert!(same_answer("New\t\tYork", "new york"));
        assert!(!same_answer("New York", "NewYork"));
        assert!(!same_answer("a", ""));
    }
}
