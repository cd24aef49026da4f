//! Random well-typed programs: each is rendered to Mini source and interpreted here (wrapping
//! 64-bit arithmetic, Mini's division and remainder), compiled, run on both engines, and
//! its output compared with the interpreter's.

use sandbox::{Outcome, SandboxConfig};

const VARS: usize = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

enum Expr {
    Literal(i64),
    Var(usize),
    Binary(char, Box<Expr>, Box<Expr>),
    /// `a / (abs(b) + 1)` or `%`: never by zero.
    SafeDiv(char, Box<Expr>, Box<Expr>),
    Min(Box<Expr>, Box<Expr>),
}

enum Stmt {
    Assign(usize, Expr),
    If(Expr, char, Expr, Vec<Stmt>, Vec<Stmt>),
    For(u64, Vec<Stmt>),
    Print(Expr),
}

fn expr(rng: &mut Rng, depth: u32) -> Expr {
    match if depth == 0 {
        rng.below(2)
    } else {
        rng.below(6)
    } {
        0 => Expr::Literal(match rng.below(4) {
            0 => i64::MAX - rng.below(3) as i64,
            1 => -(rng.below(1000) as i64),
            _ => rng.below(100) as i64,
        }),
        1 => Expr::Var(rng.below(VARS as u64) as usize),
        2 | 3 => Expr::Binary(
            ['+', '-', '*'][rng.below(3) as usize],
            Box::new(expr(rng, depth - 1)),
            Box::new(expr(rng, depth - 1)),
        ),
        4 => Expr::SafeDiv(
            ['/', '%'][rng.below(2) as usize],
            Box::new(expr(rng, depth - 1)),
            Box::new(expr(rng, depth - 1)),
        ),
        _ => Expr::Min(
            Box::new(expr(rng, depth - 1)),
            Box::new(expr(rng, depth - 1)),
        ),
    }
}

fn statements(rng: &mut Rng, depth: u32) -> Vec<Stmt> {
    (0..1 + rng.below(4))
        .map(|_| {
            match if depth == 0 {
                rng.below(2)
            } else {
                rng.below(4)
            } {
                0 => Stmt::Assign(rng.below(VARS as u64) as usize, expr(rng, 3)),
                1 => Stmt::Print(expr(rng, 2)),
                2 => Stmt::If(
                    expr(rng, 2),
                    ['<', '=', '>'][rng.below(3) as usize],
                    expr(rng, 2),
                    statements(rng, depth - 1),
                    statements(rng, depth - 1),
                ),
                _ => Stmt::For(rng.below(4), statements(rng, depth - 1)),
            }
        })
        .collect()
}

fn render_expr(e: &Expr) -> String {
    match e {
        Expr::Literal(value) if *value < 0 => format!("({value})"),
        Expr::Literal(value) => value.to_string(),
        Expr::Var(index) => format!("v{index}"),
        Expr::Binary(op, a, b) => format!("({} {op} {})", render_expr(a), render_expr(b)),
        Expr::SafeDiv(op, a, b) => {
            format!(
                "({} {op} (abs({}) % 1000 + 1))",
                render_expr(a),
                render_expr(b)
            )
        }
        Expr::Min(a, b) => format!("min({}, {})", render_expr(a), render_expr(b)),
    }
}

fn render(statements: &[Stmt], indent: usize, out: &mut String) {
    let pad = "    ".repeat(indent);
    for statement in statements {
        match statement {
            Stmt::Assign(index, e) => {
                out.push_str(&format!("{pad}v{index} = {};\n", render_expr(e)))
            }
            Stmt::Print(e) => out.push_str(&format!("{pad}println({});\n", render_expr(e))),
            Stmt::If(a, op, b, then, otherwise) => {
                let op = if *op == '=' {
                    "==".to_string()
                } else {
                    op.to_string()
                };
                out.push_str(&format!(
                    "{pad}if {} {op} {} {{\n",
                    render_expr(a),
                    render_expr(b)
                ));
                render(then, indent + 1, out);
                out.push_str(&format!("{pad}}} else {{\n"));
                render(otherwise, indent + 1, out);
                out.push_str(&format!("{pad}}}\n"));
            }
            Stmt::For(count, body) => {
                out.push_str(&format!("{pad}for i{indent} in 0..{count} {{\n"));
                render(body, indent + 1, out);
                out.push_str(&format!("{pad}}}\n"));
            }
        }
    }
}

fn eval(e: &Expr, vars: &[i64; VARS]) -> i64 {
    match e {
        Expr::Literal(value) => *value,
        Expr::Var(index) => vars[*index],
        Expr::Binary(op, a, b) => {
            let (a, b) = (eval(a, vars), eval(b, vars));
            match op {
                '+' => a.wrapping_add(b),
                '-' => a.wrapping_sub(b),
                _ => a.wrapping_mul(b),
            }
        }
        Expr::SafeDiv(op, a, b) => {
            let a = eval(a, vars);
            let divisor = eval(b, vars).wrapping_abs() % 1000 + 1;
            if *op == '/' {
                a.wrapping_div(divisor)
            } else {
                a.wrapping_rem(divisor)
            }
        }
        Expr::Min(a, b) => eval(a, vars).min(eval(b, vars)),
    }
}

fn run(statements: &[Stmt], vars: &mut [i64; VARS], out: &mut String) {
    for statement in statements {
        match statement {
            Stmt::Assign(index, e) => vars[*index] = eval(e, vars),
            Stmt::Print(e) => out.push_str(&format!("{}\n", eval(e, vars))),
            Stmt::If(a, op, b, then, otherwise) => {
                let (a, b) = (eval(a, vars), eval(b, vars));
                let taken = match op {
                    '<' => a < b,
                    '=' => a == b,
                    _ => a > b,
                };
                run(if taken { then } else { otherwise }, vars, out);
            }
            Stmt::For(count, body) => {
                for _ in 0..*count {
                    run(body, vars, out);
                }
            }
        }
    }
}

#[test]
fn random_well_typed_programs_give_the_interpreter_s_output_on_both_engines() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut lines = 0;
    for case in 0..60 {
        let body = statements(&mut rng, 3);
        let mut source = String::from("func main() {\n");
        for index in 0..VARS {
            source.push_str(&format!("    let v{index} = {};\n", index as i64 * 7 - 5));
        }
        render(&body, 1, &mut source);
        source.push_str("}\n");
        let mut vars: [i64; VARS] = std::array::from_fn(|index| index as i64 * 7 - 5);
        let mut expected = String::new();
        run(&body, &mut vars, &mut expected);
        lines += expected.lines().count();

        let wasm = sandbox_lang::compile(&source)
            .unwrap_or_else(|errors| panic!("case {case} does not compile: {errors:?}\n{source}"));
        for backend in sandbox::available_runtimes() {
            let config = SandboxConfig {
                max_fuel: Some(1_000_000_000),
                ..SandboxConfig::default()
            };
            let module = sandbox::sandbox(backend, config.clone())
                .unwrap()
                .load(&wasm)
                .unwrap();
            let result = match module.instantiate(&config) {
                Ok(mut instance) => instance.call("_start", &[]).unwrap(),
                Err(report) => *report,
            };
            assert!(
                matches!(result.outcome, Outcome::Ok),
                "case {case} on {backend}: {:?}\n{source}",
                result.outcome
            );
            assert_eq!(
                String::from_utf8_lossy(&result.stdout),
                expected,
                "case {case} on {backend}:\n{source}"
            );
        }
    }
    // The programs print: the comparison is not of empty outputs.
    assert!(lines > 200, "only {lines} lines printed in all");
}
