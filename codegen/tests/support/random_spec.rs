// Random specs that pass the checks: `states` states in a ring (so every
// state is reachable and leads back to the initial one) plus `extra` more
// transitions per state, on random events, with random targets and
// actions. Some are guarded: one guard alone (the machine may stay), a
// guard and its negation, a three-way split over two guards, a self-loop on
// a disjunction; some lines have several sources. A fixed seed gives the
// same spec every time.
//
// Shared by codegen/tests/rust_table.rs, the benches and the build-script
// test crate (`include!`d; no dependencies).

/// SplitMix64: small, fast, and good enough to pick shapes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The source text of a random spec. `events` >= 2, `guards` >= 2.
pub fn random_spec(seed: u64, states: usize, events: usize, guards: usize, extra: usize) -> String {
    use std::fmt::Write as _;
    assert!(states >= 1 && events >= 2 && guards >= 2);
    let mut rng = Rng(seed);
    let mut s = String::new();
    let actions = 8;
    writeln!(
        s,
        "machine Random \"random machine, seed {seed}\" zh \"随机状态机\""
    )
    .unwrap();
    writeln!(s, "path ring solid circled \"around the ring\"").unwrap();
    let ring_steps = states.min(4);
    for i in 0..states {
        let initial = if i == 0 { " initial" } else { "" };
        let step = if i == 0 { " ring 1" } else { "" };
        writeln!(s, "state S{i}{initial} \"state {i}\" zh \"状态{i}\"{step}").unwrap();
    }
    for e in 0..events {
        let kind = ["call", "segment", "timer"][e % 3];
        writeln!(s, "event e{e} {kind} \"event {e}\"").unwrap();
    }
    for g in 0..guards {
        writeln!(s, "guard g{g} \"guard {g}\"").unwrap();
    }
    for a in 0..actions {
        let internal = if a % 3 == 2 { " internal" } else { "" };
        writeln!(s, "action a{a}{internal} \"action {a}\"").unwrap();
    }
    let acts = |rng: &mut Rng| -> String {
        let n = rng.below(3);
        if n == 0 {
            return String::new();
        }
        let list: Vec<String> = (0..n).map(|_| format!("a{}", rng.below(actions))).collect();
        format!(" / {}", list.join(", "))
    };
    // (state, event) cells taken, so that no two lines overlap.
    let mut used = vec![false; states * events];
    for i in 0..states {
        used[i * events] = true;
        let step = if i + 1 < ring_steps {
            format!(" ring {}", i + 2)
        } else {
            String::new()
        };
        let a = acts(&mut rng);
        writeln!(s, "S{i} -> S{} on e0{a}{step}", (i + 1) % states).unwrap();
    }
    for i in 0..states {
        for _ in 0..extra {
            let e = 1 + rng.below(events - 1);
            if used[i * events + e] {
                continue;
            }
            used[i * events + e] = true;
            let t = |rng: &mut Rng| format!("S{}", rng.below(states));
            let g = rng.below(guards);
            let h = (g + 1 + rng.below(guards - 1)) % guards;
            match rng.below(6) {
                0 | 1 => {
                    // Several sources, where the cells are free.
                    let mut sources = vec![i];
                    for _ in 0..rng.below(3) {
                        let o = rng.below(states);
                        if !used[o * events + e] {
                            used[o * events + e] = true;
                            sources.push(o);
                        }
                    }
                    let names: Vec<String> = sources.iter().map(|o| format!("S{o}")).collect();
                    let (to, a) = (t(&mut rng), acts(&mut rng));
                    writeln!(s, "{} -> {to} on e{e}{a}", names.join(", ")).unwrap();
                }
                2 => {
                    let (to, a) = (t(&mut rng), acts(&mut rng));
                    writeln!(s, "S{i} -> {to} on e{e} [g{g}]{a}").unwrap();
                }
                3 => {
                    let (t1, a1) = (t(&mut rng), acts(&mut rng));
                    let (t2, a2) = (t(&mut rng), acts(&mut rng));
                    writeln!(s, "S{i} -> {t1} on e{e} [g{g}]{a1}").unwrap();
                    writeln!(s, "S{i} -> {t2} on e{e} [!g{g}]{a2}").unwrap();
                }
                4 => {
                    let (t1, a1) = (t(&mut rng), acts(&mut rng));
                    let (t2, a2) = (t(&mut rng), acts(&mut rng));
                    let (t3, a3) = (t(&mut rng), acts(&mut rng));
                    writeln!(s, "S{i} -> {t1} on e{e} [g{g} && g{h}]{a1}").unwrap();
                    writeln!(s, "S{i} -> {t2} on e{e} [g{g} && !g{h}]{a2}").unwrap();
                    writeln!(s, "S{i} -> {t3} on e{e} [!g{g}]{a3}").unwrap();
                }
                _ => {
                    let a = acts(&mut rng);
                    writeln!(s, "S{i} -> same on e{e} [g{g} || !g{h}]{a}").unwrap();
                }
            }
        }
    }
    s
}
