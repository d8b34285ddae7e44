//! `sample-county --out DIR [--seed S] [--scale N]`: writes the synthetic sample
//! county's files and `uploads.json` (the order, duty and period of each).

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let mut out = PathBuf::from("sample-county");
    let mut options = sample_county::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--out", Some(v)) => out = PathBuf::from(v),
            ("--seed", Some(v)) if v.parse::<u64>().is_ok() => {
                options.seed = v.parse().unwrap_or_default()
            }
            ("--scale", Some(v)) if v.parse::<u32>().is_ok() => {
                options.scale = v.parse().unwrap_or(1)
            }
            _ => {
                eprintln!("usage: sample-county --out DIR [--seed S] [--scale N]");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let county = sample_county::generate(options);
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return std::process::ExitCode::FAILURE;
    }
    let mut index = Vec::new();
    for upload in &county.uploads {
        if let Err(e) = std::fs::write(out.join(&upload.file_name), &upload.bytes) {
            eprintln!("error: cannot write {}: {e}", upload.file_name);
            return std::process::ExitCode::FAILURE;
        }
        index.push(serde_json::json!({"duty": upload.duty, "period": upload.period, "file": upload.file_name, "rows": upload.rows}));
    }
    let manifest = serde_json::json!({"note": "synthetic sample data (示例数据), not real", "seed": options.seed, "scale": options.scale, "uploads": index, "expected_rows": county.expected_rows});
    if let Err(e) = std::fs::write(
        out.join("uploads.json"),
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    ) {
        eprintln!("error: cannot write uploads.json: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "wrote {} files of the synthetic sample county to {}",
        county.uploads.len(),
        out.display()
    );
    std::process::ExitCode::SUCCESS
}
