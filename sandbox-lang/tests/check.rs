//! The type checker on right and wrong programs: every error with its line, column and
//! message (and help, where it gives one).

use sandbox_lang::ast::Type;

const EXAMPLE: &str = include_str!("../../examples/mini/example.mini");

/// `line:column: message [help: ...]` of each error.
fn errors(source: &str) -> Vec<String> {
    let errors = sandbox_lang::check(source).expect_err("the program has errors");
    errors
        .iter()
        .map(|error| {
            let (line, column) = error.line_column(source);
            match &error.help {
                Some(help) => format!("{line}:{column}: {} [help: {help}]", error.message),
                None => format!("{line}:{column}: {}", error.message),
            }
        })
        .collect()
}

#[test]
fn the_example_program_checks() {
    let program = sandbox_lang::check(EXAMPLE).unwrap();
    assert_eq!(program.main, Some(2));
    let main = &program.functions[2];
    // n, xs, the first loop's bound and counter, total, the second loop's bound and counter.
    assert_eq!(
        main.locals,
        [
            Type::Int,
            Type::Array(Box::new(Type::Int)),
            Type::Int,
            Type::Int,
            Type::Int,
            Type::Int,
            Type::Int
        ]
    );
    assert!(program.functions[1].exported);
}

#[test]
fn functions_may_be_called_before_they_are_defined_and_recurse() {
    let source = "func main() { println(fib(10)); }\nfunc fib(n: int) -> int { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }\n";
    sandbox_lang::check(source).unwrap();
}

#[test]
fn type_errors_name_the_types_and_the_fix() {
    let source = r#"func f(x: float) -> int {
    let a = 1 + 2.5;
    let b: float = 3;
    let c = sqrt(4);
    if a { }
    return x;
}
func main() {
    let s = "text";
    f(1);
    totl = 2;
    let arr = array(3, 1.5);
    arr[0.5] = 1;
}
"#;
    assert_eq!(
        errors(source),
        [
            "2:13: `+` cannot take `int` and `float` [help: there are no implicit conversions: convert one side with `as float` or `as int`]",
            "3:20: `b` is declared `float` but this is `int` [help: convert it: `... as float`]",
            "4:13: `sqrt` takes a `float`: `sqrt(x as float)`",
            "6:12: this function returns `int`, this is `float` [help: convert it (truncating): `... as int`]",
            "9:13: `s` cannot hold a string (strings can only be printed)",
            "10:7: `f`'s parameter `x` is `float`, this is `int` [help: convert it: `... as float`]",
            "11:5: unknown name `totl`",
            "13:9: an index must be an `int`, this is `float` [help: convert it (truncating): `... as int`]",
            "13:16: mismatched types: expected `float`, found `int` [help: convert it: `... as float`]",
        ]
    );
}

#[test]
fn names_loops_returns_and_builtins_are_checked() {
    let source = r#"func g(n: int) -> int {
    if n > 0 { return 1; }
}
func main() {
    let total = 0;
    totl += 1;
    for i in 0..10 { i = 2; }
    break;
    prinln(total);
    let m = main();
    print();
    len(3);
}
func len(a: int) {}
"#;
    assert_eq!(
        errors(source),
        [
            "3:1: the function `g` can reach its end without returning a value [help: add `return ...;` before the closing brace]",
            "6:5: unknown name `totl` [help: did you mean `total`?]",
            "7:22: cannot assign to the loop variable `i` [help: copy it into a variable of your own: `let j = i;`]",
            "8:5: `break` outside of a loop",
            "9:5: unknown function `prinln` [help: did you mean `println`?]",
            "10:13: `m` cannot hold the result of a function that returns nothing",
            "11:5: `print` takes one value to print",
            "12:5: `len` takes one array",
            "14:6: `len` is a built-in function [help: give your function another name]",
        ]
    );
}

#[test]
fn main_has_no_parameters_and_functions_are_defined_once() {
    let source = "func main(x: int) {}\nfunc f() {}\nfunc f() {}\n";
    assert_eq!(
        errors(source),
        [
            "1:6: `main` takes no parameters and returns nothing [help: read input with read_int() / read_float(); write it with println]",
            "3:6: the function `f` is defined twice",
        ]
    );
}

#[test]
fn random_programs_from_the_grammar_s_pieces_never_panic_the_checker() {
    let pieces = [
        "func", "main", "f", "(", ")", "{", "}", "[", "]", "let", "x", "y", "=", "1", "2.5", "+",
        "-", "%", "<", "==", "&&", "!", ";", ",", ":", "int", "float", "[int]", "->", "if", "else",
        "while", "for", "in", "..", "return", "break", "as", "\"s\"", "true", "array", "len",
        "println", "read_int", "exit", "sqrt", "+=",
    ];
    let mut state = 0x1234_5678_9abc_def1u64;
    for _ in 0..5000 {
        let mut source = String::from("func main() { ");
        for _ in 0..(state % 30) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            source.push_str(pieces[(state % pieces.len() as u64) as usize]);
            source.push(' ');
        }
        source.push_str(" }");
        if let Err(errors) = sandbox_lang::check(&source) {
            for error in errors {
                let _ = error.render("fuzz.mini", &source);
            }
        }
    }
}

#[test]
fn a_type_error_renders_as_the_readme_shows() {
    let source = "func main() {\n    let a = 1 + 2.5;\n}\n";
    let errors = sandbox_lang::check(source).unwrap_err();
    assert_eq!(
        errors[0].render("prog.mini", source),
        "prog.mini:2:13: error: `+` cannot take `int` and `float`\n  |\n2 |     let a = 1 + 2.5;\n  |             ^^^^^^^\n  = help: there are no implicit conversions: convert one side with `as float` or `as int`\n"
    );
}
