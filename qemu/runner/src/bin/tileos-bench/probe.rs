//! The slot part's probe figures (`slots16`): checksum-probe's `probe.round` lines (each
//! round's longest latenesses, responses and calls, `value@start`) against the windows of
//! the promotions and the rollback (the manager's `slot.promotion-stall` and
//! `slot.rollback-stall` lines (before `slots20`: `slot.control-span`), `from=`..`to=` in time-stamp ticks).
//!
//! What the probe measures (its own documentation has the details): woken by the CMOS
//! clock's interrupt at 8192 Hz at priority 75 (above the command path and the challengers,
//! below the serving module and the manager), its *lateness* is how long it was kept from
//! running after an interrupt, its *response* from the interrupt to the answer of the call
//! it then made (every fourth wake), its *call* from its send to the answer.

/// One value the probe logged: the value and when it began (time-stamp ticks).
pub type Sample = (u64, u64);

/// One `probe.round` line.
#[derive(Clone, Debug, Default)]
pub struct Round {
    /// Its first and last wake (time-stamp ticks).
    pub span: (u64, u64),
    /// The round's longest latenesses, responses and calls (`late=`, `response=`, `call=`).
    pub samples: [Vec<Sample>; 3],
    /// Wakes and calls in the round.
    pub wakes: u64,
    /// Calls made.
    pub calls: u64,
}

/// The probe's rounds in `serial`.
pub fn rounds(serial: &str) -> Vec<Round> {
    serial
        .lines()
        .filter(|line| line.starts_with("@event probe.round "))
        .filter_map(|line| {
            let word = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name));
            let number = |name: &str| word(name).and_then(|v| v.parse::<u64>().ok());
            let list = |name: &str| -> Vec<Sample> {
                word(name)
                    .unwrap_or("-")
                    .split(',')
                    .filter_map(|item| {
                        let (value, at) = item.split_once('@')?;
                        Some((value.parse().ok()?, at.parse().ok()?))
                    })
                    .collect()
            };
            Some(Round {
                span: (number("first=")?, number("last=")?),
                samples: [list("late="), list("response="), list("call=")],
                wakes: number("wakes=")?,
                calls: number("calls=")?,
            })
        })
        .collect()
}

/// The probe's view of one window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The window (time-stamp ticks): the manager's busy spans under the promotion, or the
    /// rollback's request.
    pub span: (u64, u64),
    /// The longest logged lateness, response and call that overlapped it (`None`: none
    /// logged did).
    pub longest: [Option<Sample>; 3],
    /// The shortest value each of the covering round's lists holds (a lateness, response or
    /// call of the window below it is not logged); `None`: no round covered the window.
    pub floor: Option<[u64; 3]>,
}

/// The probe's samples that overlap `span` (a sample `(value, at)` covers `at..at+value`).
pub fn window(rounds: &[Round], span: (u64, u64)) -> Window {
    let (from, to) = span;
    let mut longest = [None; 3];
    for (kind, slot) in longest.iter_mut().enumerate() {
        *slot =
            rounds.iter().flat_map(|round| round.samples[kind].iter().copied()).filter(|&(value, at)| at <= to && at + value >= from).max();
    }
    let floor = rounds
        .iter()
        .find(|round| round.span.0 <= from && round.span.1 >= to)
        .map(|round| core::array::from_fn(|kind| round.samples[kind].iter().map(|s| s.0).min().unwrap_or(0)));
    Window { span, longest, floor }
}

/// The probe's usual figures away from the windows: over its rounds that overlap none of
/// `windows`, the median and the largest of the rounds' longest lateness, response and
/// call, and how many rounds.
pub fn outside(rounds: &[Round], windows: &[(u64, u64)]) -> ([u64; 3], [u64; 3], usize) {
    let clear: Vec<&Round> = rounds.iter().filter(|round| windows.iter().all(|&(a, b)| round.span.1 < a || round.span.0 > b)).collect();
    let per_kind = |kind: usize| -> (u64, u64) {
        let mut maxima: Vec<u64> = clear.iter().map(|round| round.samples[kind].first().map_or(0, |s| s.0)).collect();
        maxima.sort_unstable();
        (maxima.get(maxima.len() / 2).copied().unwrap_or(0), maxima.last().copied().unwrap_or(0))
    };
    let all: [(u64, u64); 3] = core::array::from_fn(per_kind);
    (all.map(|k| k.0), all.map(|k| k.1), clear.len())
}

/// A window's `from=` and `to=` from the first line starting with `marker` in `serial`
/// after byte `at`.
pub fn span_after(serial: &str, at: usize, marker: &str) -> Option<(u64, u64)> {
    from_to(serial.get(at..)?.lines().find(|line| line.starts_with(marker))?)
}

/// The same from the last such line before byte `at`.
pub fn span_before(serial: &str, at: usize, marker: &str) -> Option<(u64, u64)> {
    from_to(serial.get(..at)?.lines().rfind(|line| line.starts_with(marker))?)
}

/// A line's `from=` and `to=`.
fn from_to(line: &str) -> Option<(u64, u64)> {
    let field = |name: &str| line.split_whitespace().find_map(|word| word.strip_prefix(name)).and_then(|v| v.parse::<u64>().ok());
    Some((field("from=")?, field("to=")?))
}

/// A window's figures as bench.json has them.
pub fn json(window: Option<Window>) -> String {
    let Some(w) = window else { return "null".into() };
    let sample = |s: Option<Sample>| s.map_or("null".to_string(), |(v, at)| format!("{{\"instructions\": {v}, \"began\": {at}}}"));
    format!(
        "{{\"window\": {}, \"longest_lateness\": {}, \"longest_response\": {}, \"longest_call\": {}, \"covering_round_floor\": {:?}}}",
        w.span.1.saturating_sub(w.span.0),
        sample(w.longest[0]),
        sample(w.longest[1]),
        sample(w.longest[2]),
        w.floor.map(|f| f.to_vec())
    )
}

/// Prints a window's figures.
pub fn print(what: &str, window: Option<Window>) {
    let Some(w) = window else {
        println!("probe, {what}: no window (its marker line is missing)");
        return;
    };
    let shown = |s: Option<Sample>, kind: usize| match (s, w.floor) {
        (Some((v, _)), _) => v.to_string(),
        (None, Some(floor)) => format!("< {} (none logged)", floor[kind]),
        (None, None) => "no round covered it".to_string(),
    };
    println!("{:<52} {:>14}", format!("probe, {what}: window"), w.span.1.saturating_sub(w.span.0));
    println!("{:<52} {:>14}", "  longest lateness (kept from running)", shown(w.longest[0], 0));
    println!("{:<52} {:>14}", "  longest response (interrupt to answer)", shown(w.longest[1], 1));
    println!("{:<52} {:>14}", "  longest call (send to answer)", shown(w.longest[2], 2));
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "@event probe.round n=1 wakes=8192 calls=2048 errors=0 wrong=0 ambiguous=0 recalibrations=2 first=1000 last=2000000 late_max=50 call_max=900 response_max=950 late=50@1500,20@3000 response=950@1500 call=900@1600,10@9000";

    #[test]
    fn a_round_line_is_read_and_a_window_finds_its_samples() {
        let rounds = rounds(&format!("x\n{LINE}\n@event probe.round first=5 last=6 late=- response=- call=- wakes=1 calls=0\n"));
        assert_eq!(rounds.len(), 2);
        assert_eq!(rounds[0].samples[0], vec![(50, 1500), (20, 3000)]);
        assert!(rounds[1].samples[0].is_empty());
        let w = window(&rounds, (1540, 1560));
        // The call began after the window: not its.
        assert_eq!(w.longest, [Some((50, 1500)), Some((950, 1500)), None]);
        assert_eq!(w.floor, Some([20, 950, 10]));
        let away = window(&rounds, (5_000_000, 5_000_100));
        assert_eq!(away.longest, [None; 3]);
        assert_eq!(away.floor, None);
        let (median, largest, count) = outside(&rounds, &[(1540, 1560)]);
        assert_eq!(count, 1);
        assert_eq!((median, largest), ([0; 3], [0; 3]));
        let serial = "a\n@event x from=1 to=2\n@event x from=3 to=9\nmark\n@event x from=10 to=12\n";
        let mark = serial.find("mark").unwrap();
        assert_eq!(span_before(serial, mark, "@event x "), Some((3, 9)));
        assert_eq!(span_after(serial, mark, "@event x "), Some((10, 12)));
    }
}
