use super::cache::{self, Entries};
use super::*;
use crate::arch::{available, table};
use crate::quant::{quantize_row, row_bytes, vec_dot_type};

/// The tables with decode candidates usable here.
fn tables_with_candidates() -> Vec<&'static Kernels> {
    let ks: Vec<_> = available()
        .into_iter()
        .filter_map(table)
        .filter(|k| k.decode_candidates.is_some())
        .collect();
    if ks.is_empty() {
        println!("skipped: no table with decode candidates on this CPU");
    }
    ks
}

#[test]
fn zen4_timings_choose_the_avx2_order_row_dot_for_q4_k_and_q6_k() {
    // Issue 14, TinyLlama-1.1B Q4_K_M tg64 on one Zen 4 thread: 14.7 tok/s
    // with the AVX-512 rows kernels, 19.6 with the AVX2 row dots.
    let zen4 = [1.0 / 14.7, 1.0 / 19.6];
    assert_eq!(pick(&zen4), 1);
    // On a full-width AVX-512 core (Zen 5 here) the rows kernels win.
    assert_eq!(pick(&[1.0 / 41.0, 1.0 / 30.0]), 0);
    // The AVX-512 table offers its pairs kernels and the AVX2 row dot.
    for k in tables_with_candidates() {
        if k.isa != crate::arch::Isa::Avx512 {
            continue;
        }
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let c = candidates(k, ty);
            assert!(c.len() > 1, "{ty}: nothing to choose from");
            assert!(
                c[0].rows.is_some(),
                "{ty}: the table's own rows kernel first"
            );
            let chosen = c[pick(&[1.0 / 14.7, 1.0 / 19.6])];
            assert!(chosen.rows.is_none(), "{ty}: {} chosen", chosen.name);
            assert_eq!(chosen.name, "avx2-row-dot");
        }
    }
}

#[test]
fn ties_and_noise_keep_the_earlier_candidate() {
    assert_eq!(pick(&[1.0, 1.0]), 0);
    assert_eq!(pick(&[1.0, 0.98]), 0, "2% is noise");
    assert_eq!(pick(&[1.0, 1.0 / (1.0 + MARGIN) + 1e-9]), 0);
    assert_eq!(pick(&[1.0, 0.9]), 1);
    assert_eq!(pick(&[1.0, 0.9, 0.89]), 1, "challengers within the margin");
    assert_eq!(pick(&[1.0, 0.9, 0.5]), 2);
    // Broken timings never win; none at all: the table's own.
    assert_eq!(pick(&[f64::NAN, 1.0]), 1);
    assert_eq!(pick(&[0.0, 1.0]), 1);
    assert_eq!(pick(&[1.0, f64::INFINITY, -1.0]), 0);
    assert_eq!(pick(&[f64::NAN, f64::INFINITY]), 0);
    assert_eq!(pick(&[]), 0);
    // The same noisy timings twice give the same choice (a pure function).
    let t = [0.001_02, 0.001_00, 0.001_01];
    assert_eq!(pick(&t), pick(&t));
    assert_eq!(pick(&t), 0);
}

#[test]
fn every_candidate_equals_the_row_dot_bit_for_bit() {
    for k in tables_with_candidates() {
        for ty in GgmlType::ALL {
            let cands = candidates(k, ty);
            if cands.is_empty() {
                continue;
            }
            // The first is the table's own kernel.
            let own = k.rows(ty).map(|f| f as usize);
            assert_eq!(cands[0].rows.map(|f| f as usize), own, "{ty}");
            let mut names: Vec<_> = cands.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), cands.len(), "{ty}: names must be distinct");
            assert!(names
                .iter()
                .all(|n| !n.is_empty() && !n.contains([' ', ','])));
            let dot = k.dot(ty).unwrap();
            let n = 3 * 256;
            let rb = row_bytes(ty, n);
            for nrows in [0, 1, 2, 3, 4, 5, 7, 8, 9, 17, 33] {
                let mut w = vec![0u8; nrows * rb];
                for (r, o) in w.chunks_exact_mut(rb).enumerate() {
                    let v = crate::ops::tests::pseudo(n, 7 + r as u32);
                    let v: Vec<f32> = v.iter().map(|x| x * (1 + r % 5) as f32).collect();
                    quantize_row(ty, &v, o).unwrap();
                }
                let mut a = vec![0u8; row_bytes(vec_dot_type(ty), n)];
                quantize_row(vec_dot_type(ty), &crate::ops::tests::pseudo(n, 3), &mut a).unwrap();
                let want: Vec<u32> = w
                    .chunks_exact(rb)
                    .map(|r| dot(n, r, &a).to_bits())
                    .collect();
                for c in cands {
                    let mut y = vec![f32::NAN; nrows];
                    measure::run(c, dot, n, &w, &a, &mut y);
                    let got: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{ty} {} rows={nrows}", c.name);
                }
            }
        }
    }
}

#[test]
fn timing_gives_a_finite_time_per_candidate() {
    for k in tables_with_candidates() {
        let c = candidates(k, GgmlType::Q8_0);
        let t = measure::time_on(k, GgmlType::Q8_0, c, 1 << 20, &mut Vec::new());
        assert_eq!(t.len(), c.len());
        assert!(t.iter().all(|s| s.is_finite() && *s > 0.0), "{t:?}");
    }
}

#[test]
fn cache_entries_round_trip_and_reject_foreign_or_broken_text() {
    let key = "GenuineTest family 6 model 1 stepping 0 Test CPU";
    let names = ["avx512-pairs", "avx2-row-dot"];
    let mut e = Entries::parse("", key);
    assert_eq!(e.choice(GgmlType::Q4_K, &names), None);
    e.set(GgmlType::Q4_K, "avx2-row-dot", &names);
    e.set(GgmlType::Q6_K, "avx512-pairs", &names);
    e.set(GgmlType::Q4_K, "avx2-row-dot", &names);
    let text = e.text();
    let back = Entries::parse(&text, key);
    assert_eq!(back, e);
    assert_eq!(back.choice(GgmlType::Q4_K, &names), Some(1));
    assert_eq!(back.choice(GgmlType::Q6_K, &names), Some(0));
    assert_eq!(back.choice(GgmlType::Q8_0, &names), None);
    // Another candidate set (a kernel added): timed again.
    let more = ["avx512-pairs", "avx2-row-dot", "avx512-new"];
    assert_eq!(back.choice(GgmlType::Q4_K, &more), None);
    // Another CPU, another version, garbage: nothing.
    assert_eq!(
        Entries::parse(&text, "other cpu").choice(GgmlType::Q4_K, &names),
        None
    );
    let old = text.replacen("v1", "v0", 1);
    assert_eq!(
        Entries::parse(&old, key).choice(GgmlType::Q4_K, &names),
        None
    );
    for junk in [
        "",
        "\0\u{1}\n\n",
        "wasm-chord decode kernels v1",
        "\u{feff}x y z",
    ] {
        assert_eq!(Entries::parse(junk, key), Entries::parse("", key));
    }
    // Broken lines are dropped, the others kept.
    let mixed = format!(
        "{text}Q9_X matvec a a,b\nQ8_0 matvec zz a,b\nQ5_0 other a a,b\nQ4_0 matvec a\n\
         Q4_0 matvec a a,b extra\nQ5_0 matvec b a,b\n"
    );
    let m = Entries::parse(&mixed, key);
    assert_eq!(m.choice(GgmlType::Q4_K, &names), Some(1));
    assert_eq!(m.choice(GgmlType::Q8_0, &["a", "b"]), None);
    assert_eq!(m.choice(GgmlType::Q4_0, &["a", "b"]), None);
    assert_eq!(m.choice(GgmlType::Q5_0, &["a", "b"]), Some(1));
}

#[test]
#[cfg(not(target_arch = "wasm32"))] // the WASI test runner has no writable directory
fn cache_files_are_written_and_read_and_failures_are_silent() {
    let dir = std::env::temp_dir().join(format!("wasm-chord-tune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let p = dir.join("sub").join("kernels.txt");
    assert_eq!(cache::read(&p), Entries::parse("", &cache::cpu_key()));
    let mut e = cache::read(&p);
    e.set(GgmlType::Q4_K, "b", &["a", "b"]);
    cache::write(&p, &e);
    assert_eq!(cache::read(&p).choice(GgmlType::Q4_K, &["a", "b"]), Some(1));
    // Binary junk, a directory in the file's place, an unwritable place.
    std::fs::write(&p, [0xffu8, 0xfe, 0, 1, 2]).unwrap();
    assert_eq!(cache::read(&p).choice(GgmlType::Q4_K, &["a", "b"]), None);
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir_all(&p).unwrap();
    assert_eq!(cache::read(&p).choice(GgmlType::Q4_K, &["a", "b"]), None);
    cache::write(&p, &e);
    cache::write(&p.join("\0bad"), &e);
    let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpu_key_is_one_printable_line() {
    let k = cache::cpu_key();
    assert!(!k.is_empty());
    assert!(!k.contains(['\n', '\r', '\0']), "{k:?}");
    assert_eq!(k, cache::cpu_key());
    let p = cache::path(&k);
    if let Some(p) = p {
        assert!(p.to_string_lossy().contains("wasm-chord"));
    }
}

#[test]
fn forced_and_untuned_tables_report_their_own_kernels() {
    for k in tables_with_candidates() {
        let c = choices(k, true);
        let offered = GgmlType::ALL
            .into_iter()
            .filter(|&t| !candidates(k, t).is_empty());
        for ty in offered {
            let one = c.iter().find(|c| c.ty == ty).unwrap();
            assert_eq!(one.kernel, candidates(k, ty)[0].name, "{:?} {ty}", k.isa);
            assert_eq!(one.reason, Reason::Default("forced by WASM_CHORD_ISA"));
        }
    }
    if let Some(k) = table(crate::arch::Isa::Scalar) {
        assert!(choices(k, false).is_empty());
    }
}

#[test]
fn the_tuned_table_runs_the_chosen_kernel() {
    let k = crate::arch::select();
    if !is_tuned(k) {
        println!("skipped: select() is not tuned (forced, calibration off, or no candidates)");
        return;
    }
    let base = BASE.get().unwrap();
    assert_eq!(k.isa, base.isa);
    // Not prepared: the table's own kernel; no candidates: nothing to do.
    assert_eq!(
        k.rows(GgmlType::Q5_K).map(|f| f as usize),
        base.rows(GgmlType::Q5_K).map(|f| f as usize)
    );
    prepare(k, &[GgmlType::Q5_K, GgmlType::F32]);
    assert!(slot(GgmlType::Q5_K).unwrap().get().is_none());
    // A choice (made here by hand, as a Zen 4 calibration would, without
    // timing or the cache file) is what `rows` hands out; it gives the
    // same bits, so other tests of this process cannot tell.
    let ty = GgmlType::Q4_0;
    let row_dot = candidates(k, ty).iter().find(|c| c.rows.is_none()).unwrap();
    let _ = slot(ty).unwrap().set((*row_dot, Reason::Default("test")));
    let chosen = slot(ty).unwrap().get().unwrap().0;
    assert_eq!(
        k.rows(ty).map(|f| f as usize),
        chosen.rows.map(|f| f as usize)
    );
    let c = choices(k, false);
    let q4_0 = c.iter().find(|c| c.ty == ty).unwrap();
    assert_eq!(q4_0.kernel, chosen.name);
    // prepare leaves a decided type alone.
    prepare(k, &[ty]);
    assert_eq!(slot(ty).unwrap().get().unwrap().1, Reason::Default("test"));
}
