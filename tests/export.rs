//! `evonas export`: a killed campaign still exports; documents round-trip through `show` and
//! validate against `--schema`; DOT and PyTorch renderings match the IR; Pareto fronts.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{evonas, shared_data, tempdir, write};

fn long_campaign(table: &Path) -> String {
    format!(
        "name = \"long\"\nspace = \"nb201\"\nseed = 5\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 10\nsample = 3\n[budget]\nproposals = 100000000\n[evaluator]\nkind = \"nb201-table\"\npath = \"{}\"\n[cache]\npolicy = \"once\"\n",
        table.display()
    )
}

fn python() -> String {
    std::env::var("EVONAS_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn torch_available() -> bool {
    Command::new(python())
        .args(["-c", "import torch"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_killed_campaign_exports_and_its_documents_round_trip() {
    let Some(table) = shared_data("nb201/nb201_cifar10_valid_200ep.csv") else {
        return;
    };
    let table = table.parent().unwrap().to_path_buf();
    let dir = tempdir();
    let cfg = write(&dir, "long.toml", &long_campaign(&table));
    let store = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_evonas"))
        .args([
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it run until it has a best architecture on disk, then SIGKILL it.
    let best = store.join("best").join("long.json");
    let start = Instant::now();
    while !best.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(best.exists(), "no best.json was written");
    let best_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    assert_eq!(best_doc[0]["space"], "nb201");

    let s = store.to_str().unwrap();
    let out = evonas(&["export", "long", "--top", "5", "--store", s], None).ok();
    let docs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 5);
    let fitness: Vec<f64> = docs
        .iter()
        .map(|d| d["result"]["fitness"].as_f64().unwrap())
        .collect();
    assert!(fitness.windows(2).all(|w| w[0] >= w[1]), "{fitness:?}");
    for d in docs {
        let r = &d["result"];
        assert!(r["functional_hash"].as_str().unwrap().starts_with("f3:"));
        assert!(r["structural_hash"].as_str().unwrap().starts_with("s2:"));
        assert!(r["metrics"]["test_accuracy"].as_f64().is_some(), "{r}");
        assert!(r["params"].as_u64().unwrap() > 0);
        assert_eq!(r["protocol"]["kind"], "nb201-table");
        assert_eq!(r["provenance"]["campaign"], "long");
        assert_eq!(r["provenance"]["seed"], 5);
        // Killed while running: the stored state says so.
        assert_eq!(r["provenance"]["campaign_state"], "running");
    }
    // The best exported is at least as good as the best.json written before the kill.
    assert!(fitness[0] >= best_doc[0]["result"]["fitness"].as_f64().unwrap());

    // The schema validates the export (and rejects a broken one).
    let schema: serde_json::Value =
        serde_json::from_str(&evonas(&["export", "--schema"], None).ok()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let all = serde_json::Value::Array(docs.clone());
    let errors: Vec<String> = validator.iter_errors(&all).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let mut broken = all.clone();
    broken[0]["result"]["params"] = serde_json::json!("many");
    assert!(!validator.is_valid(&broken));

    // `show` reads the exported file back, with the same parameter counts.
    let file = write(&dir, "top5.json", &out);
    let shown = evonas(&["show", file.to_str().unwrap()], None).ok();
    for d in docs {
        assert!(shown.contains(d["genotype"].as_str().unwrap()), "{shown}");
        assert!(
            shown.contains(&format!("params:   {} ", d["result"]["params"])),
            "{shown}"
        );
    }
    // Hashing the exported documents gives their recorded functional hashes.
    let hashes = evonas(&["hash", file.to_str().unwrap()], None).ok();
    for (line, d) in hashes.lines().zip(docs) {
        assert!(line.starts_with(d["result"]["functional_hash"].as_str().unwrap()));
    }

    // DOT: one digraph per architecture, one node per IR node, one edge per operand.
    let dot = evonas(
        &[
            "export", "long", "--top", "2", "--format", "dot", "--store", s,
        ],
        None,
    )
    .ok();
    assert_eq!(dot.matches("digraph").count(), 2);
    let first = &docs[0]["network"]["nodes"];
    let nodes = first.as_array().unwrap().len();
    let edges: usize = first
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["inputs"].as_array().unwrap().len())
        .sum();
    let graph1 = dot.split("digraph").nth(1).unwrap();
    assert_eq!(graph1.matches(" -> ").count(), edges);
    assert_eq!(graph1.matches("[label=").count(), nodes);

    // PyTorch: the file compiles; with torch, each class has the IR's layers and parameters.
    let py = dir.path().join("archs.py");
    evonas(
        &[
            "export",
            "long",
            "--top",
            "3",
            "--format",
            "pytorch",
            "--out",
            py.to_str().unwrap(),
            "--store",
            s,
        ],
        None,
    )
    .ok();
    let text = std::fs::read_to_string(&py).unwrap();
    assert_eq!(text.matches("(EvonasNetwork):").count(), 3);
    let compiled = Command::new(python())
        .args(["-m", "py_compile", py.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(compiled.success());
    if torch_available() {
        let script = format!(
            "import sys, torch\nsys.path.insert(0, {:?})\nimport archs\nfor name, c in archs.ARCHITECTURES.items():\n    m = c()\n    n = sum(p.numel() for p in m.parameters())\n    convs = sum(isinstance(l, torch.nn.Conv2d) for l in m.modules())\n    y = m(torch.randn(2, 3, 32, 32))\n    print(name, n, c.PARAMS, convs, tuple(y.shape))\n",
            dir.path().display()
        );
        let out = Command::new(python())
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (line, d) in text.lines().zip(docs) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f[1], f[2], "torch parameters vs evonas: {line}");
            let ir_convs = d["network"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["op"]["kind"] == "conv")
                .count();
            assert_eq!(f[3], ir_convs.to_string(), "{line}");
            assert_eq!(f[4..].join(" "), "(2, 10)");
        }
    } else {
        eprintln!(
            "PyTorch not importable with {}: parameter counts not compared",
            python()
        );
    }

    // Pareto front: fitness falls and params fall strictly along it.
    let front = evonas(&["export", "long", "--pareto", "--store", s], None).ok();
    let front: Vec<serde_json::Value> = serde_json::from_str(&front).unwrap();
    assert!(!front.is_empty());
    for w in front.windows(2) {
        assert!(w[0]["result"]["fitness"].as_f64() >= w[1]["result"]["fitness"].as_f64());
        assert!(w[0]["result"]["params"].as_u64() > w[1]["result"]["params"].as_u64());
    }
    assert_eq!(front[0]["result"]["fitness"], docs[0]["result"]["fitness"]);

    // SVG goes through Graphviz: files when `dot` is installed, how to install it otherwise.
    let svg_dir = dir.path().join("svg");
    let args = [
        "export",
        "long",
        "--top",
        "2",
        "--format",
        "svg",
        "--out",
        svg_dir.to_str().unwrap(),
        "--store",
        s,
    ];
    if Command::new("dot")
        .arg("-V")
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        evonas(&args, None).ok();
        assert_eq!(
            std::fs::read_dir(&svg_dir)
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "svg"))
                .count(),
            2
        );
    } else {
        let err = evonas(&args, None).fails();
        assert!(err.contains("apt-get install graphviz"), "{err}");
    }

    let err = evonas(&["export", "nothere", "--store", s], None).fails();
    assert!(err.contains("known campaigns: long"), "{err}");
}

fn chromium() -> Option<String> {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Some(c.to_string());
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("chromium is missing, and CI=true requires it (.ci/run installs it)");
    }
    eprintln!("SKIPPED: chromium is not installed; the report page was not rendered");
    None
}

/// `evonas report` on a finished campaign (the data-free mock evaluator): the page is
/// self-contained, says the fidelity of its figures, and its plots render in a real headless
/// browser (screenshot kept in the test's output folder).
#[test]
fn the_report_is_self_contained_and_renders_in_headless_chromium() {
    let dir = tempdir();
    let tmp = dir.path();
    let cfg = write(
        &dir,
        "mock.toml",
        "name = \"long\"\nspace = \"nb201\"\nseed = 5\n[strategy]\nkind = \"regularized-evolution\"\npopulation = 10\nsample = 3\n[budget]\nevaluations = 60\n[evaluator]\nkind = \"mock\"\n",
    );
    let store = tmp.join("store");
    let s = store.to_str().unwrap();
    evonas(
        &[
            "search",
            "--config",
            cfg.to_str().unwrap(),
            "--store",
            s,
            "-q",
        ],
        None,
    )
    .ok();
    let out = tmp.join("report");
    evonas(
        &[
            "report",
            "long",
            "--store",
            s,
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    )
    .ok();
    let page = out.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<svg").count(), 4, "four plots");
    assert!(
        !html.contains(" src=") && !html.contains("<link"),
        "no external resources"
    );
    assert_eq!(html.matches("<tr><td>").count(), 10, "top-10 table");
    assert_eq!(html.matches("<td>full</td>").count(), 10, "fidelity column");
    assert!(html.contains("best fitness vs evaluations") && html.contains("cache hit rate"));
    let Some(browser) = chromium() else {
        return;
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tmp.join("chromium-profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let url = format!("file://{}", page.display());
    let status = Command::new(&browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1200,1400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    // A blank page compresses to a few kilobytes; four plots and a table do not.
    assert!(
        png.len() > 60_000,
        "screenshot is {} bytes: nothing rendered?",
        png.len()
    );
    // The DOM after rendering holds the plots' drawn elements.
    let dom = Command::new(&browser)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), 4);
    assert!(dom.matches("<polyline").count() >= 4, "plot lines rendered");
    assert!(
        dom.matches("<circle").count() >= 5,
        "scatter points rendered"
    );
    eprintln!("report screenshot: {}", shot.display());
}

/// The PyTorch export of a sampled architecture from every built-in space compiles and, with
/// PyTorch importable, has exactly `ir::cost`'s parameters and the IR's output shape.
#[test]
fn pytorch_export_covers_every_space() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut docs = Vec::new();
    for (name, _) in evonas::space::BUILTIN {
        let knobs = evonas::space::Knobs {
            channels: Some(if name.starts_with("fbnet") { 8 } else { 4 }),
            cells: Some(1),
        };
        let space = evonas::space::AnySpace::builtin(name)
            .unwrap()
            .with_knobs(&knobs);
        for _ in 0..2 {
            let g = space.sample(&mut rng);
            docs.push(evonas::space::ArchDocument::new(&space, knobs, &g).unwrap());
        }
    }
    let dir = tempdir();
    let py = dir.path().join("every_space.py");
    std::fs::write(&py, evonas::export::pytorch::render(&docs)).unwrap();
    let compiled = Command::new(python())
        .args(["-m", "py_compile", py.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(compiled.success());
    if !torch_available() {
        eprintln!(
            "PyTorch not importable with {}: parameter counts not compared",
            python()
        );
        return;
    }
    let script = format!(
        "import sys, torch\nsys.path.insert(0, {:?})\nimport every_space as m\nfor name, c in m.ARCHITECTURES.items():\n    net = c()\n    n = sum(p.numel() for p in net.parameters())\n    s = net.NODES[0][3]\n    y = net.eval()(torch.randn(1, *s))\n    print(n, c.PARAMS, y.shape[1])\n",
        dir.path().display()
    );
    let out = Command::new(python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), docs.len());
    for (line, d) in text.lines().zip(&docs) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f[0], f[1],
            "{}: torch parameters vs evonas: {line}",
            d.space
        );
        let classes = d.network.nodes.last().unwrap().shape.unwrap().channels;
        assert_eq!(f[2], classes.to_string(), "{}", d.space);
    }
}
