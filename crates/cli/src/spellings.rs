//! llama.cpp's multi-letter single-dash options (`-npp`, `-np`), rewritten
//! to long options before parsing: clap has no multi-letter short options,
//! and `-np 8` would otherwise read as `-n p`.

use std::ffi::OsString;

/// Per subcommand: (llama.cpp spelling, long option).
const SPELLINGS: &[(&str, &[(&str, &str)])] = &[
    (
        "batched-bench",
        &[
            ("-npp", "--npp"),
            ("-ntg", "--ntg"),
            ("-npl", "--npl"),
            ("-pps", "--pps"),
        ],
    ),
    ("serve", &[("-np", "--parallel")]),
];

/// Rewrites `-npp 128` and `-npp=128` (and the other spellings of the
/// subcommand) to long options in the arguments that follow the
/// subcommand (arguments that are not UTF-8 pass unchanged).
pub fn rewrite_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut table: Option<&[(&str, &str)]> = None;
    args.into_iter()
        .map(|arg| {
            let Some(a) = arg.to_str() else {
                return arg;
            };
            let Some(spellings) = table else {
                table = SPELLINGS.iter().find(|(cmd, _)| *cmd == a).map(|e| e.1);
                return arg;
            };
            for (short, long) in spellings {
                if a == *short {
                    return (*long).into();
                }
                if let Some(v) = a.strip_prefix(short).and_then(|r| r.strip_prefix('=')) {
                    return format!("{long}={v}").into();
                }
            }
            arg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn llama_cpp_spellings_become_long_options() {
        let a = rewrite_args(strings(&[
            "wasm-chord",
            "batched-bench",
            "-npp",
            "128,256",
            "-ntg=64",
            "-npl",
            "1,2",
            "-pps",
            "-t",
            "2",
        ]));
        assert_eq!(
            a,
            strings(&[
                "wasm-chord",
                "batched-bench",
                "--npp",
                "128,256",
                "--ntg=64",
                "--npl",
                "1,2",
                "--pps",
                "-t",
                "2"
            ])
        );
        // other commands are left alone
        let b = strings(&["wasm-chord", "run", "-npp", "-np"]);
        assert_eq!(rewrite_args(b.clone()), b);
        // serve's -np (not -n p), only after `serve`
        let c = rewrite_args(strings(&["wasm-chord", "serve", "-np", "8", "-np=2", "-n"]));
        assert_eq!(
            c,
            strings(&[
                "wasm-chord",
                "serve",
                "--parallel",
                "8",
                "--parallel=2",
                "-n"
            ])
        );
        let d = strings(&["wasm-chord", "batched-bench", "-np", "8"]);
        assert_eq!(rewrite_args(d.clone()), d);
    }
}
