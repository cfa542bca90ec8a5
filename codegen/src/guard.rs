//! Guard expressions: `!`, `&&`, `||` over declared guard names, and the
//! question the checker asks of two of them: can both hold at once?

use std::fmt;

/// A boolean condition over guard variables of type `V`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GuardExpr<V> {
    /// A declared guard.
    Var(V),
    /// Negation.
    Not(Box<GuardExpr<V>>),
    /// Conjunction.
    And(Box<GuardExpr<V>>, Box<GuardExpr<V>>),
    /// Disjunction.
    Or(Box<GuardExpr<V>>, Box<GuardExpr<V>>),
}

/// More distinct variables than this in two guards of one (state, event)
/// and the checker gives up on proving them exclusive (2^16 cases).
pub const MAX_EXCLUSIVITY_VARS: usize = 16;

impl<V> GuardExpr<V> {
    /// Evaluates the expression with `value` giving each variable's truth.
    pub fn eval(&self, value: &mut impl FnMut(&V) -> bool) -> bool {
        match self {
            GuardExpr::Var(v) => value(v),
            GuardExpr::Not(e) => !e.eval(value),
            GuardExpr::And(a, b) => a.eval(value) && b.eval(value),
            GuardExpr::Or(a, b) => a.eval(value) || b.eval(value),
        }
    }

    /// Every variable occurrence, left to right.
    pub fn vars(&self) -> Vec<&V> {
        let mut out = Vec::new();
        self.visit(&mut |v| out.push(v));
        out
    }

    fn visit<'a>(&'a self, f: &mut impl FnMut(&'a V)) {
        match self {
            GuardExpr::Var(v) => f(v),
            GuardExpr::Not(e) => e.visit(f),
            GuardExpr::And(a, b) | GuardExpr::Or(a, b) => {
                a.visit(f);
                b.visit(f);
            }
        }
    }

    /// The same expression over other variables.
    pub fn map<W>(&self, f: &mut impl FnMut(&V) -> W) -> GuardExpr<W> {
        match self {
            GuardExpr::Var(v) => GuardExpr::Var(f(v)),
            GuardExpr::Not(e) => GuardExpr::Not(Box::new(e.map(f))),
            GuardExpr::And(a, b) => GuardExpr::And(Box::new(a.map(f)), Box::new(b.map(f))),
            GuardExpr::Or(a, b) => GuardExpr::Or(Box::new(a.map(f)), Box::new(b.map(f))),
        }
    }

    /// Writes the expression with `name` for each variable, parenthesised
    /// only where precedence needs it.
    pub fn write(&self, out: &mut String, name: &impl Fn(&V) -> String) {
        self.write_prec(out, name, 0);
    }

    fn write_prec(&self, out: &mut String, name: &impl Fn(&V) -> String, prec: u8) {
        match self {
            GuardExpr::Var(v) => out.push_str(&name(v)),
            GuardExpr::Not(e) => {
                out.push('!');
                e.write_prec(out, name, 3);
            }
            GuardExpr::And(a, b) => {
                let paren = prec > 2;
                if paren {
                    out.push('(');
                }
                a.write_prec(out, name, 2);
                out.push_str(" && ");
                b.write_prec(out, name, 2);
                if paren {
                    out.push(')');
                }
            }
            GuardExpr::Or(a, b) => {
                let paren = prec > 1;
                if paren {
                    out.push('(');
                }
                a.write_prec(out, name, 1);
                out.push_str(" || ");
                b.write_prec(out, name, 1);
                if paren {
                    out.push(')');
                }
            }
        }
    }
}

impl<V: fmt::Display> fmt::Display for GuardExpr<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write(&mut s, &|v| v.to_string());
        f.write_str(&s)
    }
}

/// Whether two conditions can both hold. `None` stands for "always true".
/// Answers `None` when there are more than [`MAX_EXCLUSIVITY_VARS`]
/// distinct variables to try.
pub fn can_overlap<V: PartialEq>(
    a: Option<&GuardExpr<V>>,
    b: Option<&GuardExpr<V>>,
) -> Option<bool> {
    let mut vars: Vec<&V> = Vec::new();
    for e in [a, b].into_iter().flatten() {
        for v in e.vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
    }
    if vars.len() > MAX_EXCLUSIVITY_VARS {
        return None;
    }
    let holds = |e: Option<&GuardExpr<V>>, bits: u32| {
        e.is_none_or(|e| {
            e.eval(&mut |v| {
                let i = vars.iter().position(|w| *w == v).expect("collected above");
                bits >> i & 1 == 1
            })
        })
    };
    Some((0..1u32 << vars.len()).any(|bits| holds(a, bits) && holds(b, bits)))
}

/// Whether the conditions together cover every case (some one always holds).
/// Answers `None` when there are too many variables to try.
pub fn covers_all<V: PartialEq>(guards: &[Option<&GuardExpr<V>>]) -> Option<bool> {
    let mut vars: Vec<&V> = Vec::new();
    for e in guards.iter().flatten() {
        for v in e.vars() {
            if !vars.contains(&v) {
                vars.push(v);
            }
        }
    }
    if vars.len() > MAX_EXCLUSIVITY_VARS {
        return None;
    }
    Some((0..1u32 << vars.len()).all(|bits| {
        guards.iter().any(|g| {
            g.is_none_or(|e| {
                e.eval(&mut |v| {
                    let i = vars.iter().position(|w| *w == v).expect("collected above");
                    bits >> i & 1 == 1
                })
            })
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(s: &'static str) -> GuardExpr<&'static str> {
        GuardExpr::Var(s)
    }
    fn not(e: GuardExpr<&'static str>) -> GuardExpr<&'static str> {
        GuardExpr::Not(Box::new(e))
    }
    fn and(a: GuardExpr<&'static str>, b: GuardExpr<&'static str>) -> GuardExpr<&'static str> {
        GuardExpr::And(Box::new(a), Box::new(b))
    }
    fn or(a: GuardExpr<&'static str>, b: GuardExpr<&'static str>) -> GuardExpr<&'static str> {
        GuardExpr::Or(Box::new(a), Box::new(b))
    }

    #[test]
    fn a_guard_and_its_negation_are_exclusive() {
        assert_eq!(
            can_overlap(Some(&var("p")), Some(&not(var("p")))),
            Some(false)
        );
    }

    #[test]
    fn unguarded_overlaps_everything_satisfiable() {
        assert_eq!(can_overlap(None, Some(&var("p"))), Some(true));
        assert_eq!(can_overlap::<&str>(None, None), Some(true));
        let never = and(var("p"), not(var("p")));
        assert_eq!(can_overlap(None, Some(&never)), Some(false));
    }

    #[test]
    fn different_guards_overlap() {
        assert_eq!(can_overlap(Some(&var("p")), Some(&var("q"))), Some(true));
        let pq = and(var("p"), var("q"));
        let not_p_or_not_q = or(not(var("p")), not(var("q")));
        assert_eq!(can_overlap(Some(&pq), Some(&not_p_or_not_q)), Some(false));
    }

    #[test]
    fn coverage_of_complementary_guards() {
        assert_eq!(
            covers_all(&[Some(&var("p")), Some(&not(var("p")))]),
            Some(true)
        );
        assert_eq!(covers_all(&[Some(&var("p"))]), Some(false));
        assert_eq!(covers_all::<&str>(&[None]), Some(true));
    }

    #[test]
    fn printing_keeps_precedence() {
        let e = and(or(var("a"), var("b")), not(and(var("c"), var("d"))));
        assert_eq!(e.to_string(), "(a || b) && !(c && d)");
        assert_eq!(
            or(and(var("a"), var("b")), var("c")).to_string(),
            "a && b || c"
        );
    }

    #[test]
    fn too_many_variables_gives_no_answer() {
        let mut e = var("v0");
        let names: Vec<&'static str> = (1..=MAX_EXCLUSIVITY_VARS)
            .map(|i| &*Box::leak(format!("v{i}").into_boxed_str()))
            .collect();
        for n in names {
            e = and(e, var(n));
        }
        assert_eq!(can_overlap(Some(&e), None), None);
    }
}
